# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netplan backend's files against golden files (tests/unit/fixtures/bridge/netplan; the bond and
VLAN layouts in golden/bridge/netplan, compared by test_bridge_golden.py):
cloud-init's 50-cloud-init.yaml loses the port's stanza and keeps its
comments and the other NIC; the bridge's file follows netplan's reference
(bridges.<id>.interfaces, macaddress, routes `to: default`, nameservers,
parameters.stp); the port's match/set-name move along, so a re-run is no change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BondConfig, NetConfig, VlanConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import detect_backend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._netplan import NetplanBackend, remove_ethernet
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import IpConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bridge" / "netplan"
MAC = "52:54:00:aa:bb:cc"


def _cfg():
    return NetConfig("br0", ["ens33"], MAC, False, None, False, None,
                     [IpConfig(4, "static", ["20.0.0.16/24"], "20.0.0.2", ["20.0.0.2"])])


@pytest.fixture
def root(tmp_path):
    etc = tmp_path / "etc" / "netplan"
    etc.mkdir(parents=True)
    (etc / "50-cloud-init.yaml").write_text((FIXTURES / "50-cloud-init.yaml.before").read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_takeover_files_match_the_golden_files(root):
    files = NetplanBackend(Files(str(root))).present(_cfg())
    assert sorted(files) == ["/etc/netplan/50-cloud-init.yaml", "/etc/netplan/90-kvmops-br0.yaml", "/etc/netplan/90-kvmops-ens33.yaml"]
    assert files["/etc/netplan/50-cloud-init.yaml"] == (FIXTURES / "50-cloud-init.yaml.after").read_text(encoding="utf-8")
    assert files["/etc/netplan/90-kvmops-br0.yaml"] == (FIXTURES / "90-kvmops-br0.yaml").read_text(encoding="utf-8")
    assert files["/etc/netplan/90-kvmops-ens33.yaml"] is None
    bridge = yaml.safe_load(files["/etc/netplan/90-kvmops-br0.yaml"])["network"]["bridges"]["br0"]
    assert bridge["interfaces"] == ["ens33"] and bridge["routes"] == [{"to": "default", "via": "20.0.0.2"}]
    assert NetplanBackend.file_mode == 0o600


def test_a_rerun_writes_the_same_bytes(root):
    backend = NetplanBackend(Files(str(root)))
    first = backend.present(_cfg())
    for path, text in first.items():
        if text is not None:
            (root / path.lstrip("/")).write_text(text, encoding="utf-8")
    again = backend.present(_cfg())
    assert again["/etc/netplan/90-kvmops-br0.yaml"] == first["/etc/netplan/90-kvmops-br0.yaml"]  # match/set-name kept
    assert "/etc/netplan/50-cloud-init.yaml" not in again


def test_absent_gives_the_address_back(root):
    backend = NetplanBackend(Files(str(root)))
    (root / "etc/netplan/90-kvmops-br0.yaml").write_text((FIXTURES / "90-kvmops-br0.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    port = NetConfig("ens33", ipcfgs=[IpConfig(4, "static", ["20.0.0.16/24"], "20.0.0.2", ["20.0.0.2"])])
    files = backend.absent("br0", port)
    assert files["/etc/netplan/90-kvmops-br0.yaml"] is None
    ens33 = yaml.safe_load(files["/etc/netplan/90-kvmops-ens33.yaml"])["network"]["ethernets"]["ens33"]
    assert ens33 == {"match": {"macaddress": MAC}, "set-name": "ens33", "dhcp4": False, "dhcp6": False,
                     "addresses": ["20.0.0.16/24"], "routes": [{"to": "default", "via": "20.0.0.2"}],
                     "nameservers": {"addresses": ["20.0.0.2"]}}


def test_remove_ethernet_edge_cases():
    only = "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n  # tail\n"
    assert remove_ethernet(only, {"eth0"}) == "network:\n  version: 2\n  # tail\n"  # an empty ethernets: goes too
    assert remove_ethernet(only, {"eth1"}) is None
    quoted = 'network:\n  ethernets:\n    "eth0": {dhcp4: true}\n    eth1: {}\n'
    assert remove_ethernet(quoted, {"eth0"}) == "network:\n  ethernets:\n    eth1: {}\n"
    with pytest.raises(KvmError) as e:
        remove_ethernet("network:\n  ethernets: {eth0: {}}\n", {"eth0"})
    assert "flow style" in str(e.value)


def test_a_port_that_cannot_be_taken_out_fails_before_anything(root):
    """A file whose layout the line editor cannot follow (flow style at the top) fails, naming it."""
    (root / "etc/netplan/50-cloud-init.yaml").write_text("network: {version: 2, ethernets: {ens33: {dhcp4: true}}}\n", encoding="utf-8")
    with pytest.raises(KvmError) as e:
        NetplanBackend(Files(str(root))).present(_cfg())
    assert str(e.value).startswith("backend: netplan: could not take ens33 out of /etc/netplan/50-cloud-init.yaml")


def test_auto_picks_netplan_before_what_it_renders_to(root):
    files = Files(str(root))

    def everything_runs(_argv):  # NetworkManager and networkd both "active"
        return 0, "", ""
    assert detect_backend(everything_runs, files, lambda cmd: "/usr/sbin/netplan") == "netplan"
    assert detect_backend(everything_runs, files, lambda cmd: None) == "networkmanager"
    os.unlink(str(root / "etc/netplan/50-cloud-init.yaml"))
    assert detect_backend(everything_runs, files, lambda cmd: "/usr/sbin/netplan") == "networkmanager"


# -- netplan with the NetworkManager renderer -----------------------------------------
# netplan's YAML reference: `renderer` "can be specified globally in network:, for a device
# type (in e.g. ethernets:) or for a particular device definition. Default is networkd."
# Lexicographically later files override earlier ones; a file in /run/netplan hides the one of
# the same name in /etc/netplan, which hides /lib/netplan's.

NM_ALL = "# Let NetworkManager manage all devices on this system\nnetwork:\n  version: 2\n  renderer: NetworkManager\n"

BRIDGE_NM = """\
# Managed by kvmops.hypervisor.kvm_bridge; local changes are overwritten.
network:
  version: 2
  ethernets:
    "ens33":
      renderer: NetworkManager
      match:
        macaddress: "52:54:00:aa:bb:cc"
      set-name: "ens33"
      dhcp4: false
      dhcp6: false
  bridges:
    "br0":
      renderer: NetworkManager
      interfaces: ["ens33"]
      macaddress: "52:54:00:aa:bb:cc"
      dhcp4: false
      dhcp6: false
      addresses: ["20.0.0.16/24"]
      routes:
        - to: default
          via: "20.0.0.2"
      nameservers:
        addresses: ["20.0.0.2"]
      parameters:
        stp: false
"""


def test_networkmanager_renderer_set_globally(root):
    """Ubuntu Desktop's 01-network-manager-all.yaml: the bridge's file names NetworkManager per device
    (a global renderer in it would move every other device too); NetworkManager makes the live change."""
    (root / "etc/netplan/01-network-manager-all.yaml").write_text(NM_ALL, encoding="utf-8")
    backend = NetplanBackend(Files(str(root)))
    files = backend.present(_cfg())
    assert files["/etc/netplan/90-kvmops-br0.yaml"] == BRIDGE_NM
    assert files["/etc/netplan/50-cloud-init.yaml"] == (FIXTURES / "50-cloud-init.yaml.after").read_text(encoding="utf-8")
    assert "/etc/netplan/01-network-manager-all.yaml" not in files
    assert backend.renderer == "NetworkManager"
    up_port = ("if [ -f /run/NetworkManager/system-connections/netplan-ens33.nmconnection ]; "
               "then nmcli --wait 30 connection up id netplan-ens33; fi")
    up_bridge = up_port.replace("ens33", "br0")
    change = backend.change_lines(None, ["create bridge br0"], "br0", ["ens33"], True)
    assert change == ["set -e", "netplan generate", "nmcli connection reload", up_port, up_bridge]  # no iproute2
    reload_ = backend.reload_lines(["br0", "ens33"])
    assert reload_[0] == "netplan generate" and reload_[-2:] == [up_port, up_bridge]
    # a re-run (the port's stanza in our file now) renders the same file
    for path, text in files.items():
        if text is not None:
            (root / path.lstrip("/")).write_text(text, encoding="utf-8")
    again = NetplanBackend(Files(str(root)))
    assert again.present(_cfg())["/etc/netplan/90-kvmops-br0.yaml"] == BRIDGE_NM and again.renderer == "NetworkManager"


def test_networkmanager_renderer_by_type_by_device_and_shadowing(root):
    cloud = root / "etc/netplan/50-cloud-init.yaml"
    before = (FIXTURES / "50-cloud-init.yaml.before").read_text(encoding="utf-8")
    cloud.write_text(before.replace("    ethernets:\n", "    ethernets:\n        renderer: NetworkManager\n"), encoding="utf-8")
    backend = NetplanBackend(Files(str(root)))
    assert backend.present(_cfg())["/etc/netplan/90-kvmops-br0.yaml"] == BRIDGE_NM  # the type's renderer
    cloud.write_text(before.replace("            set-name: ens33\n", "            set-name: ens33\n            renderer: NetworkManager\n"),
                     encoding="utf-8")
    assert backend.present(_cfg())["/etc/netplan/90-kvmops-br0.yaml"] == BRIDGE_NM  # the device's renderer
    # NetworkManager globally, networkd for this device: the bridge's file says networkd, per device
    (root / "etc/netplan/01-network-manager-all.yaml").write_text(NM_ALL, encoding="utf-8")
    cloud.write_text(before.replace("            set-name: ens33\n", "            set-name: ens33\n            renderer: networkd\n"),
                     encoding="utf-8")
    text = backend.present(_cfg())["/etc/netplan/90-kvmops-br0.yaml"]
    assert text == BRIDGE_NM.replace("NetworkManager", "networkd") and backend.renderer == "networkd"
    assert backend.change_lines(dict(bridge=dict(name="br0")), [], "br0", ["ens33"], True)[0] == "netplan generate"
    # a file of the same name in /run/netplan hides /etc/netplan's (whose global renderer is then gone)
    (root / "run/netplan").mkdir(parents=True)
    (root / "run/netplan/01-network-manager-all.yaml").write_text("network:\n  version: 2\n", encoding="utf-8")
    cloud.write_text(before, encoding="utf-8")
    assert backend.present(_cfg())["/etc/netplan/90-kvmops-br0.yaml"] == (FIXTURES / "90-kvmops-br0.yaml").read_text(encoding="utf-8")
    assert backend.renderer == "networkd"
    assert not any("nmcli --wait" in line for line in backend.reload_lines(["br0", "ens33"]))


def test_networkmanager_renderer_absent(root):
    """Released, the port keeps the NetworkManager renderer; the rollback would bring the bridge's profile
    back up, the change brings the port's up and deletes a bridge NetworkManager left behind."""
    (root / "etc/netplan/01-network-manager-all.yaml").write_text(NM_ALL, encoding="utf-8")
    (root / "etc/netplan/90-kvmops-br0.yaml").write_text(BRIDGE_NM, encoding="utf-8")
    (root / "etc/netplan/50-cloud-init.yaml").write_text((FIXTURES / "50-cloud-init.yaml.after").read_text(encoding="utf-8"),
                                                         encoding="utf-8")
    backend = NetplanBackend(Files(str(root)))
    port = NetConfig("ens33", ipcfgs=[IpConfig(4, "static", ["20.0.0.16/24"], "20.0.0.2", ["20.0.0.2"])])
    files = backend.absent("br0", port)
    ens33 = yaml.safe_load(files["/etc/netplan/90-kvmops-ens33.yaml"])["network"]["ethernets"]["ens33"]
    assert ens33["renderer"] == "NetworkManager" and ens33["addresses"] == ["20.0.0.16/24"]
    change = backend.change_lines(None, ["delete bridge br0"], "br0", ["ens33"], False)
    assert "nmcli --wait 30 connection up id netplan-ens33" in change[3]
    assert change[-1] == "if ip link show dev br0 >/dev/null 2>&1; then ip link del dev br0; fi"
    assert any("connection up id netplan-br0" in line for line in backend.reload_lines(["br0", "ens33"]))


# -- bonds and VLANs (the golden files of the three layouts: test_bridge_golden.py, golden/bridge/netplan) --------

INSTALLER = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    eno1:
      dhcp4: false
    eno2:
      dhcp4: false
    eno3:
      dhcp4: true
  bonds:
    bond0:
      interfaces: [eno1, eno2]
      addresses: [192.0.2.10/24]
      parameters:
        mode: active-backup
  version: 2
"""


def _bond_vlan():
    bond = BondConfig("bond0", "active-backup", ["eno1", "eno2"], miimon=100, primary="eno1")
    return bond, VlanConfig(100, "bond0")


def test_bond_members_and_bond_taken_out_of_the_installers_file(tmp_path):
    """The members' stanzas and the installer's own bond0 leave its file (one definition each, in ours);
    eno3 and the comment stay."""
    (tmp_path / "etc/netplan").mkdir(parents=True)
    (tmp_path / "etc/netplan/00-installer-config.yaml").write_text(INSTALLER, encoding="utf-8")
    bond, _vlan = _bond_vlan()
    cfg = NetConfig("br0", ["bond0"], MAC, False, None, False, None, [IpConfig(4, "static", ["192.0.2.10/24"])], bond=bond)
    files = NetplanBackend(Files(str(tmp_path))).present(cfg)
    assert files["/etc/netplan/00-installer-config.yaml"] == (
        "# This is the network config written by 'subiquity'\nnetwork:\n  ethernets:\n    eno3:\n      dhcp4: true\n  version: 2\n")
    ours = yaml.safe_load(files["/etc/netplan/90-kvmops-br0.yaml"])["network"]
    assert sorted(ours["ethernets"]) == ["eno1", "eno2"]
    assert ours["bonds"]["bond0"] == {"interfaces": ["eno1", "eno2"], "dhcp4": False, "dhcp6": False, "parameters": {
        "mode": "active-backup", "mii-monitor-interval": 100, "primary": "eno1"}}
    assert ours["bridges"]["br0"]["interfaces"] == ["bond0"]


def test_bond_vlan_released_keeps_the_bond_and_the_vlan(tmp_path):
    """absent: the bridge's file goes; the VLAN (on the bond, on its members) stays defined and gets the address."""
    bond, vlan = _bond_vlan()
    (tmp_path / "etc/netplan").mkdir(parents=True)
    bridge = NetConfig("br0", ["bond0.100"], MAC, False, None, False, None, [], bond=bond, vlan=vlan)
    (tmp_path / "etc/netplan/90-kvmops-br0.yaml").write_text(NetplanBackend(Files(str(tmp_path))).present(bridge)[
        "/etc/netplan/90-kvmops-br0.yaml"], encoding="utf-8")
    port = NetConfig("bond0.100", ipcfgs=[IpConfig(4, "static", ["192.0.2.10/24"], "192.0.2.1")], bond=bond, vlan=vlan)
    files = NetplanBackend(Files(str(tmp_path))).absent("br0", port)
    assert files["/etc/netplan/90-kvmops-br0.yaml"] is None
    released = yaml.safe_load(files["/etc/netplan/90-kvmops-bond0.100.yaml"])["network"]
    assert "bridges" not in released and sorted(released["ethernets"]) == ["eno1", "eno2"]
    assert released["bonds"]["bond0"]["interfaces"] == ["eno1", "eno2"] and released["bonds"]["bond0"]["dhcp4"] is False
    assert released["vlans"]["bond0.100"] == {"id": 100, "link": "bond0", "dhcp4": False, "dhcp6": False,
                                              "addresses": ["192.0.2.10/24"], "routes": [{"to": "default", "via": "192.0.2.1"}]}
    # taken over again, the release's file goes
    again = NetplanBackend(Files(str(tmp_path))).present(bridge)
    assert again["/etc/netplan/90-kvmops-bond0.100.yaml"] is None and again["/etc/netplan/90-kvmops-bond0.yaml"] is None


def test_networkmanager_renderer_own_profiles_of_the_port_stop_autoconnecting(root):
    """A profile NetworkManager saved for the NIC (by name or by MAC) would compete with netplan's at boot:
    it gets autoconnect=false (as with the networkmanager backend); other NICs' profiles are left alone.
    Not with networkd, which NetworkManager's profiles do not concern."""
    (root / "etc/netplan/01-network-manager-all.yaml").write_text(NM_ALL, encoding="utf-8")
    profiles = root / "etc/NetworkManager/system-connections"
    profiles.mkdir(parents=True)
    (root / "sys/class/net/ens33").mkdir(parents=True)
    (root / "sys/class/net/ens33/address").write_text(MAC + "\n", encoding="utf-8")
    by_name = "[connection]\nid=Wired connection 1\ntype=ethernet\ninterface-name=ens33\n\n[ipv4]\nmethod=auto\n"
    by_mac = "[connection]\nid=uplink\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:AA:BB:CC\n"
    other = "[connection]\nid=other\ntype=ethernet\ninterface-name=ens34\n"
    for name, text in (("Wired connection 1.nmconnection", by_name), ("uplink.nmconnection", by_mac), ("other.nmconnection", other)):
        (profiles / name).write_text(text, encoding="utf-8")
    files = NetplanBackend(Files(str(root))).present(_cfg())
    prefix = "/etc/NetworkManager/system-connections/"
    assert files[prefix + "Wired connection 1.nmconnection"] == by_name.replace("[connection]\n", "[connection]\nautoconnect=false\n")
    assert files[prefix + "uplink.nmconnection"] == by_mac.replace("[connection]\n", "[connection]\nautoconnect=false\n")
    assert prefix + "other.nmconnection" not in files
    os.unlink(str(root / "etc/netplan/01-network-manager-all.yaml"))
    assert not any(path.startswith(prefix) for path in NetplanBackend(Files(str(root))).present(_cfg()))
