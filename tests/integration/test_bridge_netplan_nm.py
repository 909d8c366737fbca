# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge on a netplan host whose renderer is NetworkManager (Ubuntu
Desktop's 01-network-manager-all.yaml, some server images), over SSH on one
podman test host (netplan.io and network-manager installed with apt at test
time), never on the runner.  The cases run in order on it: takeover in four
steps, absent, a wrong gateway rolled back at once, a change left
unconfirmed reverted by a reboot.  Every case checks the files: netplan's
YAML and the keyfiles `netplan generate` writes for NetworkManager under
/run/NetworkManager/system-connections, and which profile NetworkManager
runs on each device.  The same host (it has netplan) then renders the
golden bond/VLAN files and two bridges on one VLAN trunk with
`netplan generate --root-dir`, which needs no bonding or 8021q driver.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BondConfig, NetConfig, VlanConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._netplan import NetplanBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import IpConfig

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position
from test_bridge_testhost import (  # noqa: E402  pylint: disable=wrong-import-position
    FOUR_STEPS, GATEWAY, WRONG_GATEWAY, _modes, _original, _run, _state)

# Ubuntu Desktop's file (NetworkManager renders every device) and a cloud-init
# style file that defines eth0 (static, the address podman gave it) and another NIC.
SETUP = """set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends netplan.io network-manager >/dev/null
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
umask 077
cat > /etc/netplan/01-network-manager-all.yaml <<EOF
# Let NetworkManager manage all devices on this system
network:
  version: 2
  renderer: NetworkManager
EOF
cat > /etc/netplan/50-cloud-init.yaml <<EOF
# written by the test as cloud-init would: eth0 static, another NIC by DHCP
network:
    version: 2
    ethernets:
        eth0:
            addresses: [$ip]
            routes:
            -   to: default
                via: 10.88.0.1
        eth9:
            dhcp4: true
EOF
# A profile saved from the desktop for this NIC (bound by MAC), below netplan's in priority: the
# takeover turns its autoconnect off, the rollback puts the file back as it was.
mac=$(cat /sys/class/net/eth0/address)
cat > /etc/NetworkManager/system-connections/saved-eth0.nmconnection <<EOF
[connection]
id=saved-eth0
type=ethernet
autoconnect-priority=-100

[ethernet]
mac-address=$mac

[ipv4]
method=auto
EOF
# A real NIC has no address when NetworkManager starts; podman gives the container's eth0 one
# before init, which NetworkManager would "assume" at boot instead of activating its profile.
printf '[device]\nkeep-configuration=no\n' > /etc/NetworkManager/conf.d/90-test-boot-like-hardware.conf
netplan generate
nmcli connection reload
nmcli --wait 30 connection up id netplan-eth0 >/dev/null
"""

NM_DIR = "/run/NetworkManager/system-connections"
SAVED = "/etc/NetworkManager/system-connections/saved-eth0.nmconnection"
FILES = ("for f in /etc/netplan/* /etc/NetworkManager/system-connections/* {0}/netplan-*; do echo \"== $f $(stat -c '%a %U:%G' \"$f\")\"; cat \"$f\"; done; "
         "true").format(NM_DIR)


@pytest.fixture(scope="module")
def nm_host():
    host = lab.TestHost(name="h4-netplan-nm-" + secrets.token_hex(4))
    try:
        host.start()
        host.exec(["sh", "-c", SETUP])
        yield host
    finally:
        host.remove()


def _profiles(host):
    """{device: the NetworkManager profile it runs} (devices NetworkManager manages)."""
    out = host.exec(["nmcli", "-t", "-f", "DEVICE,CONNECTION", "device"]).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if line.split(":", 1)[1])


def _keyfile(host, conn_id):
    """A keyfile netplan generated, as {section: {key: value}}."""
    text = host.exec(["cat", "{0}/{1}.nmconnection".format(NM_DIR, conn_id)]).stdout
    result, section = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            section = result.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, value = line.split("=", 1)
            section[key] = value
    return result


def _reboot(host):
    """Power-cycle the host (podman restart: a new boot, the transient timers gone).  podman may give
    eth0 another address; NetworkManager replaces it with the one of the restored profile, where the
    host is reached again."""
    lab.podman("restart", "--time", "20", host.name)
    host._wait_for_systemd()  # pylint: disable=protected-access
    host.exec(["nm-online", "-q", "-t", "60"])
    host._wait_for_sshd()  # pylint: disable=protected-access


def test_setup_is_netplan_with_networkmanager(nm_host):
    """The starting point: NetworkManager runs eth0 from netplan's profile; networkd renders nothing."""
    assert _state(nm_host) == _original(nm_host)
    assert _profiles(nm_host)["eth0"] == "netplan-eth0"
    assert nm_host.exec(["ls", "/run/systemd/network"], check=False).stdout.split() == []
    assert "saved-eth0" in nm_host.exec(["nmcli", "-g", "NAME", "connection"]).stdout.split()


def test_takeover_four_steps(nm_host, run_playbook, tmp_path):
    host = nm_host
    modes = _modes(host)
    proc, res = _run(run_playbook, tmp_path, host, FOUR_STEPS, bridge_args=dict(name="br0", ports=["eth0"], backend="auto"))
    assert proc.returncode == 0
    check, apply_, check2, apply2 = res["check"], res["apply"], res["check2"], res["apply2"]
    assert check["changed"] is True and check["backend"] == "netplan"
    assert apply_["changed"] is True and apply_["actions"] == check["actions"] and apply_["pending"] is False
    assert GATEWAY in apply_["reached"]
    assert check2["changed"] is False and check2["actions"] == []  # re-run: nothing to do
    assert apply2["changed"] is False
    assert _state(host) == dict(eth0=[], br0=[host.ip + "/16"], eth0_master="br0", default=[(GATEWAY, "br0")])
    # the bridge's file: 0600, NetworkManager as the renderer of each of its devices (not globally)
    assert _modes(host)["/etc/netplan/90-kvmops-br0.yaml"] == "600 root:root"
    ours = yaml.safe_load(host.exec(["cat", "/etc/netplan/90-kvmops-br0.yaml"]).stdout)["network"]
    assert "renderer" not in ours
    assert ours["ethernets"]["eth0"]["renderer"] == "NetworkManager"
    assert ours["bridges"]["br0"]["renderer"] == "NetworkManager" and ours["bridges"]["br0"]["interfaces"] == ["eth0"]
    # cloud-init's file lost eth0 and kept its mode, comment and other NIC; Ubuntu's global file is untouched
    cloud = host.exec(["cat", "/etc/netplan/50-cloud-init.yaml"]).stdout
    assert "eth0:" not in cloud and "        eth9:\n            dhcp4: true" in cloud and cloud.startswith("# written by the test")
    assert modes["/etc/netplan/50-cloud-init.yaml"] == _modes(host)["/etc/netplan/50-cloud-init.yaml"] == "600 root:root"
    assert sorted(apply_["files"]) == [SAVED, "/etc/netplan/50-cloud-init.yaml", "/etc/netplan/90-kvmops-br0.yaml"]
    # NetworkManager's own profile of eth0 no longer competes with netplan's; it keeps its mode
    assert "autoconnect=false" in host.exec(["cat", SAVED]).stdout.splitlines()
    assert modes[SAVED] == _modes(host)[SAVED] == "600 root:root"
    # netplan rendered for NetworkManager (not networkd), and NetworkManager runs the generated profiles
    bridge, port = _keyfile(host, "netplan-br0"), _keyfile(host, "netplan-eth0")
    assert bridge["connection"]["type"] == "bridge" and bridge["connection"]["interface-name"] == "br0"
    assert bridge["ipv4"]["address1"] == host.ip + "/16" and bridge["ipv4"]["route1"] == "0.0.0.0/0," + GATEWAY
    assert bridge["bridge"]["stp"] == "false"
    assert port["connection"]["master"] == "br0" and port["connection"]["slave-type"] == "bridge"
    assert "ipv4" not in port or "address1" not in port["ipv4"]
    assert host.exec(["ls", "/run/systemd/network"], check=False).stdout.split() == []
    profiles = _profiles(host)
    assert profiles["br0"] == "netplan-br0" and profiles["eth0"] == "netplan-eth0"


def test_absent_gives_the_address_back(nm_host, run_playbook, tmp_path):
    host = nm_host
    proc, res = _run(run_playbook, tmp_path, host, FOUR_STEPS, bridge_args=dict(name="br0", state="absent", backend="netplan"))
    assert proc.returncode == 0
    assert res["check"]["changed"] is True and "delete bridge br0" in res["check"]["actions"]
    assert res["apply"]["changed"] is True
    assert res["check2"]["changed"] is False and res["apply2"]["changed"] is False
    assert _state(host) == _original(host)
    released = yaml.safe_load(host.exec(["cat", "/etc/netplan/90-kvmops-eth0.yaml"]).stdout)["network"]["ethernets"]["eth0"]
    assert released["renderer"] == "NetworkManager" and released["addresses"] == [host.ip + "/16"]
    assert host.exec(["test", "-e", "/etc/netplan/90-kvmops-br0.yaml"], check=False).returncode != 0
    assert host.exec(["test", "-e", NM_DIR + "/netplan-br0.nmconnection"], check=False).returncode != 0
    assert _keyfile(host, "netplan-eth0")["ipv4"]["address1"] == host.ip + "/16"
    assert _profiles(host)["eth0"] == "netplan-eth0" and "br0" not in _profiles(host)


def test_wrong_gateway_rolls_back_at_once(nm_host, run_playbook, tmp_path):
    host = nm_host
    before = _state(host)
    files_before = host.exec(["sh", "-c", FILES]).stdout
    wrong = "10.88.255.254"
    assert host.exec(["ping", "-c1", "-W1", wrong], check=False).returncode != 0, wrong + " answers: pick another wrong gateway"
    args = dict(name="br0", ports=["eth0"], backend="netplan", ipv4=dict(address=host.ip + "/16", gateway=wrong))
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=args)
    assert proc.returncode == 0
    assert res["failed_when_result"] is False and res["changed"] is False  # the module failed; failed_when kept the play going
    assert "could not reach gateway {0} through br0".format(wrong) in res["msg"] and "rolled back" in res["msg"]
    assert _state(host) == before
    # netplan's files, modes, and the keyfiles generated from them are as before; NetworkManager runs the old profile
    assert host.exec(["sh", "-c", FILES]).stdout == files_before
    assert _profiles(host)["eth0"] == "netplan-eth0" and "br0" not in _profiles(host)
    assert "rollback of br0 done" in host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout


def test_unconfirmed_change_reverted_at_boot(nm_host, run_playbook, tmp_path):
    """The boot-time restore puts netplan's files back and renders them again
    before NetworkManager starts: eth0 comes back with its profile."""
    host = nm_host
    assert _state(host) == _original(host)
    files_before = host.exec(["sh", "-c", FILES]).stdout
    args = dict(name="br0", ports=["eth0"], backend="netplan", confirm=False, rollback_timeout=900)
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=args)
    assert proc.returncode == 0 and res["changed"] is True and res.get("pending") is True, res
    assert _state(host)["eth0_master"] == "br0" and _profiles(host)["br0"] == "netplan-br0"
    _reboot(host)
    after = _state(host)
    assert after == _original(host), after
    assert after["default"] == [(GATEWAY, "eth0")]
    assert host.exec(["sh", "-c", FILES]).stdout == files_before
    assert _profiles(host)["eth0"] == "netplan-eth0" and "br0" not in _profiles(host)
    log = host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout
    assert "(change {0}, boot) started".format(res["change_id"]) in log
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=dict(name="br0", confirm_only=True))
    assert proc.returncode == 0 and "rolled back" in res["msg"] and "at boot" in res["msg"]  # reachable over SSH


GOLDEN = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "golden" / "bridge" / "netplan"
# what netplan must render from the golden bridge files: {layout: {renderer: {generated file: lines in it}}}
RENDERED = {
    "bond": {
        "networkd": {"systemd/network/10-netplan-bond0.netdev": ["Kind=bond", "Mode=802.3ad", "LACPTransmitRate=fast",
                                                                 "MIIMonitorSec=100ms", "TransmitHashPolicy=layer3+4"],
                     "systemd/network/10-netplan-eno1.network": ["Bond=bond0"],
                     "systemd/network/10-netplan-eno2.network": ["Bond=bond0"],
                     "systemd/network/10-netplan-bond0.network": ["Bridge=br0"],
                     "systemd/network/10-netplan-br0.network": ["Address=192.0.2.10/24", "Gateway=192.0.2.1"]},
        "NetworkManager": {"NetworkManager/system-connections/netplan-bond0.nmconnection": [
            "type=bond", "mode=802.3ad", "lacp_rate=fast", "miimon=100", "xmit_hash_policy=layer3+4", "master=br0"],
            "NetworkManager/system-connections/netplan-eno1.nmconnection": ["slave-type=bond", "master=bond0"],
            "NetworkManager/system-connections/netplan-br0.nmconnection": ["type=bridge", "address1=192.0.2.10/24"]},
    },
    "vlan": {
        "networkd": {"systemd/network/10-netplan-eno1.100.netdev": ["Kind=vlan", "Id=100"],
                     "systemd/network/10-netplan-eno1.network": ["VLAN=eno1.100"],
                     "systemd/network/10-netplan-eno1.100.network": ["Bridge=br0"]},
        "NetworkManager": {"NetworkManager/system-connections/netplan-eno1.100.nmconnection": [
            "type=vlan", "id=100", "parent=eno1", "master=br0"]},
    },
    "bond-vlan": {
        "networkd": {"systemd/network/10-netplan-bond0.netdev": ["Kind=bond", "Mode=802.3ad"],
                     "systemd/network/10-netplan-bond0.100.netdev": ["Kind=vlan", "Id=100"],
                     "systemd/network/10-netplan-bond0.network": ["VLAN=bond0.100"],
                     "systemd/network/10-netplan-eno1.network": ["Bond=bond0"],
                     "systemd/network/10-netplan-bond0.100.network": ["Bridge=br0"]},
        "NetworkManager": {"NetworkManager/system-connections/netplan-bond0.100.nmconnection": [
            "type=vlan", "id=100", "parent=bond0", "master=br0"],
            "NetworkManager/system-connections/netplan-eno2.nmconnection": ["slave-type=bond", "master=bond0"]},
    },
}


@pytest.mark.parametrize("renderer", ["networkd", "NetworkManager"])
def test_golden_bond_vlan_files_accepted_by_netplan(nm_host, renderer):
    """netplan renders the golden files of the bond and VLAN layouts (this kernel has neither:
    `netplan generate --root-dir` needs no driver and leaves the host's own configuration alone)."""
    for layout, expected in sorted(RENDERED.items()):
        root = "/tmp/kvmops-golden-{0}-{1}".format(renderer, layout)
        text = (GOLDEN / layout / "files" / "etc" / "netplan" / "90-kvmops-br0.yaml").read_text(encoding="utf-8")
        nm_host.exec(["sh", "-c", "rm -rf {0} && mkdir -p {0}/etc/netplan && umask 077 && cat > {0}/etc/netplan/90-kvmops-br0.yaml"
                      .format(root)], input=text)
        if renderer == "NetworkManager":
            nm_host.exec(["sh", "-c", "umask 077 && printf 'network:\\n  version: 2\\n  renderer: NetworkManager\\n' > "
                          "{0}/etc/netplan/01-network-manager-all.yaml".format(root)])
        proc = nm_host.exec(["netplan", "generate", "--root-dir", root], check=False)
        assert proc.returncode == 0 and "rror" not in proc.stderr, (layout, proc.stderr)
        for path, lines in expected[renderer].items():
            rendered = nm_host.exec(["cat", "{0}/run/{1}".format(root, path)], check=False).stdout.splitlines()
            assert [line for line in lines if line not in rendered] == [], (layout, path, rendered)
        nm_host.exec(["rm", "-rf", root])


def test_trunk_bridges_accepted_by_netplan(nm_host, tmp_path):
    """A bridge per VLAN on one trunk (bond0.100 -> br100, bond0.200 -> br200), each rendered by the backend
    on its own: both files define eno1, eno2 and bond0 alike, which netplan merges into one definition."""
    bond = BondConfig("bond0", "802.3ad", ["eno1", "eno2"], miimon=100, lacp_rate="fast")
    root = "/tmp/kvmops-golden-trunk"
    nm_host.exec(["sh", "-c", "rm -rf {0} && mkdir -p {0}/etc/netplan".format(root)])
    local = tmp_path / "root"
    (local / "etc" / "netplan").mkdir(parents=True)
    for vid, address in ((100, "192.0.2.10/24"), (200, "198.51.100.10/24")):
        vlan = VlanConfig(vid, "bond0")
        cfg = NetConfig("br{0}".format(vid), [vlan.name], None, False, None, False, None, [IpConfig(4, "static", [address])],
                        bond=bond, vlan=vlan)
        path = "/etc/netplan/90-kvmops-br{0}.yaml".format(vid)
        text = NetplanBackend(Files(str(local))).present(cfg)[path]
        (local / path.lstrip("/")).write_text(text, encoding="utf-8")
        nm_host.exec(["sh", "-c", "umask 077 && cat > {0}{1}".format(root, path)], input=text)
    proc = nm_host.exec(["netplan", "generate", "--root-dir", root], check=False)
    assert proc.returncode == 0 and "rror" not in proc.stderr, proc.stderr
    network = "{0}/run/systemd/network".format(root)
    assert nm_host.exec(["cat", network + "/10-netplan-bond0.network"]).stdout.count("VLAN=") == 2
    for vid in (100, 200):
        assert "Bridge=br{0}".format(vid) in nm_host.exec(["cat", "{0}/10-netplan-bond0.{1}.network".format(network, vid)]).stdout
    assert "Bond=bond0" in nm_host.exec(["cat", network + "/10-netplan-eno2.network"]).stdout
    nm_host.exec(["rm", "-rf", root])
