# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own element in a domain's libvirt <metadata>.

kvm_domain writes guest tags there; the guests inventory plugin reads them.

    NAMESPACE = "https://kvmops.github.io/xmlns/hypervisor/guest/1.0"
    PREFIX = "kvmops"
    tags_xml(tags) -> "<guest><tags><tag>web</tag>...</tags></guest>"  (the string for
        virDomain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, PREFIX, NAMESPACE, flags))
    parse_tags(xml) -> [str]  from that element (as virDomain.metadata(ELEMENT, NAMESPACE) returns it:
        without namespace) or from a whole domain XML document; [] when absent
    validate_tags(value, field="tags") -> list of str, or ValidationError

In the domain XML it reads:
    <metadata><kvmops:guest xmlns:kvmops="https://kvmops.github.io/xmlns/hypervisor/guest/1.0">
      <kvmops:tags><kvmops:tag>web</kvmops:tag></kvmops:tags></kvmops:guest></metadata>
"""

from __future__ import annotations

from xml.etree import ElementTree

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

NAMESPACE = "https://kvmops.github.io/xmlns/hypervisor/guest/1.0"
PREFIX = "kvmops"


def validate_tags(value, field="tags"):
    """A list of distinct, non-blank one-line strings (order kept)."""
    if not isinstance(value, (list, tuple)):
        raise ValidationError(field, "must be a list of strings, got {0}".format(type(value).__name__))
    tags = []
    for index, tag in enumerate(value):
        where = "{0}[{1}]".format(field, index)
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError(where, "must be a non-blank string, got {0!r}".format(tag))
        _validate.text(where, tag)
        if tag != tag.strip():
            raise ValidationError(where, "must not begin or end with white space, got {0!r}".format(tag))
        if tag not in tags:
            tags.append(tag)
    return tags


def tags_xml(tags):
    """The metadata element (without namespace: libvirt adds PREFIX and NAMESPACE)."""
    guest = ElementTree.Element("guest")
    holder = ElementTree.SubElement(guest, "tags")
    for tag in tags:
        ElementTree.SubElement(holder, "tag").text = tag
    return ElementTree.tostring(guest, encoding="unicode")


def parse_tags(xml):
    """The tags in a metadata element or a whole domain XML document; [] when none."""
    if not xml:
        return []
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return []
    qname = "{%s}guest" % NAMESPACE
    if root.tag == "guest":
        # virDomain.metadata() returns the element without its namespace.
        return [tag.text or "" for tag in root.findall("tags/tag")]
    guest = root if root.tag == qname else root.find("./metadata/" + qname)
    if guest is None:
        return []
    return [tag.text or "" for tag in guest.findall("{%s}tags/{%s}tag" % (NAMESPACE, NAMESPACE))]
