# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain clone_from {pool, volume} and a clone's new cloud-init instance, against libvirt's test:///default
driver (the {domain} form: test_domain.py)."""

from __future__ import annotations

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _cloudinit, _domain_clone
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import ITEM_KEYS
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

URI = "test:///default"
POOL = "default-pool"


def params(**kw):
    result = dict((key, None) for key in ITEM_KEYS)
    result.update(domains=None, uri=URI)
    result.update(kw)
    return result


def _volume_clone(prefix, volume, **kw):
    p = params(name=prefix + "c1", clone_from=dict(pool=POOL, volume=volume), state="present", vcpus=1, memory="64",
               virt_type="qemu", interfaces=[dict(network="default")])
    p.update(kw)
    return p


def _definitions(connection, prefix):
    return dict((dom.name(), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) for dom in connection.conn.listAllDomains()
                if dom.name().startswith(prefix))


def _volumes(connection, prefix):
    return sorted(name for name in connection.conn.storagePoolLookupByName(POOL).listVolumes() if name.startswith(prefix))


def test_linked_clone_of_a_volume_four_steps(lab, reconcile):
    connection, prefix, volume = lab
    p = _volume_clone(prefix, volume, disks=[dict(pool=POOL, volume=volume, target="vdb")])
    first = reconcile(p, check_mode=True)
    assert _definitions(connection, prefix) == {} and _volumes(connection, prefix) == [volume]
    applied = reconcile(p)
    again = reconcile(p, check_mode=True)
    last = reconcile(p)
    assert first["changed"] and applied["changed"] and not again["changed"] and not last["changed"]
    assert first["actions"] == applied["actions"] == [
        "linked clone of {0} as {1}c1-vda.qcow2".format(volume, prefix),
        "define (clone of {0}/{1})".format(POOL, volume)]
    clone = parse(connection.conn.lookupByName(prefix + "c1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    disks = clone.findall("devices/disk")
    # The clone's own volume first (vda), then the disks given.
    assert [d.find("source").get("volume") for d in disks] == [prefix + "c1-vda.qcow2", volume]
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]
    assert disks[0].find("driver").get("type") == "qcow2"
    pool = connection.conn.storagePoolLookupByName(POOL)
    overlay = parse(pool.storageVolLookupByName(prefix + "c1-vda.qcow2").XMLDesc(0))
    assert overlay.findtext("backingStore/path") == "/{0}/{1}".format(POOL, volume)
    assert _domain_clone.recorded_source(clone) == {"pool": POOL, "volume": volume}


def test_full_copy_of_a_volume(lab, reconcile):
    connection, prefix, volume = lab
    applied = reconcile(_volume_clone(prefix, volume, linked=False))
    assert applied["actions"][0] == "copy {0} as {1}c1-vda.qcow2".format(volume, prefix)
    pool = connection.conn.storagePoolLookupByName(POOL)
    assert parse(pool.storageVolLookupByName(prefix + "c1-vda.qcow2").XMLDesc(0)).find("backingStore/path") is None
    assert not reconcile(_volume_clone(prefix, volume, linked=False))["changed"]


def test_another_source_for_an_existing_clone_changes_nothing(lab, reconcile):
    connection, prefix, volume = lab
    pool = connection.conn.storagePoolLookupByName(POOL)
    pool.createXML("<volume><name>{0}other.qcow2</name><capacity unit='M'>16</capacity>"
                   "<target><format type='qcow2'/></target></volume>".format(prefix), 0)
    reconcile(params(name=prefix + "g1", virt_type="qemu", vcpus=1, memory="64", state="present",
                     disks=[dict(pool=POOL, volume=prefix + "other.qcow2")]))
    reconcile(_volume_clone(prefix, volume))
    reconcile(params(name=prefix + "c2", clone_from=dict(domain=prefix + "g1"), state="present"))
    before = (_definitions(connection, prefix), _volumes(connection, prefix))
    cases = [
        # volume form onto a clone of another volume, and onto a clone of a domain
        (_volume_clone(prefix, prefix + "other.qcow2"), "clone_from", "a clone of volume {0!r} of pool".format(volume)),
        (_volume_clone(prefix, volume, name=prefix + "c2"), "clone_from", "a clone of {0!r}".format(prefix + "g1")),
        # domain form onto a clone of a volume, and onto a domain that is not a clone
        (params(name=prefix + "c1", clone_from=dict(domain=prefix + "g1"), state="present"), "clone_from.domain",
         "a clone of volume"),
        (_volume_clone(prefix, volume, name=prefix + "g1"), "clone_from", "not a clone"),
    ]
    for p, field, message in cases:
        for check_mode in (True, False):
            with pytest.raises(reconcile.Failed) as err:
                reconcile(p, check_mode=check_mode)
            assert err.value.field == field and message in str(err.value), (p["name"], str(err.value))
    assert (_definitions(connection, prefix), _volumes(connection, prefix)) == before


def test_bad_clone_from_fails_naming_the_field(lab, reconcile):
    connection, prefix, volume = lab
    cases = [
        (dict(pool=POOL), "clone_from", "either the key domain"),
        (dict(domain=prefix + "g1", pool=POOL, volume=volume), "clone_from", "either the key domain"),
        (dict(pool=POOL, volume=prefix + "none.qcow2"), "clone_from.volume", "does not exist"),
        (dict(pool=prefix + "nopool", volume=volume), "clone_from.pool", "does not exist"),
        (dict(pool=POOL, volume="a/b"), "clone_from.volume", ""),
    ]
    for clone_from, field, message in cases:
        with pytest.raises(reconcile.Failed) as err:
            reconcile(_volume_clone(prefix, volume, clone_from=clone_from), check_mode=False)
        assert err.value.field == field and message in str(err.value), (clone_from, str(err.value))
    with pytest.raises(reconcile.Failed) as err:
        reconcile(_volume_clone(prefix, volume, memory=None))
    assert err.value.field == "memory"
    assert _definitions(connection, prefix) == {} and _volumes(connection, prefix) == [volume]


def test_a_clone_seed_is_a_new_instance_with_a_new_machine_id():
    seed = _cloudinit.validate({"user_data": {"hostname": "c1"}}, "c1")
    spec = {"_seed": seed}
    files, digest = dict(seed.files), seed.digest
    _domain_clone.new_instance(spec)
    assert set(seed.files) == set(files) | {"vendor-data"}
    assert seed.files["meta-data"] == files["meta-data"] and b"instance-id" in files["meta-data"]
    vendor = seed.files["vendor-data"].decode()
    assert vendor.startswith("#cloud-config\n") and "cloud-init-per, instance" in vendor
    assert "systemd-machine-id-setup" in vendor and seed.digest != digest
    # Once: the same files on a re-run (an existing clone), so its seed is not rebuilt.
    again = _cloudinit.validate({"user_data": {"hostname": "c1"}}, "c1")
    _domain_clone.new_instance({"_seed": again})
    _domain_clone.new_instance({"_seed": again})
    assert again.files == seed.files and again.digest == seed.digest
    # The vendor-data survives the ISO: cloud-init reads it by its Rock Ridge / Joliet name.
    _label, inside = _cloudinit.read_iso(_cloudinit.build_iso(seed.files))
    assert inside == seed.files
    _domain_clone.new_instance({"_seed": None})
