# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guest tags in the collection's <metadata> element, written and read back
through libvirt's test:///default driver."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _metadata
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError


def test_tags_through_libvirt():
    conn = libvirt.open("test:///default")
    name = "u{0}-tags".format(uuid.uuid4().hex[:8])
    dom = conn.defineXML("<domain type='test'><name>{0}</name><memory>65536</memory>"
                         "<os><type>hvm</type></os></domain>".format(name))
    try:
        assert _metadata.parse_tags(dom.XMLDesc(0)) == []
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _metadata.tags_xml(["web", "prod <eu>"]),
                        _metadata.PREFIX, _metadata.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        element = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _metadata.NAMESPACE,
                               libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        assert _metadata.parse_tags(element) == ["web", "prod <eu>"]
        assert _metadata.parse_tags(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == ["web", "prod <eu>"]
    finally:
        dom.undefine()
        conn.close()


def test_parse_tags_of_other_metadata():
    assert _metadata.parse_tags("<domain><metadata><x:y xmlns:x='urn:x'/></metadata></domain>") == []
    assert _metadata.parse_tags("not xml") == []
    assert _metadata.parse_tags(None) == []


def test_validate_tags():
    assert _metadata.validate_tags(["a", "b", "a"]) == ["a", "b"]
    for bad, field in (("web", "tags"), ([""], "tags[0]"), (["a", 1], "tags[1]"), ([" a"], "tags[0]"),
                       (["a\nb"], "tags[0]")):
        with pytest.raises(ValidationError) as err:
            _metadata.validate_tags(bad)
        assert err.value.field == field
