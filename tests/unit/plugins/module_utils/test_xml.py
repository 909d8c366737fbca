# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Subset comparison and merge of libvirt XML (the shared _xml.py)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import merge_into, parse, subset_differences, to_string

# A pool as libvirt returns it with VIR_STORAGE_XML_INACTIVE.
ACTUAL_POOL = """
<pool type='dir'>
  <name>iso</name>
  <uuid>e297d1e2-30bb-4c8b-985e-9a61687d45b9</uuid>
  <capacity unit='bytes'>0</capacity>
  <allocation unit='bytes'>0</allocation>
  <available unit='bytes'>0</available>
  <source>
  </source>
  <target>
    <path>/data_kvm/iso</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
"""

DOMAIN = """
<domain type='kvm'>
  <name>vm</name>
  <devices>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>
    <!-- a comment -->
  </devices>
</domain>
"""


def test_what_libvirt_fills_in_is_not_a_difference():
    desired = parse("<pool type='dir'><name>iso</name><target><path>/data_kvm/iso</path></target></pool>")
    assert subset_differences(desired, parse(ACTUAL_POOL)) == []


def test_whitespace_and_quoting_do_not_matter():
    desired = parse('<pool type="dir">\n  <name> iso </name>\n  <target><permissions><mode>0755</mode></permissions></target>\n</pool>')
    assert subset_differences(desired, parse(ACTUAL_POOL)) == []


def test_a_changed_text_is_reported_with_its_path():
    desired = parse("<pool type='dir'><target><path>/data_kvm/other</path></target></pool>")
    assert subset_differences(desired, parse(ACTUAL_POOL)) == [("pool/target/path", "/data_kvm/other", "/data_kvm/iso")]


def test_a_changed_attribute_is_reported_with_its_path():
    desired = parse("<pool type='logical'><capacity unit='KiB'/></pool>")
    assert subset_differences(desired, parse(ACTUAL_POOL)) == [
        ("pool/@type", "logical", "dir"),
        ("pool/capacity/@unit", "KiB", "bytes"),
    ]


def test_a_missing_element_is_reported_whole():
    desired = parse("<pool type='dir'><source><host name='nfs1'/></source></pool>")
    [(path, want, have)] = subset_differences(desired, parse(ACTUAL_POOL))
    assert path == "pool/source/host"
    assert have is None
    assert parse(want).get("name") == "nfs1"


def test_missing_actual_reports_the_whole_desired():
    desired = parse("<pool type='dir'><name>x</name></pool>")
    [(path, want, have)] = subset_differences(desired, None)
    assert (path, have) == ("pool", None)
    assert "<name>x</name>" in want


def test_siblings_of_one_tag_match_in_order():
    desired = parse("<domain><devices><interface><source network='default'/></interface>"
                    "<interface><source bridge='br1'/></interface></devices></domain>")
    assert subset_differences(desired, parse(DOMAIN)) == [
        ("domain/devices/interface[2]/source/@bridge", "br1", "br0"),
    ]


def test_an_extra_sibling_is_missing():
    desired = parse("<domain><devices><interface/><interface/><interface type='direct'/></devices></domain>")
    assert subset_differences(desired, parse(DOMAIN)) == [
        ("domain/devices/interface[3]", '<interface type="direct"/>', None),
    ]


def test_comments_in_desired_are_ignored():
    desired = parse("<domain><!-- note --><name>vm</name></domain>")
    assert subset_differences(desired, parse(DOMAIN)) == []


def test_empty_desired_text_matches_any_text():
    desired = parse("<pool><name/><target><path></path></target></pool>")
    assert subset_differences(desired, parse(ACTUAL_POOL)) == []


def test_merge_writes_desired_over_actual_and_keeps_the_rest():
    desired = parse("<pool type='dir'><target><path>/data_kvm/new</path></target></pool>")
    merged = merge_into(desired, parse(ACTUAL_POOL))
    assert merged.findtext("target/path") == "/data_kvm/new"
    assert merged.findtext("uuid") == "e297d1e2-30bb-4c8b-985e-9a61687d45b9"
    assert merged.findtext("target/permissions/mode") == "0755"
    assert subset_differences(desired, merged) == []


def test_merge_does_not_modify_actual():
    actual = parse(ACTUAL_POOL)
    before = to_string(actual)
    merge_into(parse("<pool><name>other</name></pool>"), actual)
    assert to_string(actual) == before


def test_merge_appends_missing_children_and_keeps_assigned_values():
    desired = parse("<domain><devices><interface><model type='virtio'/></interface><interface/>"
                    "<interface type='network'><source network='isolated'/></interface></devices></domain>")
    merged = merge_into(desired, parse(DOMAIN))
    interfaces = merged.findall("devices/interface")
    assert len(interfaces) == 3
    assert interfaces[0].find("mac").get("address") == "52:54:00:00:00:01"
    assert interfaces[0].find("model").get("type") == "virtio"
    assert interfaces[1].find("mac").get("address") == "52:54:00:00:00:02"
    assert interfaces[2].find("source").get("network") == "isolated"
    assert subset_differences(desired, merged) == []


def test_merge_sets_attributes():
    merged = merge_into(parse("<pool type='netfs'/>"), parse(ACTUAL_POOL))
    assert merged.get("type") == "netfs"


@pytest.mark.parametrize("text", [ACTUAL_POOL, ACTUAL_POOL.encode("utf-8"), "<?xml version='1.0' encoding='UTF-8'?>" + ACTUAL_POOL.strip()])
def test_parse_takes_str_and_bytes(text):
    assert parse(text).findtext("name") == "iso"


def test_to_string_round_trips():
    root = parse(ACTUAL_POOL)
    assert subset_differences(root, parse(to_string(root))) == []
    assert subset_differences(parse(to_string(root)), root) == []


def test_non_ascii_text_survives():
    root = parse("<domain><description>Ünïcode ✓</description></domain>")
    assert parse(to_string(root)).findtext("description") == "Ünïcode ✓"
