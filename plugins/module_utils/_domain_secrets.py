# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets given inside kvm_domain's `xml` options, found before anything can
echo them: main() adds them to the module's no_log values, so Ansible masks
them in the invocation it returns (also of a failed task, seen at -vvv and
stored by AWX)."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import secrets_in
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse


def secret_values(params):
    """Console passwords in the `xml` options (top level and `domains` items).
    XML that does not parse has none (validation reports it)."""
    found = set()
    texts = [params.get("xml")] + [item.get("xml") for item in params.get("domains") or [] if item]
    for text in texts:
        if not text:
            continue
        try:
            found |= secrets_in(parse(text))
        except (etree.XMLSyntaxError, ValueError):
            continue  # validate() reports it, naming the field
    return found
