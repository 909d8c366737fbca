# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge with a bond and a VLAN on a podman test host (issue 14), over SSH.

The test hosts share the runner's kernel.  Where it lacks the bonding or the
8021q driver (this runner's does), kvm_bridge must fail before changing
anything, naming the missing driver: checked in check mode and for real, the
files, links, addresses and the rollback state compared before and after.
Where the kernel has them, a bond of two veth ends becomes br0's port and the
host pings a peer through it (the other veth ends, bonded in a network
namespace of their own); on a kernel without them that test skips with a
reason starting "kernel:", the one skip KVMOPS_REQUIRE_ALL allows.

One host (privileged: `ip netns` needs it) serves every case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position

SETUP = """set -e
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
printf '[Match]\\nName=eth0\\n\\n[Network]\\nAddress=%s\\nGateway=10.88.0.1\\n' "$ip" > /etc/systemd/network/20-eth0.network
systemctl start systemd-networkd
"""

PLAY = """\
- name: kvm_bridge with a bond or a VLAN
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Check mode
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      check_mode: true
      register: step_check
      failed_when: false
    - name: Apply
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: step_apply
      failed_when: false
    - name: Hand the results to the test
      ansible.builtin.copy:
        content: "{{ {'check': step_check, 'apply': step_apply} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""

# Everything a change could touch: links and addresses, routes, the backends' files, the rollback's state.
SNAPSHOT = ("ip -o link show | awk '{print $2}'; ip -o addr show | awk '{print $2, $4}'; ip route show; "
            "cat /etc/systemd/network/* /etc/network/interfaces /etc/network/interfaces.d/* 2>/dev/null; "
            "ls -R /etc/systemd/network /var/lib/kvmops 2>/dev/null; "
            "systemctl list-units --all --no-legend 'kvmops-bridge-*' 2>/dev/null; true")


@pytest.fixture(scope="module")
def host():
    h = lab.TestHost(privileged=True)
    try:
        h.start()
        h.exec(["sh", "-c", SETUP])
        yield h
    finally:
        h.remove()


def _run(run_playbook, tmp_path, host, args):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    out = tmp_path / "out.json"
    if out.exists():
        out.unlink()
    proc = run_playbook(host, str(playbook), "-e", json.dumps(dict(bridge_args=args, out=str(out))))
    assert proc.returncode == 0
    return json.loads(out.read_text())


def _kernel_has(host, kind, extra=()):
    """Whether the host's kernel makes a `kind` link (bond, vlan): tried in the host, removed at once."""
    probe = "kvmops-probe"
    argv = ["ip", "link", "add"] + list(extra) + ["name", probe, "type", kind] + (["id", "7"] if kind == "vlan" else [])
    proc = host.exec(argv, check=False)
    if proc.returncode == 0:
        host.exec(["ip", "link", "del", probe])
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


@pytest.mark.parametrize("args, field, driver", [
    (dict(name="br0", bond=dict(name="bond0", mode="active-backup", ports=["eth0"]), backend="networkd"),
     "bond", "the managed host has no bonding driver (module bonding"),
    (dict(name="br0", vlan=dict(id=100, parent="eth0"), backend="networkd"),
     "vlan", "the managed host has no 802.1Q VLAN driver (module 8021q"),
])
def test_without_the_driver_nothing_changes(host, run_playbook, tmp_path, args, field, driver):
    kind = "bond" if field == "bond" else "vlan"
    has, why = _kernel_has(host, kind, ["link", "eth0"] if kind == "vlan" else [])
    if has:
        pytest.skip("kernel: this kernel has the {0} driver; the refusal without it is not testable here".format(kind))
    assert why, "ip link add type {0} failed without a message".format(kind)
    before = host.exec(["sh", "-c", SNAPSHOT]).stdout
    res = _run(run_playbook, tmp_path, host, args)
    for step in ("check", "apply"):
        r = res[step]
        assert r.get("changed") is False and r.get("msg", "").startswith("{0}: kernel: {1}".format(field, driver)), r
        assert r["msg"].endswith("nothing was changed") and "\n" not in r["msg"]
    assert host.exec(["sh", "-c", SNAPSHOT]).stdout == before
    assert host.exec(["ping", "-c1", "-W2", "10.88.0.1"], check=False).returncode == 0


PEER = """set -e
ip netns add kvmops-peer
for n in 0 1; do
  ip link add kvb$n type veth peer name kvp$n
  ip link set kvp$n netns kvmops-peer
done
ip -n kvmops-peer link add bondp type bond mode active-backup miimon 100
for n in 0 1; do ip -n kvmops-peer link set kvp$n down; ip -n kvmops-peer link set kvp$n master bondp; done
ip -n kvmops-peer link set bondp up
ip -n kvmops-peer addr add 198.51.100.2/24 dev bondp
ip addr add 198.51.100.1/24 dev kvb0
"""


def test_bond_under_the_bridge_carries_traffic(host, run_playbook, tmp_path):
    """bond0 (active-backup over kvb0, kvb1) becomes br0's port and takes kvb0's address; the host
    pings the peer through br0 -> bond0 -> veth; a re-run changes nothing; absent keeps the bond."""
    has, why = _kernel_has(host, "bond")
    if not has:
        pytest.skip("kernel: no bonding/8021q ({0})".format(why))
    host.exec(["sh", "-c", PEER])
    try:
        args = dict(name="kvbr0", bond=dict(name="kvbond0", mode="active-backup", ports=["kvb0", "kvb1"]), backend="networkd")
        res = _run(run_playbook, tmp_path, host, args)
        assert res["check"]["changed"] is True and "create bond kvbond0 (mode active-backup, ports kvb0, kvb1)" in res["check"]["actions"]
        assert res["apply"]["changed"] is True and "msg" not in res["apply"], res["apply"]
        assert host.exec(["cat", "/sys/class/net/kvbond0/master/uevent"]).stdout.count("INTERFACE=kvbr0") == 1
        assert "198.51.100.1/24" in host.exec(["ip", "-o", "addr", "show", "dev", "kvbr0"]).stdout
        assert host.exec(["ping", "-c3", "-W2", "-I", "kvbr0", "198.51.100.2"], check=False).returncode == 0
        again = _run(run_playbook, tmp_path, host, args)
        assert again["check"]["changed"] is False and again["apply"]["changed"] is False, again
        gone = _run(run_playbook, tmp_path, host, dict(args, state="absent"))
        assert gone["apply"]["changed"] is True and "msg" not in gone["apply"], gone["apply"]
        assert "198.51.100.1/24" in host.exec(["ip", "-o", "addr", "show", "dev", "kvbond0"]).stdout
        assert host.exec(["ping", "-c3", "-W2", "198.51.100.2"], check=False).returncode == 0
    finally:
        host.exec(["sh", "-c", "ip link del kvbr0; ip link del kvbond0; ip link del kvb0; ip link del kvb1; "
                   "ip netns del kvmops-peer; rm -f /etc/systemd/network/10-kvmops-kv*; true"], check=False)


GOLDEN = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "golden" / "bridge"

TOOLS = """set -e
# no service starts on install (NetworkManager would take eth0); eth0 stays networkd's
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
mkdir -p /etc/NetworkManager/conf.d
printf '[main]\\nno-auto-default=*\\n\\n[keyfile]\\nunmanaged-devices=interface-name:eth0;interface-name:lo\\n' \\
    > /etc/NetworkManager/conf.d/90-kvmops-test.conf
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends network-manager ifupdown ifenslave >/dev/null
rm -f /usr/sbin/policy-rc.d
"""


def _copy(host, source, dest):
    host.exec(["mkdir", "-p", dest])
    lab.podman("cp", str(source) + "/.", "{0}:{1}".format(host.name, dest))


def test_the_tools_read_the_golden_files_as_meant(host):
    """The golden files of test_bridge_golden.py loaded by the tools themselves (Debian 12: NetworkManager
    1.42, ifupdown 0.8 with ifenslave, systemd-networkd 252): each reads the bond and VLAN settings we mean.
    Nothing is brought up (the kernel may lack the drivers): NetworkManager's copies get autoconnect=false."""
    host.exec(["sh", "-c", TOOLS])
    # NetworkManager: every profile loads, with the bond options, the VLAN and the ports as written
    for layout in ("bond", "vlan", "bond-vlan"):
        _copy(host, GOLDEN / "networkmanager" / layout / "files" / "etc" / "NetworkManager" / "system-connections",
              "/etc/NetworkManager/system-connections")
    host.exec(["sh", "-c", "cd /etc/NetworkManager/system-connections && chmod 600 kvmops-* && "
               "sed -i 's/^\\[connection\\]$/[connection]\\nautoconnect=false/' kvmops-* && systemctl start NetworkManager && "
               "for i in $(seq 60); do nmcli -t general status >/dev/null 2>&1 && break; sleep 1; done; nmcli connection reload"])

    def nm(conn, fields):
        out = host.exec(["nmcli", "-t", "-f", fields, "connection", "show", conn]).stdout
        return dict(line.split(":", 1) for line in out.splitlines())
    bond = nm("kvmops-br0-port-bond0", "connection.type,connection.interface-name,connection.master,connection.slave-type,bond.options")
    assert (bond["connection.type"], bond["connection.master"], bond["connection.slave-type"]) == ("bond", "br0", "bridge")
    assert set(bond["bond.options"].split(",")) >= {"mode=802.3ad", "miimon=100", "lacp_rate=fast", "xmit_hash_policy=layer3+4"}
    port = nm("kvmops-bond0-port-eno1", "connection.type,connection.interface-name,connection.master,connection.slave-type")
    assert port == {"connection.type": "802-3-ethernet", "connection.interface-name": "eno1", "connection.master": "bond0",
                    "connection.slave-type": "bond"}
    vlan = nm("kvmops-br0-port-bond0.100", "connection.type,connection.master,vlan.id,vlan.parent")
    assert vlan == {"connection.type": "vlan", "connection.master": "br0", "vlan.id": "100", "vlan.parent": "bond0"}
    lower = nm("kvmops-bond0", "connection.type,ipv4.method,bond.options")
    assert lower["connection.type"] == "bond" and lower["ipv4.method"] == "disabled"
    assert nm("kvmops-br0-port-eno1.100", "vlan.id,vlan.parent") == {"vlan.id": "100", "vlan.parent": "eno1"}
    # ifupdown: ifquery parses the stanzas and reads the options
    _copy(host, GOLDEN / "ifupdown" / "bond" / "files" / "etc" / "network" / "interfaces.d", "/tmp/golden/bond")
    _copy(host, GOLDEN / "ifupdown" / "bond-vlan" / "files" / "etc" / "network" / "interfaces.d", "/tmp/golden/bond-vlan")

    def ifquery(path, iface):
        return host.exec(["ifquery", "--interfaces", path, iface]).stdout.splitlines()
    assert {"bond-slaves: eno1 eno2", "bond-mode: 802.3ad", "bond-miimon: 100", "bond-lacp-rate: fast",
            "bond-xmit-hash-policy: layer3+4"} <= set(ifquery("/tmp/golden/bond/kvmops-br0", "bond0"))
    assert "bridge_ports: bond0" in ifquery("/tmp/golden/bond/kvmops-br0", "br0")
    assert "vlan-raw-device: bond0" in ifquery("/tmp/golden/bond-vlan/kvmops-br0", "bond0.100")
    assert "bond-mode: 802.3ad" in ifquery("/tmp/golden/bond-vlan/kvmops-bond0", "bond0")
    # systemd-networkd: no complaint about any key of the bond/VLAN files (br0's own files are left out: it would
    # get an address); a file with a wrong key shows the check would see one
    files = GOLDEN / "networkd" / "bond-vlan" / "files" / "etc" / "systemd" / "network"
    _copy(host, files, "/tmp/golden/networkd")
    host.exec(["sh", "-c", "cp -r /tmp/golden/networkd/. /etc/systemd/network/ && rm /etc/systemd/network/10-kvmops-br0.* && "
               "printf '[Match]\\nName=kvmops-none\\n\\n[Network]\\nBondd=bond0\\n' > /etc/systemd/network/10-kvmops-probe.network && "
               "journalctl --rotate >/dev/null 2>&1; date +%s > /tmp/since && networkctl reload && sleep 2"])
    log = host.exec(["sh", "-c", "journalctl -o cat -u systemd-networkd --since @$(cat /tmp/since)"]).stdout
    words = ("Unknown", "Failed to parse", "Invalid")
    complaints = [line for line in log.splitlines() if "10-kvmops-" in line and any(w in line for w in words)]
    assert [line for line in complaints if "10-kvmops-probe.network" in line], log  # the check sees a wrong key
    assert [line for line in complaints if "10-kvmops-probe.network" not in line] == []
