# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge's pure logic: input validation (the field is named), the plan
from a live state (takeover, static, absent, idempotence), the converge
script, the networkd and ifupdown files, and the rollback's restore script."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._ifupdown import IfupdownBackend, comment_out
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import LiveReader, converge_script
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._networkd import NetworkdBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._networkmanager import NetworkManagerBackend, disable_autoconnect
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._rollback import Rollback, unit_key
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import BridgeSpec
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import NetConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import BridgeManager

MAC = "62:76:e8:99:7d:29"
BEFORE = dict(
    bridge=dict(name="br0", exists=False, mac=None, mtu=None, stp=None, forward_delay=None, addresses=[]),
    ports=[dict(name="eth0", exists=True, mac=MAC, master=None, mtu=1500, addresses=["10.88.0.5/16"])],
    routes=[dict(family=4, gateway="10.88.0.1", dev="eth0", metric=100)],
    families=[4, 6])
AFTER = dict(
    bridge=dict(name="br0", exists=True, mac=MAC, mtu=1500, stp=False, forward_delay=15, addresses=["10.88.0.5/16"]),
    ports=[dict(name="eth0", exists=True, mac=MAC, master="br0", mtu=1500, addresses=[])],
    routes=[dict(family=4, gateway="10.88.0.1", dev="br0", metric=100)],
    families=[4, 6])


def spec(**params):
    values = dict(name="br0", ports=["eth0"])
    values.update(params)
    return BridgeSpec.from_params(values)


@pytest.fixture
def manager(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.255.255.53\nnameserver 127.0.0.53\n", encoding="utf-8")

    def no_commands(argv):
        raise AssertionError("no command expected: {0}".format(argv))
    return BridgeManager(no_commands, lambda _n: None, check_mode=True, files=Files(str(tmp_path)),
                         reader=LiveReader(no_commands, resolv_conf=str(resolv)))


@pytest.mark.parametrize("params, field", [
    (dict(name="br0/x"), "name"),
    (dict(name="a" * 16), "name"),
    (dict(name="br0\n"), "name"),  # a final newline passed the name check
    (dict(ports=["eth0\n"]), "ports"),
    (dict(ports=[]), "ports"),
    (dict(ports=["eth0", "eth0"]), "ports"),
    (dict(ports=["br0"]), "ports"),
    (dict(ipv4="static"), "ipv4"),
    (dict(ipv4=dict(address="20.0.0.16")), "ipv4.address"),
    (dict(ipv4=dict(address="20.0.0.300/24")), "ipv4.address"),
    (dict(ipv4=dict(address="2001:db8::1/64")), "ipv4.address"),
    (dict(ipv4=dict(gateway="20.0.0.2")), "ipv4.address"),
    (dict(ipv4=dict(address="20.0.0.16/24", gateway="nope")), "ipv4.gateway"),
    (dict(ipv4=dict(address="20.0.0.16/24", dns=["x"])), "ipv4.dns"),
    (dict(ipv4=dict(address="20.0.0.16/24", gw="20.0.0.2")), "ipv4"),
    (dict(ipv6=dict(address="20.0.0.16/24")), "ipv6.address"),
    (dict(forward_delay=1), "forward_delay"),
    (dict(mtu=10), "mtu"),
    (dict(mac="zz:00:00:00:00:00"), "mac"),
    (dict(mac="01:00:5e:00:00:01"), "mac"),
    (dict(backend="wicked"), "backend"),
    (dict(rollback_timeout=1), "rollback_timeout"),
])
def test_bad_input_names_the_field(params, field):
    with pytest.raises(ValidationError) as e:
        spec(**params)
    assert e.value.field == field
    assert str(e.value).startswith(field + ": ")


def test_defaults():
    s = spec()
    assert (s.ipv4.mode, s.ipv6.mode, s.stp, s.backend, s.state, s.rollback_timeout, s.confirm) == (
        "takeover", None, False, "auto", "present", 60, True)
    assert spec(ports=[], state="absent").ports == []
    assert spec(mac="62-76-E8-99-7D-29").mac == MAC


def test_takeover_plan(manager):
    target, cfg = manager.plan_present(spec(), copy.deepcopy(BEFORE))
    assert target["bridge"]["addresses"] == ["10.88.0.5/16"] and target["bridge"]["mac"] == MAC
    assert target["ports"][0]["master"] == "br0" and target["ports"][0]["addresses"] == []
    assert target["routes"] == [dict(family=4, gateway="10.88.0.1", dev="br0", metric=100)]
    assert [(c.mode, c.addresses, c.gateway, c.dns) for c in cfg.ipcfgs] == [("static", ["10.88.0.5/16"], "10.88.0.1", ["10.255.255.53"])]
    changes = manager.live_changes(BEFORE, target)
    assert "create bridge br0" in changes and "eth0 master: None -> br0" in changes


def test_takeover_is_idempotent_once_done(manager):
    target, cfg = manager.plan_present(spec(), copy.deepcopy(AFTER))
    assert manager.live_changes(AFTER, target) == []
    assert cfg.ipcfgs[0].addresses == ["10.88.0.5/16"]  # read back from the bridge


def test_a_port_of_another_bridge_is_refused(manager):
    before = copy.deepcopy(BEFORE)
    before["ports"][0]["master"] = "br9"
    with pytest.raises(ValidationError) as e:
        manager.plan_present(spec(), before)
    assert str(e.value) == "ports: 'eth0' is a port of br9 already; release it there first"


def test_takeover_without_an_address(manager):
    before = copy.deepcopy(BEFORE)
    before["ports"][0]["addresses"] = []
    with pytest.raises(ValidationError) as e:
        manager.plan_present(spec(), before)
    assert e.value.field == "ipv4" and "eth0" in str(e.value)


def test_static_plan_and_settings(manager):
    s = spec(ipv4=dict(address="20.0.0.16/24", gateway="20.0.0.2"), stp=True, forward_delay=4, mtu=9000)
    target, _cfg = manager.plan_present(s, copy.deepcopy(AFTER))
    changes = manager.live_changes(AFTER, target)
    assert "br0 addresses: ['10.88.0.5/16'] -> ['20.0.0.16/24']" in changes
    assert "br0 stp: False -> True" in changes and "br0 forward_delay: 15 -> 4" in changes and "br0 mtu: 1500 -> 9000" in changes


def test_absent_plan(manager):
    target, port_cfg = manager.plan_absent(spec(ports=[], state="absent"), copy.deepcopy(AFTER))
    assert target["bridge"]["exists"] is False
    assert target["ports"][0]["master"] is None and target["ports"][0]["addresses"] == ["10.88.0.5/16"]
    assert target["routes"] == [dict(family=4, gateway="10.88.0.1", dev="eth0", metric=100)]
    assert port_cfg.name == "eth0" and port_cfg.ipcfgs[0].addresses == ["10.88.0.5/16"]
    nothing, none = manager.plan_absent(spec(ports=[], state="absent"), copy.deepcopy(BEFORE))
    assert manager.live_changes(BEFORE, nothing) == [] and none is None


def test_converge_script_is_valid_shell_in_both_directions():
    for state, strict in ((AFTER, True), (BEFORE, False)):
        script = "\n".join(converge_script(state, strict))
        assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    forward = converge_script(AFTER, True)
    # the new address and route go in before the old ones go out
    add = [i for i, line in enumerate(forward) if line.startswith("ip addr replace 10.88.0.5/16 dev br0")][0]
    delete = [i for i, line in enumerate(forward) if "ip addr del" in line and "eth0" in line][0]
    assert forward[0] == "set -e" and add < delete
    back = converge_script(BEFORE, False)
    assert back[0] == "set +e" and back[-1].endswith("ip link del dev br0; fi")
    assert "ip -4 route replace default via 10.88.0.1 dev eth0 metric 100" in back


def test_the_rollback_puts_back_a_default_route_through_another_device():
    """A static gateway through the bridge replaces the host's default route through eth1
    (`ip route replace`, same metric): the snapshot keeps it and the rollback's converge puts it back."""
    snapshot = dict(copy.deepcopy(BEFORE), restore_routes=[dict(family=4, gateway="192.0.2.1", dev="eth1", metric=None)])
    assert "ip -4 route replace default via 192.0.2.1 dev eth1" in converge_script(snapshot, strict=False)
    assert not [line for line in converge_script(AFTER, strict=True) if "eth1" in line]  # the change itself leaves it


def test_networkd_files(tmp_path):
    _t, cfg = BridgeManager(None, None, True, files=Files(str(tmp_path)), reader=LiveReader(None, resolv_conf="/nonexistent")).plan_present(
        spec(), copy.deepcopy(BEFORE))
    files = NetworkdBackend(Files(str(tmp_path))).present(cfg)
    assert sorted(files) == ["/etc/systemd/network/10-kvmops-br0.netdev", "/etc/systemd/network/10-kvmops-br0.network",
                             "/etc/systemd/network/10-kvmops-eth0.network"]
    assert "Kind=bridge\nMACAddress={0}\n".format(MAC) in files["/etc/systemd/network/10-kvmops-br0.netdev"]
    assert "STP=no" in files["/etc/systemd/network/10-kvmops-br0.netdev"]
    assert "Address=10.88.0.5/16\nGateway=10.88.0.1\n" in files["/etc/systemd/network/10-kvmops-br0.network"]
    assert "[Network]\nBridge=br0\n" in files["/etc/systemd/network/10-kvmops-eth0.network"]


DEBIAN_INTERFACES = """\
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug ens33
iface ens33 inet static
    address 20.0.0.16/24
    gateway 20.0.0.2
    dns-nameservers 20.0.0.2

iface ens33 inet6 auto
"""


def test_ifupdown_comments_out_the_installers_stanza(tmp_path):
    out = comment_out(DEBIAN_INTERFACES, {"ens33"}, "/etc/network/interfaces.d/kvmops-br0")
    active = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    assert active == ["source /etc/network/interfaces.d/*", "auto lo", "iface lo inet loopback"]
    assert comment_out(out, {"ens33"}, "x") == out  # stable

    etc = tmp_path / "etc" / "network"
    (etc / "interfaces.d").mkdir(parents=True)
    (etc / "interfaces").write_text(DEBIAN_INTERFACES, encoding="utf-8")
    backend = IfupdownBackend(Files(str(tmp_path)))
    s = spec(ports=["ens33"], ipv4=dict(address="20.0.0.16/24", gateway="20.0.0.2", dns="20.0.0.2"))
    text = backend.present(NetConfig("br0", ["ens33"], MAC, False, None, False, None, s.families))["/etc/network/interfaces.d/kvmops-br0"]
    assert text.splitlines()[1:] == [
        "auto ens33", "iface ens33 inet manual", "", "auto br0", "iface br0 inet static", "    address 20.0.0.16/24",
        "    gateway 20.0.0.2", "    dns-nameservers 20.0.0.2", "    bridge_ports ens33", "    bridge_stp off",
        "    bridge_hw " + MAC]


NM_STATIC = """\
[connection]
id=eth0-static
uuid=0b0f3c55-8f5a-4a57-9f0b-1a2b3c4d5e6f
type=ethernet
interface-name=eth0

[ipv4]
address1=10.88.0.5/16,10.88.0.1
method=manual
"""


def test_networkmanager_keyfiles(tmp_path):
    conns = tmp_path / "etc" / "NetworkManager" / "system-connections"
    conns.mkdir(parents=True)
    (conns / "eth0-static.nmconnection").write_text(NM_STATIC, encoding="utf-8")
    backend = NetworkManagerBackend(Files(str(tmp_path)))
    s = spec(ipv4=dict(address="10.88.0.5/16", gateway="10.88.0.1", dns=["10.255.255.53"]))
    files = backend.present(NetConfig("br0", ["eth0"], MAC, False, None, False, None, s.families))
    assert sorted(files) == ["/etc/NetworkManager/system-connections/eth0-static.nmconnection",
                             "/etc/NetworkManager/system-connections/kvmops-br0-port-eth0.nmconnection",
                             "/etc/NetworkManager/system-connections/kvmops-br0.nmconnection",
                             "/etc/NetworkManager/system-connections/kvmops-eth0.nmconnection"]
    assert files["/etc/NetworkManager/system-connections/kvmops-eth0.nmconnection"] is None
    assert files["/etc/NetworkManager/system-connections/eth0-static.nmconnection"].splitlines()[:6] == [
        "[connection]", "autoconnect=false", "id=eth0-static", "uuid=0b0f3c55-8f5a-4a57-9f0b-1a2b3c4d5e6f",
        "type=ethernet", "interface-name=eth0"]
    bridge = files["/etc/NetworkManager/system-connections/kvmops-br0.nmconnection"]
    assert "type=bridge\n" in bridge and "interface-name=br0\n" in bridge and "mac-address=" + MAC.upper() in bridge
    assert "[ipv4]\naddress1=10.88.0.5/16\ndns=10.255.255.53;\ngateway=10.88.0.1\nmethod=manual\n" in bridge
    port = files["/etc/NetworkManager/system-connections/kvmops-br0-port-eth0.nmconnection"]
    assert "master=br0\nslave-type=bridge\n" in port
    assert disable_autoconnect(files["/etc/NetworkManager/system-connections/eth0-static.nmconnection"]) == \
        files["/etc/NetworkManager/system-connections/eth0-static.nmconnection"]
    # the same input gives the same bytes (fixed UUIDs): a re-run is no change
    assert backend.present(NetConfig("br0", ["eth0"], MAC, False, None, False, None, s.families)) == files
    assert backend.activate_lines("br0", ["eth0"], True)[-2:] == [
        "nmcli --wait 30 connection up id kvmops-br0-port-eth0", "nmcli --wait 30 connection up id kvmops-br0"]


def test_networkmanager_needs_nmcli():
    with pytest.raises(KvmError) as e:
        NetworkManagerBackend(None).check(lambda _n: None)
    assert str(e.value).startswith("backend: networkmanager needs nmcli")


def test_restore_script(tmp_path):
    calls = []
    managed = tmp_path / "managed.network"
    managed.write_text("old\n", encoding="utf-8")
    managed.chmod(0o640)
    rb = Rollback(lambda argv: calls.append(argv) or (0, "", ""), "br0", state_dir=str(tmp_path / "state"),
                  unit_dir=str(tmp_path / "units"))
    change_id = rb.prepare({str(managed): "old\n", str(tmp_path / "new.netdev"): None}, BEFORE, ["networkctl reload || true"])
    state = tmp_path / "state" / "br0"
    script = (state / "restore.sh").read_text(encoding="utf-8")
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    assert "rm -f {0}".format(tmp_path / "new.netdev") in script
    # the previous mode and owner come back with the content
    assert "install -D -o {0} -g {1} -m 0640 {2} {3}".format(os.getuid(), os.getgid(), state / "files" / "0", managed) in script
    assert "ip link del dev br0" in script and "networkctl reload" in script
    assert "id={0}\n".format(change_id) in script and 'flock -w 900 9' in script
    assert (state / "files" / "0").read_text(encoding="utf-8") == "old\n"
    assert os.stat(state / "files" / "0").st_mode & 0o777 == 0o600
    assert os.stat(state / "restore.sh").st_mode & 0o777 == 0o700
    assert rb.status() == dict(id=change_id, state="pending", by=None, time=None)
    # the boot-time restore: ordered before the network backends, pulled in by sysinit.target
    unit = (tmp_path / "units" / "kvmops-bridge-boot-restore-br0.service").read_text(encoding="utf-8")
    assert "ExecStart=/bin/sh {0} boot\n".format(state / "restore.sh") in unit
    assert "Before=network-pre.target sysinit.target systemd-networkd.service NetworkManager.service networking.service" in unit
    assert os.readlink(tmp_path / "units" / "sysinit.target.wants" / "kvmops-bridge-boot-restore-br0.service") == str(
        tmp_path / "units" / "kvmops-bridge-boot-restore-br0.service")
    rb.arm(10)
    assert calls[-1][:5] == ["systemd-run", "--quiet", "--unit", "kvmops-bridge-rollback-br0", "--on-active=10s"]
    assert calls[-1][-1] == "timer"
    rb.confirm(change_id)
    assert not state.exists() and not (tmp_path / "units" / "kvmops-bridge-boot-restore-br0.service").exists()
    assert not os.path.lexists(tmp_path / "units" / "sysinit.target.wants" / "kvmops-bridge-boot-restore-br0.service")
    assert rb.status()["id"] == change_id and rb.status()["state"] == "confirmed"


def test_restore_script_runs_once_and_records_the_rollback(tmp_path):
    """The script rolls back the change it was written for, once: a second
    run (the timer after the module's own rollback) finds it no longer pending."""
    managed = tmp_path / "managed.network"
    managed.write_text("old\n", encoding="utf-8")
    rb = Rollback(lambda argv: (0, "", ""), "br0", state_dir=str(tmp_path / "state"), unit_dir=str(tmp_path / "units"))
    change_id = rb.prepare({str(managed): "old\n"}, BEFORE, [])
    managed.write_text("new\n", encoding="utf-8")
    # a timer's script waiting for the lock has it open already: a copy stands for it
    script = tmp_path / "restore-copy.sh"
    script.write_text((tmp_path / "state" / "br0" / "restore.sh").read_text(encoding="utf-8"), encoding="utf-8")
    for _run in range(2):
        subprocess.run(["sh", str(script), "boot"], check=True)  # boot: files only, nothing live
    assert managed.read_text(encoding="utf-8") == "old\n"
    assert rb.status() == dict(id=change_id, state="rolled back", by="boot", time=rb.status()["time"])
    log = (tmp_path / "state" / "br0.rollback.log").read_text(encoding="utf-8")
    assert log.count("done") == 1 and "change {0} of br0 is no longer pending (boot)".format(change_id) in log
    assert not (tmp_path / "units" / "kvmops-bridge-boot-restore-br0.service").exists()


def test_unit_key_of_a_hostile_name():
    assert unit_key("br0") == "br0" and unit_key("br-lan.10") == "br-lan.10"
    assert unit_key("b'$(>B)'") == "hex:" + "b'$(>B)'".encode().hex()


def test_converge_script_quotes_hostile_names(tmp_path):
    """Interface names may hold quotes, '$' and '()': the script, run for real
    with a stub `ip`, never runs what a name says."""
    bad_port, bad_bridge = "q'$(>P)'", 'b"$(>B)'
    state = copy.deepcopy(AFTER)
    state["bridge"]["name"] = bad_bridge
    state["ports"][0].update(name=bad_port, master=bad_bridge)
    state["routes"][0]["dev"] = bad_bridge
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "ip").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (stub / "ip").chmod(0o755)
    for strict in (True, False):
        script = "\n".join(converge_script(state, strict))
        env = dict(os.environ, PATH="{0}:{1}".format(stub, os.environ["PATH"]))
        proc = subprocess.run(["sh", "-c", script], cwd=str(tmp_path), env=env, text=True, capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert not (tmp_path / "P").exists() and not (tmp_path / "B").exists()


def test_files_keep_mode_and_owner(tmp_path):
    """A file that exists keeps its mode (an administrator's 0600 wpa-psk file
    stays 0600); a new file gets the backend's mode, never wider on the way."""
    files = Files(str(tmp_path))
    secret = tmp_path / "etc" / "network" / "interfaces.d" / "wlan"
    secret.parent.mkdir(parents=True)
    secret.write_text("wpa-psk x\n", encoding="utf-8")
    secret.chmod(0o600)
    files.write("/etc/network/interfaces.d/wlan", "# moved\nwpa-psk x\n")
    assert os.stat(secret).st_mode & 0o7777 == 0o600 and secret.read_text(encoding="utf-8") == "# moved\nwpa-psk x\n"
    old = os.umask(0)
    try:
        files.write("/etc/NetworkManager/system-connections/new.nmconnection", "[connection]\n", 0o600)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "etc/NetworkManager/system-connections/new.nmconnection").st_mode & 0o7777 == 0o600
    assert sorted(os.listdir(secret.parent)) == ["wlan"]  # no temporary file left


def test_networkmanager_turns_off_a_profile_bound_by_mac(tmp_path):
    """An installer's profile bound by the NIC's MAC, not by its name, would
    keep autoconnecting the port outside the bridge: it is turned off too;
    a profile for another NIC's MAC is left alone."""
    conns = tmp_path / "etc" / "NetworkManager" / "system-connections"
    conns.mkdir(parents=True)
    sysfs = tmp_path / "sys" / "class" / "net" / "eth0"
    sysfs.mkdir(parents=True)
    (sysfs / "address").write_text("52:54:00:aa:bb:cc\n", encoding="utf-8")
    wired = "[connection]\nid=Wired connection 1\nuuid=7d1f0c2e-5d0b-4b8f-9a55-1c2d3e4f5a6b\ntype=ethernet\n\n" \
            "[ethernet]\nmac-address=52:54:00:AA:BB:CC\n\n[ipv4]\nmethod=auto\n"
    (conns / "wired.nmconnection").write_text(wired, encoding="utf-8")
    (conns / "other.nmconnection").write_text(wired.replace("AA:BB:CC", "AA:BB:CD"), encoding="utf-8")
    backend = NetworkManagerBackend(Files(str(tmp_path)))
    s = spec(ipv4=dict(address="10.88.0.5/16", gateway="10.88.0.1"))
    files = backend.present(NetConfig("br0", ["eth0"], MAC, False, None, False, None, s.families))
    assert files["/etc/NetworkManager/system-connections/wired.nmconnection"] == disable_autoconnect(wired)
    assert "/etc/NetworkManager/system-connections/other.nmconnection" not in files
