# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain (main(), the runner and its back end) against libvirt's built-in test:///default driver."""

from __future__ import annotations


import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain import undefine_flags
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import ITEM_KEYS, item_specs
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

URI = "test:///default"
POOL = "default-pool"


def params(**kw):
    result = dict((key, None) for key in ITEM_KEYS)
    result.update(domains=None, uri=URI)
    result.update(kw)
    return result


def guest(prefix, volume, **kw):
    spec = dict(name=prefix + "g1", virt_type="qemu", vcpus=1, memory="64", disks=[dict(pool=POOL, volume=volume)],
                interfaces=[dict(network="default")], boot=["hd"])
    spec.update(kw)
    return spec


def four_steps(reconcile, p):
    """check -> changed; apply -> changed; check -> unchanged; apply -> unchanged."""
    first = reconcile(p, check_mode=True)
    applied = reconcile(p, check_mode=False)
    again = reconcile(p, check_mode=True)
    last = reconcile(p, check_mode=False)
    assert first["changed"] and applied["changed"]
    assert not again["changed"] and not last["changed"]
    assert first["diff"] == applied["diff"]
    return first, applied, last


def test_define_and_start_four_steps(lab, reconcile):
    connection, prefix, volume = lab
    first, applied, last = four_steps(reconcile, params(**guest(prefix, volume)))
    assert first["domain"]["state"] == "running" and first["domain"]["uuid"] is None
    dom = connection.conn.lookupByName(prefix + "g1")
    assert dom.isActive()
    xml = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert xml.find("devices/disk/driver").get("type") == "qcow2"  # format taken from the volume
    assert xml.find("devices/disk/source").get("volume") == volume
    mac = xml.find("devices/interface/mac").get("address")
    assert last["domain"]["interfaces"][0]["mac"] == mac
    assert last["domain"]["uuid"] == dom.UUIDString()
    assert last["domain"]["memory_mib"] == 64


def test_update_while_running_needs_restart_and_keeps_mac(lab, reconcile):
    connection, prefix, volume = lab
    reconcile(params(**guest(prefix, volume)), check_mode=False)
    dom = connection.conn.lookupByName(prefix + "g1")
    mac = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find("devices/interface/mac").get("address")
    first, applied, last = four_steps(reconcile, params(**guest(prefix, volume, memory="96", vcpus=2)))
    assert first["restart_required"] and applied["restart_required"] and not last["restart_required"]
    assert applied["diff"]["after"]["domain/vcpu"] == "2"
    inactive = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    live = parse(dom.XMLDesc(0))
    assert inactive.findtext("vcpu") == "2" and live.findtext("vcpu") == "1"
    assert inactive.find("devices/interface/mac").get("address") == mac


def test_lifecycle_shutdown_destroyed_paused(lab, reconcile):
    connection, prefix, volume = lab
    reconcile(params(**guest(prefix, volume)), check_mode=False)
    dom = connection.conn.lookupByName(prefix + "g1")
    first, _applied, _last = four_steps(reconcile, params(name=prefix + "g1", state="paused"))
    assert (first["diff"]["before"], first["diff"]["after"]) == ({"state": "running"}, {"state": "paused"})
    assert first["actions"] == ["suspend"]
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    four_steps(reconcile, params(name=prefix + "g1", state="shutdown", shutdown_timeout=5))
    assert not dom.isActive()
    four_steps(reconcile, params(name=prefix + "g1", state="running"))
    four_steps(reconcile, params(name=prefix + "g1", state="destroyed"))
    assert not dom.isActive()


def test_autostart(lab, reconcile):
    connection, prefix, volume = lab
    reconcile(params(**guest(prefix, volume, state="present")), check_mode=False)
    first, _a, last = four_steps(reconcile, params(name=prefix + "g1", state="present", autostart=True))
    assert first["diff"]["after"] == {"autostart": True}
    assert connection.conn.lookupByName(prefix + "g1").autostart() == 1
    assert last["domain"]["autostart"] is True


def test_absent_keeps_storage_unless_asked(lab, reconcile):
    connection, prefix, volume = lab
    pool = connection.conn.storagePoolLookupByName(POOL)
    reconcile(params(**guest(prefix, volume)), check_mode=False)
    four_steps(reconcile, params(name=prefix + "g1", state="absent"))
    assert volume in pool.listVolumes()
    reconcile(params(**guest(prefix, volume)), check_mode=False)
    first, _a, _l = four_steps(reconcile, params(name=prefix + "g1", state="absent", remove_storage=True))
    assert first["diff"]["after"]["storage[/default-pool/{0}]".format(volume)] == "absent"
    assert volume not in pool.listVolumes()
    with pytest.raises(libvirt.libvirtError):
        connection.conn.lookupByName(prefix + "g1")


def test_domains_form_defaults_and_per_item_results(lab, reconcile):
    connection, prefix, volume = lab
    top = dict(virt_type="qemu", memory="64", interfaces=[dict(network="default")], state="present")
    items = [dict(name=prefix + "a"), dict(name=prefix + "b", vcpus=2), dict(name=prefix + "c", state="running"),
             dict(name=prefix + "d", disks=[dict(pool=POOL, volume=volume)])]
    first, _applied, last = four_steps(reconcile, params(domains=items, **top))
    assert [r["name"] for r in first["domains"]] == [i["name"] for i in items]
    assert all(r["changed"] for r in first["domains"]) and not any(r["changed"] for r in last["domains"])
    assert [r["domain"]["vcpus"] for r in last["domains"]] == [1, 2, 1, 1]
    assert [r["domain"]["state"] for r in last["domains"]] == ["shutoff", "shutoff", "running", "shutoff"]
    assert connection.conn.lookupByName(prefix + "b").info()[3] == 2
    # Changing one item changes only that one.
    items[1]["vcpus"] = 3
    result = reconcile(params(domains=items, **top), check_mode=False)
    assert [r["changed"] for r in result["domains"]] == [False, True, False, False]
    # The list form's diff: one entry per changed item (was a dict keyed by name; issue 10).
    assert [d["before_header"] for d in result["diff"]] == [prefix + "b"]
    assert result["actions"] == [prefix + "b: update definition"]


BAD = [
    (dict(vcpus=0), ValidationError, "domains[3].vcpus"),
    (dict(memory="12X"), ValidationError, "domains[3].memory"),
    (dict(name="x/y"), ValidationError, "domains[3].name"),
    (dict(disks=[dict(pool="kvmops-nope", volume="v")]), NotFoundError, "domains[3].disks[0].pool"),
    (dict(disks=[dict(pool=POOL, volume="kvmops-nope.qcow2")]), NotFoundError, "domains[3].disks[0].volume"),
    (dict(disks=[dict(path="/nonexistent/kvmops.qcow2")]), NotFoundError, "domains[3].disks[0].path"),
    (dict(disks=[dict(path="relative.qcow2")]), ValidationError, "domains[3].disks[0].path"),
    (dict(disks=[dict(pool=POOL)]), ValidationError, "domains[3].disks[0]"),
    (dict(cdrom="/nonexistent/kvmops.iso"), NotFoundError, "domains[3].cdrom.path"),
    (dict(interfaces=[dict(network="kvmops-nope")]), NotFoundError, "domains[3].interfaces[0].network"),
    (dict(interfaces=[dict(bridge="kvmops-nobr0")]), NotFoundError, "domains[3].interfaces[0].bridge"),
    (dict(interfaces=[dict(network="default", bridge="br0")]), ValidationError, "domains[3].interfaces[0]"),
    (dict(interfaces=[dict(network="default", mac="52:54:00:zz:00:01")]), ValidationError, "domains[3].interfaces[0].mac"),
    (dict(xml="<domain><name>other</name></domain>"), ValidationError, "domains[3].xml"),
    (dict(xml="<domain><name>{name}</name></domain>", vcpus=2), ValidationError, "domains[3].xml"),
    (dict(shutdown_timeout=-1), ValidationError, "domains[3].shutdown_timeout"),
    (dict(name="{prefix}a"), ValidationError, "domains[3].name"),
]


@pytest.mark.parametrize("bad, error, field", BAD, ids=[b[2] + ":" + str(i) for i, b in enumerate(BAD)])
def test_bad_item_fails_before_anything_is_touched(lab, reconcile, bad, error, field):
    connection, prefix, volume = lab
    items = [dict(name=prefix + n) for n in "abc"] + [dict(name=prefix + "d")]
    for key, value in bad.items():
        items[3][key] = value.format(prefix=prefix, name=prefix + "d") if isinstance(value, str) else value
    p = params(domains=items, virt_type="qemu", memory="64", state="running")
    with pytest.raises(reconcile.Failed) as err:
        reconcile(p, check_mode=False)
    assert err.value.field == field
    assert str(err.value).startswith(field + ": ")
    # A missing pool, volume, file, network or bridge is "not found"; the rest is invalid.
    assert ("does not exist" in str(err.value)) == (error is NotFoundError)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]


def test_new_domain_without_memory_fails_before_anything_is_touched(lab, reconcile):
    connection, prefix, volume = lab
    items = [dict(name=prefix + "a", memory="64"), dict(name=prefix + "b", vcpus=1)]
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(domains=items), check_mode=False)
    assert err.value.field == "domains[1].memory"
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "z", state="running"), check_mode=True)
    assert err.value.field == "name" and "does not exist" in str(err.value)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]


def test_xml_form(lab, reconcile):
    connection, prefix, volume = lab
    xml = ("<domain type='qemu'><name>{0}x</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os><devices><interface type='network'><source network='default'/>"
           "<model type='virtio'/></interface></devices></domain>").format(prefix)
    first, _a, last = four_steps(reconcile, params(name=prefix + "x", xml=xml, state="present"))
    assert last["domain"]["memory_mib"] == 64 and last["domain"]["interfaces"][0]["mac"]
    mac = last["domain"]["interfaces"][0]["mac"]
    _f, applied, _l = four_steps(reconcile, params(name=prefix + "x", xml=xml.replace(">64<", ">80<"), state="present"))
    assert applied["domain"]["memory_mib"] == 80 and applied["domain"]["interfaces"][0]["mac"] == mac


def test_item_xml_ignores_structured_top_level_defaults(lab, reconcile):
    connection, prefix, volume = lab
    xml = "<domain type='qemu'><name>{0}x</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>".format(prefix)
    specs = item_specs(params(domains=[dict(name=prefix + "x", xml=xml), dict(name=prefix + "y")], vcpus=2, memory="64"))
    assert specs[0]["vcpus"] is None and specs[1]["vcpus"] == 2
    assert specs[0]["state"] == "running" and specs[0]["_prefix"] == "domains[0]."


def test_shutdown_without_force_times_out_with_a_clear_error(lab, reconcile):
    # The test driver shuts down at once, so the timeout path is covered by
    # the integration target; here a shutoff domain needs no shutdown at all.
    connection, prefix, volume = lab
    reconcile(params(**guest(prefix, volume, state="present")), check_mode=False)
    result = reconcile(params(name=prefix + "g1", state="shutdown", shutdown_timeout=0), check_mode=False)
    assert not result["changed"] and result["domain"]["state"] == "shutoff"


def test_undefine_flags():
    bios = parse("<domain><os><type>hvm</type></os></domain>")
    efi = parse("<domain><os firmware='efi'><type>hvm</type></os></domain>")
    nvram = parse("<domain><os><type>hvm</type><loader>/x</loader><nvram>/var/lib/n.fd</nvram></os></domain>")
    base = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    assert undefine_flags(bios, False) == base
    assert undefine_flags(efi, False) == base | libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM
    assert undefine_flags(nvram, True) == base | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM


# ---------------------------------------------------------------- interfaces: direct (macvtap), mtu, portgroup (issue 14)

@pytest.fixture
def portgroups(lab):
    """A network with two port groups on the test driver."""
    connection, prefix, _volume = lab
    net = connection.conn.networkDefineXML(
        "<network><name>{0}pg</name><bridge name='{1}'/><portgroup name='web'/><portgroup name='db'/></network>".format(
            prefix, prefix[:8] + "pg"))
    net.create()
    yield prefix + "pg"
    net.destroy()
    net.undefine()


def test_direct_interface_mtu_and_portgroup(lab, reconcile, portgroups):
    connection, prefix, volume = lab
    nics = [dict(type="direct", dev="lo", mode="bridge"), dict(network=portgroups, portgroup="web", mtu=1400)]
    first, applied, last = four_steps(reconcile, params(**guest(prefix, volume, interfaces=nics, state="present")))
    xml = parse(connection.conn.lookupByName(prefix + "g1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    direct, network = xml.findall("devices/interface")
    assert direct.get("type") == "direct" and dict(direct.find("source").attrib) == {"dev": "lo", "mode": "bridge"}
    assert network.find("mtu").get("size") == "1400"
    assert network.find("source").get("portgroup") == "web"
    described = last["domain"]["interfaces"]
    assert [(n["type"], n["dev"], n["mode"], n["mtu"], n["portgroup"]) for n in described] == [
        ("direct", "lo", "bridge", None, None), ("network", None, None, 1400, "web")]
    # mtu, mode and port group change in place; the MACs stay.
    macs = [n["mac"] for n in described]
    nics = [dict(dev="lo", mode="vepa"), dict(network=portgroups, portgroup="db", mtu=1500)]
    first, _applied, last = four_steps(reconcile, params(**guest(prefix, volume, interfaces=nics, state="present")))
    assert first["actions"] == ["update definition"]
    assert [n["mac"] for n in last["domain"]["interfaces"]] == macs
    assert [(n["mode"], n["mtu"], n["portgroup"]) for n in last["domain"]["interfaces"]] == [("vepa", None, None), (None, 1500, "db")]


@pytest.mark.parametrize("nic, field, words", [
    (dict(type="direct"), "interfaces[0].dev", "is required with type: direct"),
    (dict(type="direct", network="default"), "interfaces[0].dev", "is required with type: direct"),
    (dict(network="default", dev="lo"), "interfaces[0]", "exactly one of network, bridge or dev"),
    (dict(type="bridge", network="default"), "interfaces[0].type", "is bridge but network is given"),
    (dict(network="default", mode="bridge"), "interfaces[0].mode", "needs type: direct"),
    (dict(dev="lo", portgroup="web"), "interfaces[0].portgroup", "needs network"),
    (dict(network="default", portgroup="kvmops-none"), "interfaces[0].portgroup", "has no port group 'kvmops-none'"),
    (dict(dev="kvmops-nodev0"), "interfaces[0].dev", "host interface 'kvmops-nodev0' does not exist"),
    (dict(dev="br:0"), "interfaces[0].dev", "is not an interface name"),
    (dict(bridge="br:0"), "interfaces[0].bridge", "is not an interface name"),
    (dict(dev="lo", mtu=0), "interfaces[0].mtu", "must be 68 to 65535"),
    (dict(dev="lo", mtu=65536), "interfaces[0].mtu", "must be 68 to 65535"),
])
def test_bad_interfaces_name_the_field(lab, reconcile, nic, field, words):
    connection, prefix, volume = lab
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(**guest(prefix, volume, interfaces=[nic], state="present")))
    assert err.value.field == field and words in str(err.value), str(err.value)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]


# ---------------------------------------------------------------- tags, guest agent, addresses, wait_for (issue 12)

def metadata_tags(connection, name, flags):
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._metadata import NAMESPACE, parse_tags
    try:
        return parse_tags(connection.conn.lookupByName(name).metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, flags))
    except libvirt.libvirtError:
        return []


def test_tags_are_set_and_changed_live_without_restart(lab, reconcile):
    connection, prefix, volume = lab
    first, _applied, last = four_steps(reconcile, params(**guest(prefix, volume, tags=["web", "prod"])))
    assert first["actions"] == ["define", "set tags", "start"]
    assert last["domain"]["tags"] == ["web", "prod"]
    assert metadata_tags(connection, prefix + "g1", libvirt.VIR_DOMAIN_AFFECT_CONFIG) == ["web", "prod"]
    first, _applied, last = four_steps(reconcile, params(**guest(prefix, volume, tags=["db"])))
    assert first["actions"] == ["set tags"] and not first["restart_required"]
    assert (first["diff"]["before"], first["diff"]["after"]) == ({"tags": ["web", "prod"]}, {"tags": ["db"]})
    for flags in (libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE):
        assert metadata_tags(connection, prefix + "g1", flags) == ["db"]
    xml = parse(connection.conn.lookupByName(prefix + "g1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert xml.find("metadata/{https://kvmops.github.io/xmlns/hypervisor/guest/1.0}guest") is not None
    four_steps(reconcile, params(**guest(prefix, volume, tags=[])))
    assert metadata_tags(connection, prefix + "g1", libvirt.VIR_DOMAIN_AFFECT_CONFIG) == []
    # Not given: left alone.
    assert not reconcile(params(**guest(prefix, volume)))["changed"]


def test_guest_agent_channel(lab, reconcile):
    connection, prefix, volume = lab

    def channels():
        xml = parse(connection.conn.lookupByName(prefix + "g1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        return [c.find("target").get("name") for c in xml.findall("devices/channel")]

    last = four_steps(reconcile, params(**guest(prefix, volume, state="present")))[2]
    assert channels() == ["org.qemu.guest_agent.0"] and last["domain"]["guest_agent"] is True
    first, _a, last = four_steps(reconcile, params(**guest(prefix, volume, state="present", guest_agent=False)))
    assert first["diff"]["after"] == {"guest_agent": False} and first["actions"] == ["update definition"]
    assert channels() == [] and last["domain"]["guest_agent"] is False
    four_steps(reconcile, params(**guest(prefix, volume, state="present", guest_agent=True)))
    assert channels() == ["org.qemu.guest_agent.0"]
    connection.conn.lookupByName(prefix + "g1").undefine()
    four_steps(reconcile, params(**guest(prefix, volume, state="present", guest_agent=False)))
    assert channels() == []


def test_addresses_wait_for_ip_and_the_domains_form(lab, reconcile):
    # The test driver answers every address source with one lease per NIC.
    connection, prefix, volume = lab
    items = [dict(name=prefix + "a"), dict(name=prefix + "b", address_source=["arp"])]
    p = params(domains=items, virt_type="qemu", memory="64", interfaces=[dict(network="default")], wait_for="ip", wait_timeout=5)
    check = reconcile(p, check_mode=True)
    assert [d["domain"]["interfaces"][0]["addresses"] for d in check["domains"]] == [[], []]  # not running yet
    applied = reconcile(p)
    nics = [d["domain"]["interfaces"][0] for d in applied["domains"]]
    assert all(n["addresses"] and n["addresses"][0].startswith("192.168.122.") for n in nics)
    assert [n["address_source"] for n in nics] == ["agent", "arp"]
    again = reconcile(p)
    assert not again["changed"] and [d["domain"]["interfaces"][0]["addresses"] for d in again["domains"]] == [n["addresses"] for n in nics]


def test_wait_for_times_out_naming_the_guest_and_what_it_saw(lab, reconcile):
    # No interface: no source can ever give an address.
    connection, prefix, volume = lab
    p = params(name=prefix + "g1", virt_type="qemu", memory="64", interfaces=[], wait_for="ip", wait_timeout=1)
    with pytest.raises(reconcile.Failed) as err:
        reconcile(p)
    message = str(err.value)
    assert message.startswith("wait_for: guest '{0}g1' has no IP address after wait_timeout=1 seconds; last seen: agent: no address".format(prefix))
    assert connection.conn.lookupByName(prefix + "g1").isActive()  # started; only the wait failed
    assert reconcile(p, check_mode=True)["changed"] is False  # check mode does not wait


@pytest.mark.parametrize("args, field", [
    (dict(tags=[""]), "tags[0]"),
    (dict(tags=["web", " x"]), "tags[1]"),
    (dict(tags=["a\x00"]), "tags[0]"),
    (dict(wait_for="ip", state="present"), "wait_for"),
    (dict(wait_for="agent", guest_agent=False), "wait_for"),
    (dict(wait_timeout=-1), "wait_timeout"),
])
def test_bad_guest_options_name_the_field(lab, reconcile, args, field):
    connection, prefix, volume = lab
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(**guest(prefix, volume, **args)))
    assert err.value.field == field, str(err.value)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]


# ---------------------------------------------------------------- cloud_init: bad input (the seed itself: integration target)

@pytest.mark.parametrize("args, field", [
    (dict(cloud_init=dict(user_data=5)), "cloud_init.user_data"),
    (dict(cloud_init=dict(pool="kvmops-no-pool")), "cloud_init.pool"),
    (dict(cloud_init=dict(meta_data={"instance-id": ""})), "cloud_init.meta_data.instance-id"),
    (dict(cloud_init=dict(network_config={"version": 9})), "cloud_init.network_config.version"),
    (dict(cloud_init=dict(), disks=[dict(path="/dev/null")]), "cloud_init.pool"),
    (dict(cloud_init=dict(), disks=[]), "cloud_init.pool"),
])
def test_bad_cloud_init_names_the_field(lab, reconcile, args, field):
    connection, prefix, volume = lab
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(**guest(prefix, volume, **args)))
    assert err.value.field == field, str(err.value)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]
    assert [v for v in connection.conn.storagePoolLookupByName(POOL).listVolumes() if v.startswith(prefix)] == [volume]


def test_cloud_init_secrets_are_no_log_values():
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_secrets import secret_values
    user_data = {"users": [{"name": "ops", "passwd": "Kv6-cI9x"}], "chpasswd": {"list": "root:Kv7-cI0y"}}
    found = secret_values(dict(xml=None, cloud_init=None, domains=[dict(name="a", cloud_init=dict(user_data=user_data))]))
    assert "Kv6-cI9x" in found and any("Kv7-cI0y" in value for value in found)


# ---------------------------------------------------------------- clones (issue 13)

def test_linked_and_full_clones(lab, reconcile):
    connection, prefix, volume = lab
    pool = connection.conn.storagePoolLookupByName(POOL)
    reconcile(params(**guest(prefix, volume, state="present", tags=["src"])))
    source = parse(connection.conn.lookupByName(prefix + "g1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    p = params(name=prefix + "c1", clone_from=dict(domain=prefix + "g1"), state="present", vcpus=2)
    first, applied, last = four_steps(reconcile, p)
    assert first["actions"] == ["linked clone of {0} as {1}c1-vda.qcow2".format(volume, prefix), "define (clone of {0}g1)".format(prefix)]
    clone = parse(connection.conn.lookupByName(prefix + "c1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert clone.findtext("uuid") != source.findtext("uuid")
    assert clone.find("devices/interface/mac").get("address") != source.find("devices/interface/mac").get("address")
    assert clone.find("devices/disk/source").attrib == {"pool": POOL, "volume": prefix + "c1-vda.qcow2"}
    assert clone.findtext("vcpu") == "2" and source.findtext("vcpu") == "1"
    assert last["domain"]["tags"] == []
    overlay = parse(pool.storageVolLookupByName(prefix + "c1-vda.qcow2").XMLDesc(0))
    assert overlay.findtext("backingStore/path") == "/{0}/{1}".format(POOL, volume)
    # A full copy has no backing store.
    reconcile(params(name=prefix + "c2", clone_from=dict(domain=prefix + "g1"), linked=False, state="present"))
    copy_ = parse(pool.storageVolLookupByName(prefix + "c2-vda.qcow2").XMLDesc(0))
    assert copy_.find("backingStore/path") is None
    # Idempotent by name; another source for the same name is refused.
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "c1", clone_from=dict(domain=prefix + "c2"), state="present"))
    assert err.value.field == "clone_from.domain" and "a clone of '{0}g1'".format(prefix) in str(err.value)
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "g1", clone_from=dict(domain=prefix + "c2"), state="present"))
    assert err.value.field == "clone_from.domain" and "not a clone" in str(err.value)


def test_clone_of_a_running_or_missing_source(lab, reconcile):
    connection, prefix, volume = lab
    reconcile(params(**guest(prefix, volume)))  # running
    p = params(name=prefix + "c1", clone_from=dict(domain=prefix + "g1"), state="present")
    with pytest.raises(reconcile.Failed) as err:
        reconcile(p)
    assert err.value.field == "clone_from.domain" and "is running" in str(err.value)
    assert reconcile(dict(p, force=True))["changed"]
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "c3", clone_from=dict(domain=prefix + "none"), state="present"))
    assert err.value.field == "clone_from.domain" and "does not exist" in str(err.value)
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "c4", clone_from=dict(domain=prefix + "g1"), xml="<domain/>", state="present"))
    assert err.value.field.startswith("clone_from") or err.value.field == "xml"
    assert sorted(d.name() for d in connection.conn.listAllDomains() if d.name().startswith(prefix)) == [prefix + "c1", prefix + "g1"]
