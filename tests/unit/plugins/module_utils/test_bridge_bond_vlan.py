# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge with a bond and/or a VLAN under the bridge (issue 14): bad input
named by its field, the kernel check, the plan from a live state, the shell
lines that make (and, in the rollback, remove) the bond and the VLAN, and
what each backend writes once the bridge is released.  The files of the
three layouts are compared with golden files in test_bridge_golden.py."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BondConfig, NetConfig, VlanConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import LiveReader, converge_script
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._rollback import Rollback
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import (
    BACKEND_CLASSES, BridgeManager, kernel_features, links_of)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import BridgeSpec

MAC1, MAC2 = "52:54:00:00:00:01", "52:54:00:00:00:02"
BOND = dict(name="bond0", mode="802.3ad", ports=["eno1", "eno2"], lacp_rate="fast", xmit_hash_policy="layer3+4")


def spec(**params):
    values = dict(name="br0", ports=[])
    values.update(params)
    return BridgeSpec.from_params(values)


def _nic(name, mac, addresses=(), master=None, exists=True):
    return dict(name=name, exists=exists, mac=mac if exists else None, master=master, mtu=1500 if exists else None,
                addresses=list(addresses))


def _before(s):
    """The host before the change: eno1 holds the address and the default route, eno2 is idle, nothing made yet."""
    ports = []
    for name in s.bridge_ports + [n for n in s.lower + ([s.bond.name] if s.bond and s.vlan else []) if n not in s.bridge_ports]:
        if name == "eno1":
            ports.append(_nic("eno1", MAC1, ["192.0.2.10/24"]))
        elif name == "eno2":
            ports.append(_nic("eno2", MAC2))
        else:
            ports.append(_nic(name, None, exists=False))
    state = dict(bridge=dict(name="br0", exists=False, mac=None, mtu=None, stp=None, forward_delay=None, addresses=[]),
                 ports=ports, routes=[dict(family=4, gateway="192.0.2.1", dev="eno1", metric=None)], families=[4, 6])
    links = links_of(s)
    for link in links:
        link.update(exists=False, live_kind=None)
    if links:
        state["links"] = links
    return state


@pytest.fixture
def manager(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n", encoding="utf-8")

    def no_commands(argv):
        raise AssertionError("no command expected: {0}".format(argv))
    return BridgeManager(no_commands, lambda _n: None, check_mode=True, files=Files(str(tmp_path)),
                         reader=LiveReader(no_commands, resolv_conf=str(resolv)))


@pytest.mark.parametrize("params, field", [
    (dict(bond=dict(name="bond0", mode="lacp", ports=["eno1"])), "bond.mode"),
    (dict(bond=dict(name="bond0", ports=[])), "bond.ports"),
    (dict(bond=dict(name="bond0", ports=["eno1", "eno1"])), "bond.ports"),
    (dict(bond=dict(name="bond0", ports=["bond0"])), "bond.ports"),
    (dict(bond=dict(name="bond/0", ports=["eno1"])), "bond.name"),
    (dict(bond=dict(ports=["eno1"])), "bond.name"),
    (dict(bond=dict(name="bond0", ports=["eno1"], lacp_rate="fast")), "bond.lacp_rate"),  # active-backup
    (dict(bond=dict(name="bond0", mode="802.3ad", ports=["eno1"], lacp_rate="quick")), "bond.lacp_rate"),
    (dict(bond=dict(name="bond0", mode="802.3ad", ports=["eno1"], xmit_hash_policy="layer9")), "bond.xmit_hash_policy"),
    (dict(bond=dict(name="bond0", mode="active-backup", ports=["eno1"], xmit_hash_policy="layer2")), "bond.xmit_hash_policy"),
    (dict(bond=dict(name="bond0", mode="802.3ad", ports=["eno1"], primary="eno1")), "bond.primary"),
    (dict(bond=dict(name="bond0", ports=["eno1"], primary="eno2")), "bond.primary"),
    (dict(bond=dict(name="bond0", ports=["eno1"], miimon=-1)), "bond.miimon"),
    (dict(bond=dict(name="bond0", ports=["eno1"], downdelay=200)), "bond"),
    (dict(vlan=dict(id=0, parent="eno1")), "vlan.id"),
    (dict(vlan=dict(id=4095, parent="eno1")), "vlan.id"),
    (dict(vlan=dict(id="ten", parent="eno1")), "vlan.id"),
    (dict(vlan=dict(parent="eno1")), "vlan.id"),
    (dict(vlan=dict(id=10)), "vlan.parent"),
    (dict(vlan=dict(id=10, parent="eth:0")), "vlan.parent"),
    (dict(vlan=dict(id=4000, parent="enp129s0f1np1")), "vlan.name"),  # enp129s0f1np1.4000 is 18 bytes
    (dict(vlan=dict(id=10, parent="eno1", name="a-very-long-vlan-name")), "vlan.name"),
    (dict(vlan=dict(id=10, parent="eno1", name="eno1")), "vlan.name"),
    (dict(bond=dict(name="bond0", ports=["eno1"]), vlan=dict(id=10, parent="eno2")), "vlan.parent"),
    (dict(bond=dict(name="bond0", ports=["eno1"]), ports=["eno1"]), "ports"),
    (dict(vlan=dict(id=10, parent="eno1"), ports=["eno1.10"]), "ports"),
    (dict(name="bond0", bond=dict(name="bond0", ports=["eno1"])), "name"),
    (dict(), "ports"),
])
def test_bad_input_names_the_field(params, field):
    with pytest.raises(ValidationError) as e:
        spec(**params)
    assert e.value.field == field, str(e.value)
    assert str(e.value).startswith(field + ": ")


def test_defaults_and_derived_names():
    s = spec(bond=dict(name="bond0", ports=["eno1", "eno2"]))
    assert (s.bond.mode, s.bond.miimon, s.bond.lacp_rate, s.vlan) == ("active-backup", 100, None, None)
    assert (s.upper, s.bridge_ports, s.source, s.lower) == ("bond0", ["bond0"], "eno1", ["eno1", "eno2"])
    s = spec(vlan=dict(id=100, parent="eno1"))
    assert (s.vlan.name, s.upper, s.source, s.lower) == ("eno1.100", "eno1.100", "eno1", ["eno1"])
    s = spec(bond=BOND, vlan=dict(id=100))  # the parent defaults to the bond
    assert (s.vlan.parent, s.vlan.name, s.bridge_ports, s.source) == ("bond0", "bond0.100", ["bond0.100"], "eno1")
    assert spec(vlan=dict(id="7", parent="eno1"), ports=["eno3"]).bridge_ports == ["eno1.7", "eno3"]


def test_kernel_check_names_what_is_missing(tmp_path):
    """This kernel (and a container without modprobe) has neither driver: both are named, bond first."""
    s = spec(bond=BOND, vlan=dict(id=100))
    files = Files(str(tmp_path))
    missing = kernel_features(s, None, files, lambda _n: None)
    assert [f for f, _m in missing] == ["bond", "vlan"]
    assert missing[0][1].startswith("kernel: the managed host has no bonding driver (module bonding")
    assert missing[1][1].startswith("kernel: the managed host has no 802.1Q VLAN driver (module 8021q")
    # loaded or built in: its sysfs / procfs entry
    (tmp_path / "sys" / "class" / "net").mkdir(parents=True)
    (tmp_path / "sys" / "class" / "net" / "bonding_masters").write_text("\n", encoding="utf-8")
    (tmp_path / "proc" / "net" / "vlan").mkdir(parents=True)
    (tmp_path / "proc" / "net" / "vlan" / "config").write_text("", encoding="utf-8")
    assert kernel_features(s, None, files, lambda _n: None) == []
    # loadable: modprobe -n finds it (the stub stands for modprobe's answer, rc 0 / 1)
    calls = []
    empty = Files(str(tmp_path / "empty"))
    answers = {"bonding": 0, "8021q": 1}
    missing = kernel_features(s, lambda argv: calls.append(argv) or (answers[argv[-1]], "", ""), empty, lambda n: "/sbin/" + n)
    assert [f for f, _m in missing] == ["vlan"] and calls[0] == ["modprobe", "-n", "-q", "bonding"]
    assert kernel_features(spec(ports=["eno1"]), None, empty, lambda _n: None) == []


def test_plan_bond_takes_the_first_ports_address(manager):
    s = spec(bond=BOND)
    before = _before(s)
    target, cfg = manager.plan_present(s, copy.deepcopy(before))
    assert target["bridge"]["addresses"] == ["192.0.2.10/24"] and target["bridge"]["mac"] == MAC1
    ports = dict((p["name"], p) for p in target["ports"])
    assert ports["bond0"]["master"] == "br0" and ports["eno1"]["master"] == "bond0" and ports["eno2"]["master"] == "bond0"
    assert ports["eno1"]["addresses"] == []
    assert target["routes"] == [dict(family=4, gateway="192.0.2.1", dev="br0", metric=None)]
    assert cfg.ports == ["bond0"] and cfg.bond.ports == ["eno1", "eno2"] and cfg.vlan is None
    changes = manager.live_changes(before, target)
    assert changes[:2] == ["create bridge br0", "create bond bond0 (mode 802.3ad, ports eno1, eno2)"]
    assert "bond0 master: None -> br0" in changes and "eno1 master: None -> bond0" in changes
    assert "eno1 addresses: ['192.0.2.10/24'] -> []" in changes


def test_plan_bond_vlan_and_its_idempotence(manager):
    s = spec(bond=BOND, vlan=dict(id=100))
    before = _before(s)
    target, cfg = manager.plan_present(s, copy.deepcopy(before))
    ports = dict((p["name"], p) for p in target["ports"])
    assert ports["bond0.100"]["master"] == "br0" and ports["bond0"]["master"] is None and ports["eno2"]["master"] == "bond0"
    assert cfg.vlan.parent == cfg.bond.name == "bond0" and cfg.ports == ["bond0.100"]
    assert "create vlan bond0.100 (id 100 on bond0)" in manager.live_changes(before, target)
    # once made, the same spec plans nothing
    after = copy.deepcopy(target)
    for link in after["links"]:
        link.update(live_kind=link["kind"], live_mode=link.get("mode"), live_id=link.get("id"), live_parent=link.get("parent"))
    after["ports"] = [dict(p, mtu=1500) for p in after["ports"]]
    after["bridge"].update(mtu=1500, stp=False, forward_delay=15)
    again, _cfg = manager.plan_present(s, copy.deepcopy(after))
    assert manager.live_changes(after, again) == []


def test_plan_vlan_on_a_nic(manager):
    s = spec(vlan=dict(id=10, parent="eno1"))
    target, cfg = manager.plan_present(s, _before(s))
    ports = dict((p["name"], p) for p in target["ports"])
    assert ports["eno1.10"]["master"] == "br0" and ports["eno1"]["master"] is None and ports["eno1"]["addresses"] == []
    assert target["bridge"]["addresses"] == ["192.0.2.10/24"] and cfg.vlan.name == "eno1.10"


@pytest.mark.parametrize("change, field, message", [
    (dict(eno2=dict(exists=False)), "bond.ports", "no interface named 'eno2' on the managed host"),
    (dict(eno2=dict(master="br9")), "bond.ports", "'eno2' is a port of br9 already; release it there first"),
])
def test_bad_bond_ports_are_refused_before_anything(manager, change, field, message):
    s = spec(bond=BOND)
    before = _before(s)
    for p in before["ports"]:
        p.update(change.get(p["name"], {}))
    with pytest.raises(ValidationError) as e:
        manager.plan_present(s, before)
    assert str(e.value) == "{0}: {1}".format(field, message)


def test_bad_vlan_parent_and_clashing_devices(manager):
    s = spec(vlan=dict(id=10, parent="eno1"))
    before = _before(s)
    before["ports"][1]["master"] = "br9"
    with pytest.raises(ValidationError) as e:
        manager.plan_present(s, before)
    assert e.value.field == "vlan.parent" and "br9" in str(e.value)
    before = _before(s)
    before["links"][0].update(exists=True, live_kind="veth")
    with pytest.raises(ValidationError) as e:
        manager.plan_present(s, before)
    assert str(e.value) == "vlan.name: 'eno1.10' exists and is not a vlan (it is a veth)"
    s = spec(bond=BOND)
    before = _before(s)
    before["links"][0].update(exists=True, live_kind="bond", live_mode="active-backup")
    with pytest.raises(ValidationError) as e:
        manager.plan_present(s, before)
    assert e.value.field == "bond.mode" and "active-backup" in str(e.value)


def _run_with_stub_ip(tmp_path, lines):
    """Run the lines with a stub `ip` (and readlink) that logs its arguments; the log."""
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    log = tmp_path / "ip.log"
    (stub / "ip").write_text('#!/bin/sh\necho "ip $*" >> {0}\ncase "$*" in *" show "*) exit 1;; esac\nexit 0\n'.format(log),
                             encoding="utf-8")
    (stub / "ip").chmod(0o755)
    env = dict(os.environ, PATH="{0}:{1}".format(stub, os.environ["PATH"]))
    proc = subprocess.run(["sh", "-c", "\n".join(lines)], cwd=str(tmp_path), env=env, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_converge_makes_the_bond_and_vlan_and_the_rollback_removes_them(manager, tmp_path):
    s = spec(bond=dict(BOND, mode="active-backup", lacp_rate=None, xmit_hash_policy=None, primary="eno2"), vlan=dict(id=100))
    before = _before(s)
    target, _cfg = manager.plan_present(s, copy.deepcopy(before))
    ran = _run_with_stub_ip(tmp_path, converge_script(target, strict=True))
    made = [line for line in ran if " add " in line]
    assert made == ["ip link add name br0 type bridge", "ip link add name bond0 type bond mode active-backup miimon 100",
                    "ip link add link bond0 name bond0.100 type vlan id 100"]
    assert "ip addr replace 192.0.2.10/24 dev br0" in ran
    # a bond port is down when it is enslaved, and up again afterwards
    i = ran.index("ip link set dev eno1 master bond0")
    assert ran[i - 1] == "ip link set dev eno1 down" and "ip link set dev eno1 up" in ran[i + 1:]
    assert "ip link set dev bond0 type bond primary eno2" in ran
    assert ran.index("ip link add name bond0 type bond mode active-backup miimon 100") < ran.index("ip link set dev bond0.100 master br0")
    # the rollback (the snapshot before the change) releases the ports and deletes the VLAN, the bond and the bridge
    back = converge_script(before, strict=False)
    assert back[-3:] == ["if ip link show dev bond0.100 >/dev/null 2>&1; then ip link del dev bond0.100; fi",
                         "if ip link show dev bond0 >/dev/null 2>&1; then ip link del dev bond0; fi",
                         "if ip link show dev br0 >/dev/null 2>&1; then ip link del dev br0; fi"]
    assert "ip link set dev eno1 nomaster" in back and "ip addr replace 192.0.2.10/24 dev eno1" in back
    assert subprocess.run(["sh", "-n"], input="\n".join(back), text=True, check=False).returncode == 0


def test_converge_quotes_a_hostile_bond_port(tmp_path):
    state = dict(bridge=dict(name="br0", exists=True, mac=None, mtu=None, stp=None, forward_delay=None, addresses=[]),
                 ports=[], routes=[], families=[4],
                 links=[dict(kind="bond", name="b$(>B)", exists=True, mode="active-backup", ports=["q'$(>P)'"], miimon=None)])
    _run_with_stub_ip(tmp_path, converge_script(state, strict=True))
    assert not (tmp_path / "P").exists() and not (tmp_path / "B").exists()


def test_absent_keeps_the_bond_and_gives_it_the_address(manager):
    s = spec(bond=BOND, state="absent")
    built, _cfg = manager.plan_present(spec(bond=BOND), _before(spec(bond=BOND)))
    for link in built["links"]:
        link.update(live_kind="bond", live_mode="802.3ad")
    target, port_cfg = manager.plan_absent(s, copy.deepcopy(built))
    ports = dict((p["name"], p) for p in target["ports"])
    assert ports["bond0"]["master"] is None and ports["bond0"]["addresses"] == ["192.0.2.10/24"]
    assert ports["eno1"]["master"] == "bond0"  # still in the bond
    assert [link["exists"] for link in target["links"]] == [True]
    assert target["routes"] == [dict(family=4, gateway="192.0.2.1", dev="bond0", metric=None)]
    assert port_cfg.name == "bond0" and port_cfg.bond.name == "bond0"
    assert not [line for line in converge_script(target, strict=True) if "link del dev bond0" in line]


@pytest.mark.parametrize("backend, path, wanted", [
    ("networkd", "/etc/systemd/network/10-kvmops-bond0.network", "[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\n"),
    ("networkd", "/etc/systemd/network/10-kvmops-bond0.netdev", "Kind=bond\n"),
    ("ifupdown", "/etc/network/interfaces.d/kvmops-bond0",
     "iface bond0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n    dns-nameservers 192.0.2.53\n"
     "    bond-slaves eno1 eno2\n    bond-mode 802.3ad\n"),
    ("networkmanager", "/etc/NetworkManager/system-connections/kvmops-bond0.nmconnection",
     "type=bond\nautoconnect-priority=100\ninterface-name=bond0\n\n[bond]\nmode=802.3ad\n"),
    ("networkmanager", "/etc/NetworkManager/system-connections/kvmops-bond0-port-eno1.nmconnection", "master=bond0\nslave-type=bond\n"),
    ("ifcfg", "/etc/sysconfig/network-scripts/ifcfg-bond0", "BOOTPROTO=none\nIPADDR=192.0.2.10\nNETMASK=255.255.255.0\n"),
])
def test_each_backend_keeps_the_released_bond(manager, tmp_path, backend, path, wanted):
    built, _cfg = manager.plan_present(spec(bond=BOND), _before(spec(bond=BOND)))
    _target, port_cfg = manager.plan_absent(spec(bond=BOND, state="absent"), copy.deepcopy(built))
    root = tmp_path / "host"
    if backend == "ifupdown":
        (root / "etc" / "network" / "interfaces.d").mkdir(parents=True)
    files = BACKEND_CLASSES[backend](Files(str(root))).absent("br0", port_cfg)
    assert wanted in files[path]
    assert "BRIDGE=br0" not in files[path] and "Bridge=br0" not in files[path] and "master=br0" not in files[path]


def test_networkmanager_brings_up_the_ports_then_the_bond(tmp_path):
    s = spec(bond=BOND, vlan=dict(id=100))
    backend = BACKEND_CLASSES["networkmanager"](Files(str(tmp_path)))
    _t, cfg = BridgeManager(None, None, True, files=Files(str(tmp_path)),
                            reader=LiveReader(None, resolv_conf="/nonexistent")).plan_present(s, _before(s))
    backend.present(cfg)
    assert backend.activate_lines("br0", cfg.ports, True)[1:] == [
        "nmcli --wait 30 connection up id " + i for i in
        ("kvmops-bond0-port-eno1", "kvmops-bond0-port-eno2", "kvmops-bond0", "kvmops-br0-port-bond0.100", "kvmops-br0")]


def test_ifupdown_needs_ifenslave_and_its_own_vlan_names(tmp_path):
    backend = BACKEND_CLASSES["ifupdown"](Files(str(tmp_path)))
    bond_cfg = NetConfig("br0", ["bond0"], bond=BondConfig("bond0", "active-backup", ["eno1"]))
    with pytest.raises(KvmError) as e:
        backend.check_config(bond_cfg)
    assert str(e.value).startswith("bond: the ifupdown backend needs the ifenslave package")
    hook = tmp_path / "etc" / "network" / "if-pre-up.d" / "ifenslave"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n", encoding="utf-8")
    assert backend.check_config(bond_cfg) is None
    with pytest.raises(KvmError) as e:
        backend.check_config(NetConfig("br0", ["trunk10"], vlan=VlanConfig(10, "eno1", "trunk10")))
    assert str(e.value).startswith("vlan.name: the ifupdown backend makes a VLAN named <parent>.<id> (eno1.10)")
    assert backend.check_config(NetConfig("br0", ["eno1.10"], vlan=VlanConfig(10, "eno1"))) is None
    for other in ("networkd", "networkmanager", "ifcfg"):
        assert BACKEND_CLASSES[other](Files(str(tmp_path))).check_config(bond_cfg) is None


INSTALLER = """\
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eno1
iface eno1 inet static
    address 192.0.2.10/24
    gateway 192.0.2.1
"""

TUTORIAL_IFCFG = """\
TYPE=Ethernet
BOOTPROTO=static
NAME=eno1
DEVICE=eno1
ONBOOT=yes
IPADDR=192.0.2.10
NETMASK=255.255.255.0
GATEWAY=192.0.2.1
"""


def test_the_installers_configuration_of_a_bond_port_is_taken_out(tmp_path):
    """ifupdown: the installer's stanza of eno1 is commented out; ifcfg: eno1's file keeps its lines, its
    address commented out, and joins the bond."""
    (tmp_path / "etc" / "network" / "interfaces.d").mkdir(parents=True)
    (tmp_path / "etc" / "network" / "interfaces").write_text(INSTALLER, encoding="utf-8")
    scripts = tmp_path / "etc" / "sysconfig" / "network-scripts"
    scripts.mkdir(parents=True)
    (scripts / "ifcfg-eno1").write_text(TUTORIAL_IFCFG, encoding="utf-8")
    cfg = NetConfig("br0", ["bond0"], bond=BondConfig("bond0", "active-backup", ["eno1", "eno2"], 100))
    files = BACKEND_CLASSES["ifupdown"](Files(str(tmp_path))).present(cfg)
    active = [line for line in files["/etc/network/interfaces"].splitlines() if line.strip() and not line.startswith("#")]
    assert active == ["source /etc/network/interfaces.d/*", "auto lo", "iface lo inet loopback"]
    ifcfg = BACKEND_CLASSES["ifcfg"](Files(str(tmp_path))).present(cfg)["/etc/sysconfig/network-scripts/ifcfg-eno1"]
    assert ifcfg.splitlines() == ["TYPE=Ethernet", "BOOTPROTO=none", "NAME=eno1", "DEVICE=eno1", "ONBOOT=yes",
                                  "#IPADDR=192.0.2.10", "#NETMASK=255.255.255.0", "#GATEWAY=192.0.2.1",
                                  "MASTER=bond0", "SLAVE=yes"]


def test_the_restore_script_deletes_the_bond_and_vlan_the_change_made(manager, tmp_path):
    s = spec(bond=BOND, vlan=dict(id=100))
    rb = Rollback(lambda argv: (0, "", ""), "br0", state_dir=str(tmp_path / "state"), unit_dir=str(tmp_path / "units"))
    rb.prepare({}, _before(s), [])
    script = (tmp_path / "state" / "br0" / "restore.sh").read_text(encoding="utf-8")
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    deletions = [line.strip() for line in script.splitlines() if "ip link del dev" in line]
    assert deletions == ["if ip link show dev bond0.100 >/dev/null 2>&1; then ip link del dev bond0.100; fi",
                         "if ip link show dev bond0 >/dev/null 2>&1; then ip link del dev bond0; fi",
                         "if ip link show dev br0 >/dev/null 2>&1; then ip link del dev br0; fi"]
    assert "  ip link set dev eno1 nomaster" in script and "  ip addr replace 192.0.2.10/24 dev eno1" in script


@pytest.mark.parametrize("backend", ["networkd", "ifupdown", "networkmanager", "ifcfg"])
@pytest.mark.parametrize("bond", [None, BondConfig("bond0", "802.3ad", ["eno1", "eno2"], 100)])
def test_a_bridge_per_vlan_on_one_trunk_writes_no_file_of_another(tmp_path, backend, bond):
    """br10 on VLAN 10 and br20 on VLAN 20 of one trunk (a NIC or a bond), each its own task: a file both
    write has the same content in both, so the second never undoes the first (networkd: a drop-in per VLAN)."""
    (tmp_path / "etc" / "network" / "interfaces.d").mkdir(parents=True)
    parent = "bond0" if bond else "eno2"
    renders = []
    for vid in (10, 20):
        cfg = NetConfig("br{0}".format(vid), ["{0}.{1}".format(parent, vid)], ipcfgs=[], bond=bond, vlan=VlanConfig(vid, parent))
        renders.append(BACKEND_CLASSES[backend](Files(str(tmp_path))).present(cfg))
    shared = sorted(set(renders[0]) & set(renders[1]))
    assert [p for p in shared if renders[0][p] != renders[1][p]] == []
    if backend == "networkd":
        assert "/etc/systemd/network/10-kvmops-{0}.network.d/kvmops-{0}.20.conf".format(parent) in renders[1]
