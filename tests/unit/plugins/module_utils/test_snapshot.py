# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_snapshot's back end: the mark, XML, ordering and retention as pure
logic; the module (AnsibleModule, the runner, the back end) against libvirt's
test:///default driver, whose domains take snapshots as metadata.  What QEMU
does (memory, overlays, refusals) is covered by the integration target."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _snapshot, _snapshot_model
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._snapshot_model import (
    MARKER,
    Snapshot,
    expired,
    newest_first,
    split_description,
    stored_description,
    with_description,
)
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_snapshot
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

TEST_URI = "test:///default"


class ModuleFailed(Exception):
    def __init__(self, result):
        super().__init__(result["msg"])
        self.result = result


def run_module(args, check_mode=False):
    """kvm_snapshot's main() in this process, with --diff; its result, or ModuleFailed."""
    result = run_main(kvm_snapshot.main, dict(args, uri=TEST_URI), check_mode)
    if result.get("failed"):
        raise ModuleFailed(result)
    return result


@pytest.fixture
def domain():
    """A running domain of its own on test:///default (kept alive by this open connection), removed after."""
    connection = Connection(TEST_URI)
    name = "u{0}-snap".format(uuid.uuid4().hex[:8])
    dom = connection.conn.defineXML(
        "<domain type='test'><name>{0}</name><memory>65536</memory><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'><driver type='qcow2'/><source file='/guest/{0}.qcow2'/>"
        "<target dev='vda'/></disk></devices></domain>".format(name))
    dom.create()
    yield name, dom
    if dom.isActive():
        dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    connection.close()


def names(dom):
    return sorted(snap.getName() for snap in dom.listAllSnapshots(0))


# ------------------------------------------------------------------ pure logic

def test_the_mark_round_trips_and_marks_only_our_snapshots():
    assert stored_description("before upgrade") == "before upgrade\n" + MARKER
    assert stored_description(None) == MARKER
    assert split_description("before upgrade\n" + MARKER) == ("before upgrade", True)
    assert split_description(MARKER) == ("", True)
    assert split_description("made by hand") == ("made by hand", False)
    assert split_description(None) == ("", False)
    # The mark in the middle of someone's text is not the mark.
    assert split_description(MARKER + "\nmore") == (MARKER + "\nmore", False)


def test_a_new_description_keeps_the_mark_of_our_snapshots_only():
    ours = "<domainsnapshot><name>a</name><description>old\n{0}</description></domainsnapshot>".format(MARKER)
    assert "<description>new\n{0}</description>".format(MARKER) in with_description(ours, "new")
    theirs = "<domainsnapshot><name>a</name><description>old</description></domainsnapshot>"
    assert "<description>new</description>" in with_description(theirs, "new")
    bare = "<domainsnapshot><name>a</name><state>running</state></domainsnapshot>"
    assert "<description>new</description>" in with_description(bare, "new")
    assert "<description" not in with_description(theirs, "")


def test_snapshot_xml_escapes_the_description():
    xml = _snapshot_model.snapshot_xml("a", "<b> & 'c'")
    assert "<description>&lt;b&gt; &amp; 'c'\n{0}</description>".format(MARKER) in xml


def test_from_xml_reads_state_parent_kind_and_the_files_of_internal_disks():
    xml = """<domainsnapshot><name>s2</name><description>x
{0}</description><state>running</state><parent><name>s1</name></parent>
<creationTime>1796038695</creationTime><memory snapshot='internal'/>
<disks><disk name='vda' snapshot='internal'/><disk name='vdb' snapshot='no'/></disks>
<domain type='qemu'><name>d</name><devices>
<disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda'/></disk>
<disk type='file' device='disk'><source file='/b.raw'/><target dev='vdb'/></disk>
</devices></domain></domainsnapshot>""".format(MARKER)
    snap = Snapshot.from_xml(xml, current=True)
    assert (snap.name, snap.description, snap.managed, snap.state, snap.parent) == ("s2", "x", True, "running", "s1")
    assert (snap.creation_time, snap.current, snap.external, snap.memory) == (1796038695, True, False, True)
    assert snap.files == {"vda": "/a.qcow2"}
    result = snap.result("d")
    assert result["created"] == "2026-11-30T11:38:15Z"
    assert result["domain"] == "d"
    external = Snapshot.from_xml("<domainsnapshot><name>e</name><state>disk-snapshot</state><memory snapshot='no'/>"
                                 "<disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>")
    assert (external.external, external.memory, external.managed, external.parent) == (True, False, False, None)


def _snap(name, created, parent=None, managed=True):
    return Snapshot(name, managed=managed, creation_time=created, parent=parent)


def test_newest_first_breaks_ties_of_one_second_by_the_tree():
    # b and c were made in the same second; c hangs from b, so it is newer; a new one (no time yet) is newest.
    snaps = [_snap("c", 10, "b"), _snap("a", 5), _snap("b", 10, "a"), _snap("new", None, "c")]
    assert [s.name for s in newest_first(snaps)] == ["new", "c", "b", "a"]


def test_expired_counts_only_our_snapshots_oldest_first():
    snaps = [_snap("m1", 1), _snap("hand", 2, managed=False), _snap("m2", 3), _snap("m3", 4), _snap("m4", 5)]
    assert expired(snaps, 2) == ["m1", "m2"]
    assert expired(snaps, 4) == []
    assert expired([_snap("hand", 1, managed=False)], 1) == []


@pytest.mark.parametrize("devices, raw", [
    ("<disk device='disk'><driver type='raw'/><source file='/r.img'/><target dev='vdb'/></disk>", [("vdb", "/r.img", "raw")]),
    ("<disk device='disk'><driver type='qcow2'/><source file='/q'/><target dev='vda'/></disk>", []),
    ("<disk device='cdrom'><driver type='raw'/><source file='/x.iso'/><target dev='sda'/><readonly/></disk>", []),
    ("<disk device='disk' snapshot='no'><driver type='raw'/><source file='/r'/><target dev='vdb'/></disk>", []),
    ("<disk type='volume' device='disk'><driver type='raw'/><source pool='p' volume='v'/><target dev='vdc'/></disk>",
     [("vdc", "p/v", "raw")]),
])
def test_domain_finds_the_disks_internal_snapshots_refuse(devices, raw):
    info = _snapshot_model.DomainFacts("<domain><devices>{0}</devices></domain>".format(devices), 5)
    assert info.raw_disks == raw


def test_domain_finds_pflash_firmware_and_the_guest_agent():
    info = _snapshot_model.DomainFacts(
        "<domain><os><loader type='pflash' readonly='yes'>/code.fd</loader><nvram>/vars.fd</nvram></os><devices>"
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices></domain>", 1)
    assert (info.pflash, info.agent, info.active) == ("/vars.fd", True, True)
    plain = _snapshot_model.DomainFacts("<domain><os><loader>/rom.bin</loader></os><devices/></domain>", 5)
    assert (plain.pflash, plain.agent, plain.active) == (None, False, False)


# ------------------------------------------------------------------ the module on test:///default

def test_create_check_apply_check_apply(domain):
    name, dom = domain
    args = dict(domain=name, name="s1", description="first")
    check = run_module(args, check_mode=True)
    assert check["changed"] and names(dom) == []
    assert check["snapshot"]["creation_time"] is None
    assert check["snapshot"]["state"] == "running"
    assert check["diff"]["after"]["snapshot"]["description"] == "first"
    applied = run_module(args)
    assert applied["changed"] and names(dom) == ["s1"]
    assert applied["diff"] == check["diff"]
    assert applied["snapshot"]["managed"] is True
    assert isinstance(applied["snapshot"]["creation_time"], int)
    assert MARKER in dom.snapshotLookupByName("s1", 0).getXMLDesc(0)
    assert not run_module(args, check_mode=True)["changed"]
    again = run_module(args)
    assert not again["changed"] and again["actions"] == []


def test_description_is_updated_in_place_and_the_snapshot_stays_current(domain):
    name, dom = domain
    run_module(dict(domain=name, name="s1", description="old"))
    result = run_module(dict(domain=name, name="s1", description="new"))
    assert result["changed"]
    assert result["actions"] == ["update the description of snapshot s1 of {0}".format(name)]
    assert result["snapshot"]["description"] == "new" and result["snapshot"]["current"] is True
    snap = dom.snapshotLookupByName("s1", 0)
    assert "<description>new\n{0}</description>".format(MARKER) in snap.getXMLDesc(0)
    assert snap.isCurrent(0)
    assert not run_module(dict(domain=name, name="s1", description="new"))["changed"]


def test_revert_is_unchanged_once_the_domain_is_at_the_snapshot(domain):
    name, dom = domain
    run_module(dict(domain=name, snapshots=[dict(name="s1"), dict(name="s2")]))
    args = dict(domain=name, name="s1", state="current")
    check = run_module(args, check_mode=True)
    assert check["changed"] and dom.snapshotCurrent(0).getName() == "s2"
    assert check["diff"]["before"]["current"]["snapshot"] == "s2"
    assert run_module(args)["changed"]
    assert dom.snapshotCurrent(0).getName() == "s1"
    assert not run_module(args, check_mode=True)["changed"]
    assert not run_module(args)["changed"]
    dom.suspend()  # no longer as s1 left it
    assert run_module(args)["changed"]


def test_list_form_check_mode_predicts_later_items_from_earlier_ones(domain):
    name, dom = domain
    items = [dict(name="a"), dict(name="b"), dict(name="a", state="current"), dict(name="b", state="absent")]
    check = run_module(dict(domain=name, snapshots=items, keep=1), check_mode=True)
    assert [item["changed"] for item in check["snapshots"]] == [True, True, True, True]
    assert check["snapshots"][1]["snapshot"]["parent"] == "a"
    assert check["snapshots"][3]["expired"] == []
    assert names(dom) == []
    applied = run_module(dict(domain=name, snapshots=items, keep=1))
    assert [item["actions"] for item in applied["snapshots"]] == [item["actions"] for item in check["snapshots"]]
    assert names(dom) == ["a"]


@pytest.mark.parametrize("running", [True, False])
def test_check_mode_predicts_what_a_sequence_of_reverts_does(domain, running):
    # A revert after a creation, a revert to where the domain already is, another creation, a revert again.
    name, dom = domain
    if not running:
        dom.destroy()
    items = [dict(name="a"), dict(name="a", state="current"), dict(name="a", state="current"), dict(name="b"),
             dict(name="a", state="current")]
    check = run_module(dict(domain=name, snapshots=items), check_mode=True)
    applied = run_module(dict(domain=name, snapshots=items))
    assert [item["actions"] for item in check["snapshots"]] == [item["actions"] for item in applied["snapshots"]]
    # A running domain is "from snapshot" after a revert; a shut-off one reverted while shut off is not
    # (libvirt leaves its state reason), so it is reverted again.
    assert applied["snapshots"][2]["changed"] is not running
    assert applied["snapshots"][4]["changed"] is True


def test_keep_prunes_only_our_older_snapshots(domain):
    name, dom = domain
    dom.snapshotCreateXML("<domainsnapshot><name>hand</name></domainsnapshot>", 0)
    run_module(dict(domain=name, snapshots=[dict(name="k1"), dict(name="k2"), dict(name="k3")]))
    kept = run_module(dict(domain=name, keep=1))
    assert not kept["changed"] and kept["expired"] == ["k1", "k2"]
    assert names(dom) == ["hand", "k1", "k2", "k3"]
    check = run_module(dict(domain=name, name="k4", keep=2, prune=True), check_mode=True)
    assert check["expired"] == ["k1", "k2"]
    assert check["diff"]["after"]["managed_snapshots"] == ["k3", "k4"]
    pruned = run_module(dict(domain=name, name="k4", keep=2, prune=True))
    assert pruned["actions"] == check["actions"]
    assert names(dom) == ["hand", "k3", "k4"]
    assert not run_module(dict(domain=name, name="k4", keep=2, prune=True))["changed"]


class _Applying:
    """What the back end reads of its module in a real run."""

    params = {}
    check_mode = False


@pytest.mark.parametrize("state", ["absent", "current"])
def test_a_snapshot_gone_between_plan_and_apply_is_a_concurrent_change(domain, state):
    # The runner plans again on ConcurrentChangeError (and then finds nothing to do, or fails naming the field).
    name, dom = domain
    run_module(dict(domain=name, snapshots=[dict(name="a"), dict(name="b")]))
    connection = Connection(TEST_URI)
    backend = _snapshot.SnapshotBackend(_Applying(), connection)
    spec = backend.specs(dict(domain=name, name="a", state=state))[0]
    plan = backend.plan(spec)
    dom.snapshotLookupByName("a", 0).delete(0)
    with pytest.raises(ConcurrentChangeError):
        plan.actions[0][1]()
    connection.close()


@pytest.mark.parametrize("args, message", [
    (dict(domain="nothere-snap", name="x"), "domain: domain nothere-snap does not exist"),
    (dict(name="nothere", state="current"), "name: domain {domain} has no snapshot nothere to revert to"),
    (dict(name="a/b"), "name: must not contain '/'"),
    (dict(name="."), "name: '.' is not a valid name"),
    (dict(name="x", description="a\nb"), "description: 'a\\nb' must not contain control characters"),
    (dict(name="x", description=MARKER), "description: must not contain"),
    (dict(name="x", quiesce=True), "quiesce: needs disk_only: true"),
    (dict(name="x", disk_only=True, quiesce=True), "quiesce: domain {domain} has no guest agent channel"),
    (dict(name="x", disk_only=True, include_memory=True), "include_memory: a disk_only snapshot holds no memory"),
    (dict(name="x", include_memory=False), "include_memory: an internal snapshot of running domain {domain}"),
    (dict(name="x", prune=True), "prune: needs keep"),
    (dict(name="x", keep=0), "keep: must be 1 or more"),
    (dict(snapshots=[dict(name="ok"), dict(name="y", state="current")]), "snapshots[1].name: domain {domain} has no"),
    (dict(snapshots=[dict(name="ok"), dict(name="y", domain="nothere-snap")]), "snapshots[1].domain: domain nothere"),
])
def test_bad_input_fails_naming_the_field_and_changes_nothing(domain, args, message):
    name, dom = domain
    with pytest.raises(ModuleFailed) as failed:
        run_module(dict(dict(domain=name), **args))
    assert str(failed.value).startswith(message.format(domain=name))
    assert failed.value.result["changed"] is False
    assert names(dom) == []


def test_absent_of_a_domain_that_does_not_exist_is_unchanged():
    result = run_module(dict(domain="nothere-snap", name="x", state="absent"))
    assert not result["changed"] and result["snapshot"] == {}
