# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets given inside kvm_domain's `xml` options, found before anything can
echo them: main() adds them to the module's no_log values, so Ansible masks
them wherever it prints the module's arguments or result (the invocation of
a failed task at -vvv, AWX's job events, syslog on the managed host).

Found twice, so that XML that does not parse (the case that fails, and is
printed) leaks nothing: by parsing, every `passwd`/`password` attribute
value and the text of every <secret>-like element; and by pattern on the raw
text, the same attributes quoted, unquoted or unterminated, and the same
elements' text up to the next tag or the end."""

from __future__ import annotations

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse

# Attribute and element names (local names, any case) that hold secrets.
SECRET_ATTRIBUTES = ("passwd", "password")
SECRET_ELEMENTS = ("secret", "passwd", "password", "passphrase")

_NAMES = "|".join(SECRET_ATTRIBUTES)
# passwd='x' / passwd="x" / passwd=x, also with the closing quote missing.
_ATTRIBUTE = re.compile(
    r"""(?:^|[\s<])(?:[\w.-]+:)?(?:{0})\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s"'>/]+))""".format(_NAMES),
    re.IGNORECASE)
# <secret ...>text (up to the next tag or the end), also CDATA.
_ELEMENT = re.compile(
    r"""<\s*(?:[\w.-]+:)?(?:{0})\b[^>]*(?<!/)>(?:<!\[CDATA\[(.*?)(?:\]\]>|$)|([^<]*))""".format("|".join(SECRET_ELEMENTS)),
    re.IGNORECASE | re.DOTALL)


def _local(name):
    return name.rpartition("}")[2].rpartition(":")[2].lower() if isinstance(name, str) else ""


def secrets_in_tree(root):
    """Secret attribute values and element texts of a parsed element."""
    found = set()
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for key, value in node.attrib.items():
            if _local(key) in SECRET_ATTRIBUTES and value:
                found.add(value)
        if _local(node.tag) in SECRET_ELEMENTS and (node.text or "").strip():
            found.add(node.text)
            found.add(node.text.strip())
    return found


def secrets_in_text(text):
    """The same, by pattern, in text that may not parse at all."""
    found = set()
    for match in _ATTRIBUTE.finditer(text):
        value = next((group for group in match.groups() if group is not None), "")
        if value:
            found.add(value)
    for match in _ELEMENT.finditer(text):
        value = match.group(1) if match.group(1) is not None else match.group(2)
        if value and value.strip():
            found.add(value)
            found.add(value.strip())
    return found


def secrets_in(text):
    """Every secret in one `xml` value, whether it parses or not."""
    found = secrets_in_text(text)
    if etree is None:
        return found  # without lxml the runner fails anyway (missing library)
    try:
        found |= secrets_in_tree(parse(text))
    except (etree.XMLSyntaxError, ValueError):
        pass  # validation reports it, naming the field; the pattern found what it holds
    return found


def secret_values(params):
    """Secrets in the `xml` options and in cloud_init's user_data (top level
    and `domains` items)."""
    found = set()
    items = [params] + [item for item in params.get("domains") or [] if isinstance(item, dict)]
    for item in items:
        text = item.get("xml")
        if isinstance(text, str) and text:
            found |= secrets_in(text)
        cloud_init = item.get("cloud_init")
        if isinstance(cloud_init, dict) and isinstance(cloud_init.get("user_data"), (dict, str)):
            from ansible_collections.kvmops.hypervisor.plugins.module_utils._cloudinit import secrets  # pylint: disable=import-outside-toplevel

            try:
                found |= set(value for value in secrets(cloud_init["user_data"]) if value)
            except (TypeError, ValueError):
                pass  # validation reports what is wrong with it, naming the field
    return found
