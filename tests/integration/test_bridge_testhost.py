# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge and the kvm_bridge role over SSH on podman test hosts, never on
the runner.  One host per backend (systemd-networkd, ifupdown, NetworkManager,
netplan: installed with apt in the host at test time); the cases run
in order on it: takeover in four steps, a wrong gateway rolled back at once, a
change left unconfirmed rolled back by the timer, absent.

Before the first case the test writes a configuration for eth0 that matches
what podman gave it, so backend=auto has something real to detect.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position

GATEWAY = "10.88.0.1"  # podman's bridge, which is also the runner (the controller)

FOUR_STEPS = """\
- name: kvm_bridge in four steps
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Check mode
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      check_mode: true
      diff: true
      register: step_check
    - name: Live state after check mode
      ansible.builtin.command: ip -j addr show
      register: state_after_check
      changed_when: false
    - name: Apply
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: step_apply
    - name: The SSH connection survived
      ansible.builtin.ping:
    - name: Check again
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      check_mode: true
      register: step_check2
    - name: Apply again
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: step_apply2
    - name: Hand the results to the test
      ansible.builtin.copy:
        content: "{{ {'check': step_check, 'apply': step_apply, 'check2': step_check2, 'apply2': step_apply2,
                      'addr_after_check': state_after_check.stdout | from_json} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""

WRONG_GATEWAY = """\
- name: kvm_bridge with a gateway that does not answer
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Take over with a wrong gateway
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: wrong
      failed_when: false
    - name: Hand the result to the test
      ansible.builtin.copy:
        content: "{{ wrong | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""

ROLE_UNCONFIRMED = """\
- name: The kvm_bridge role, confirmation withheld
  hosts: kvm_hosts
  gather_facts: false
  roles:
    - role: kvmops.hypervisor.kvm_bridge
      vars:
        kvm_bridge_ports: [eth0]
        kvm_bridge_backend: "{{ backend }}"
        kvm_bridge_rollback_timeout: 10
        kvm_bridge_confirm: false
  post_tasks:
    - name: Hand the result to the test
      ansible.builtin.copy:
        content: "{{ kvm_bridge_result | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""

ROLE_CONFIRMED = ROLE_UNCONFIRMED.replace("kvm_bridge_confirm: false", "kvm_bridge_confirm: true").replace(
    "confirmation withheld", "confirmed")

SETUP = {
    "networkd": """set -e
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
printf '[Match]\\nName=eth0\\n\\n[Network]\\nAddress=%s\\nGateway=10.88.0.1\\n' "$ip" \\
    > /etc/systemd/network/20-eth0.network
systemctl start systemd-networkd
""",
    "ifupdown": """set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ifupdown bridge-utils >/dev/null
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
printf 'source /etc/network/interfaces.d/*\\n\\nauto lo\\niface lo inet loopback\\n\\n' > /etc/network/interfaces
printf 'allow-hotplug eth0\\niface eth0 inet static\\n    address %s\\n    gateway 10.88.0.1\\n' "$ip" >> /etc/network/interfaces
# An administrator's file that only root and adm may read: it keeps its mode and owner when eth0's stanza is moved out.
printf 'iface eth0 inet6 manual\\n    wpa-psk not-a-real-secret\\n' > /etc/network/interfaces.d/eth0-secret
chgrp adm /etc/network/interfaces.d/eth0-secret && chmod 0600 /etc/network/interfaces.d/eth0-secret
""",
    "netplan": """set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends netplan.io >/dev/null
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
umask 077
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
netplan generate
systemctl start systemd-networkd
""",
    "networkmanager": """set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends network-manager >/dev/null
ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}')
nmcli connection add type ethernet ifname eth0 con-name eth0-static ipv4.method manual ipv4.addresses "$ip" \\
    ipv4.gateway 10.88.0.1 ipv6.method ignore >/dev/null
nmcli connection up eth0-static >/dev/null
""",
}


@pytest.fixture(scope="module", params=["networkd", "ifupdown", "networkmanager", "netplan"])
def bridge_host(request):
    host = lab.TestHost(devices=["/dev/net/tun"])  # a guest's tap device on br0
    try:
        host.start()
        host.exec(["sh", "-c", SETUP[request.param]])
        yield request.param, host
    finally:
        host.remove()


def _state(host):
    """eth0's and br0's global IPv4 addresses, br0's ports, the default routes: read on the host itself."""
    addrs = json.loads(host.exec(["ip", "-j", "-4", "addr", "show"]).stdout)
    by_dev = dict((a["ifname"], sorted("{0}/{1}".format(i["local"], i["prefixlen"]) for i in a["addr_info"]
                                       if i.get("scope") == "global")) for a in addrs)
    links = json.loads(host.exec(["ip", "-j", "link", "show"]).stdout)
    master = dict((link["ifname"], link.get("master")) for link in links)
    routes = json.loads(host.exec(["ip", "-j", "-4", "route", "show", "default"]).stdout)
    return dict(eth0=by_dev.get("eth0", []), br0=by_dev.get("br0"), eth0_master=master.get("eth0"),
                default=sorted(set((r["gateway"], r["dev"]) for r in routes)))


CONFIG_FILES = "cat /etc/systemd/network/* /etc/network/interfaces /etc/network/interfaces.d/* /etc/netplan/* 2>/dev/null; true"


def _modes(host):
    """Mode and owner of every file in the backends' configuration directories."""
    out = host.exec(["sh", "-c", "stat -c '%n %a %U:%G' /etc/systemd/network/* /etc/network/interfaces "
                     "/etc/network/interfaces.d/* /etc/NetworkManager/system-connections/* /etc/netplan/* 2>/dev/null; true"]).stdout
    return dict(line.rsplit(" ", 2)[0:1] + [" ".join(line.rsplit(" ", 2)[1:])] for line in out.splitlines())


def _kept(before, after):
    """Files that existed before and still exist keep their mode and owner."""
    return dict((path, (mode, after[path])) for path, mode in before.items() if path in after and after[path] != mode)


def _run(run_playbook, tmp_path, host, text, **extra):
    playbook = tmp_path / "play.yml"
    playbook.write_text(text)
    out = tmp_path / "out.json"
    if out.exists():
        out.unlink()
    extra["out"] = str(out)
    proc = run_playbook(host, str(playbook), "-e", json.dumps(extra))
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def _wait_for_state(host, expected, timeout):
    """Poll (no timed assertion: the deadline only bounds the wait) until the host is back as it was."""
    deadline = time.monotonic() + timeout
    state = _state(host)
    while state != expected and time.monotonic() < deadline:
        time.sleep(1)
        state = _state(host)
    return state


def _wait_for_timer_gone(host, timeout):
    """Poll (the deadline only bounds the wait) until the rollback timer is no longer active; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = host.exec(["systemctl", "is-active", "kvmops-bridge-rollback-br0.timer"], check=False).stdout.strip()
        if state != "active" or time.monotonic() >= deadline:
            return state
        time.sleep(1)


def _restart(host):
    """Power-cycle the host (podman restart: a new boot, the transient timers gone); its address is read again."""
    lab.podman("restart", "--time", "20", host.name)
    host.ip = host._ip()  # pylint: disable=protected-access
    host._wait_for_systemd()  # pylint: disable=protected-access
    host._wait_for_sshd()  # pylint: disable=protected-access


def _original(host):
    return dict(eth0=[host.ip + "/16"], br0=None, eth0_master=None, default=[(GATEWAY, "eth0")])


def test_takeover_four_steps(bridge_host, run_playbook, tmp_path):
    backend, host = bridge_host
    before = _state(host)
    assert before == _original(host)
    modes = _modes(host)
    proc, res = _run(run_playbook, tmp_path, host, FOUR_STEPS, bridge_args=dict(name="br0", ports=["eth0"], backend="auto"))
    assert proc.returncode == 0
    check, apply_, check2, apply2 = res["check"], res["apply"], res["check2"], res["apply2"]
    assert check["changed"] is True and check["backend"] == backend
    assert "create bridge br0" in check["actions"]
    assert check["bridge"]["addresses"] == [host.ip + "/16"]
    assert any(d["before_header"] == "live state" for d in check["diff"])
    # check mode touched nothing: eth0 still had its address when checked
    eth0 = [a for a in res["addr_after_check"] if a["ifname"] == "eth0"][0]
    assert host.ip in [i["local"] for i in eth0["addr_info"]]
    assert apply_["changed"] is True and apply_["actions"] == check["actions"] and apply_["pending"] is False
    assert GATEWAY in apply_["reached"]
    assert check2["changed"] is False and check2["actions"] == []
    assert apply2["changed"] is False
    after = _state(host)
    assert after == dict(eth0=[], br0=[host.ip + "/16"], eth0_master="br0", default=[(GATEWAY, "br0")])
    mac_eth0 = host.exec(["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    assert host.exec(["cat", "/sys/class/net/br0/address"]).stdout.strip() == mac_eth0
    for path in apply_["files"]:
        assert host.exec(["test", "-f", path], check=False).returncode == 0, path
    assert host.exec(["test", "-e", "/var/lib/kvmops/bridge/br0"], check=False).returncode != 0  # confirmed: no backup left
    assert _kept(modes, _modes(host)) == {}
    if backend == "ifupdown":
        # the administrator's 0600 root:adm file lost eth0's stanza and kept its mode and owner
        assert modes["/etc/network/interfaces.d/eth0-secret"] == "600 root:adm"
        assert "/etc/network/interfaces.d/eth0-secret" in apply_["files"]
        # the installer-style stanza of eth0 is commented out, and ifupdown itself reads the new files
        active = [line for line in host.exec(["cat", "/etc/network/interfaces"]).stdout.splitlines() if "eth0" in line and not line.startswith("#")]
        assert active == []
        query = host.exec(["ifquery", "br0"]).stdout.splitlines()
        assert "bridge_ports: eth0" in query and "address: {0}".format(host.ip) in query
    if backend == "netplan":
        # netplan's own file, 0600; cloud-init's file lost eth0 and kept its mode, comment and other NIC
        assert _modes(host)["/etc/netplan/90-kvmops-br0.yaml"] == "600 root:root"
        assert modes["/etc/netplan/50-cloud-init.yaml"] == "600 root:root"
        cloud = host.exec(["cat", "/etc/netplan/50-cloud-init.yaml"]).stdout
        assert "eth0:" not in cloud and "        eth9:\n            dhcp4: true" in cloud and cloud.startswith("# written by the test")
        assert "eth0" in host.exec(["netplan", "get", "bridges.br0.interfaces"]).stdout
        # netplan rendered the bridge for networkd, which manages it now
        assert host.exec(["test", "-f", "/run/systemd/network/10-netplan-br0.network"], check=False).returncode == 0
        assert "10-netplan-br0.network" in host.exec(["networkctl", "status", "br0"]).stdout
    if backend == "networkmanager":
        # NetworkManager itself runs the new profiles; the old one no longer autoconnects
        devices = host.exec(["nmcli", "-t", "-f", "DEVICE,CONNECTION", "device"]).stdout.splitlines()
        assert "br0:kvmops-br0" in devices and "eth0:kvmops-br0-port-eth0" in devices
        assert "autoconnect=false" in host.exec(["cat", "/etc/NetworkManager/system-connections/eth0-static.nmconnection"]).stdout


def test_guest_taps_stay_plugged(bridge_host, run_playbook, tmp_path):
    """A guest's tap device on br0 (libvirt's vnetN) is not a port to remove: a re-run leaves it plugged."""
    _backend, host = bridge_host
    host.exec(["sh", "-c", "ip tuntap add dev vnet7 mode tap && ip link set vnet7 master br0 up"])
    try:
        proc, res = _run(run_playbook, tmp_path, host, FOUR_STEPS, bridge_args=dict(name="br0", ports=["eth0"], backend="auto"))
        assert proc.returncode == 0
        assert res["check"]["changed"] is False and res["apply"]["changed"] is False, res["apply"].get("actions")
        assert host.exec(["cat", "/sys/class/net/vnet7/master/uevent"]).stdout.count("INTERFACE=br0") == 1
    finally:
        host.exec(["ip", "link", "del", "vnet7"], check=False)


def test_absent_restores_the_port(bridge_host, run_playbook, tmp_path):
    backend, host = bridge_host
    proc, res = _run(run_playbook, tmp_path, host, FOUR_STEPS, bridge_args=dict(name="br0", state="absent", backend=backend))
    assert proc.returncode == 0
    assert res["check"]["changed"] is True and "delete bridge br0" in res["check"]["actions"]
    assert res["apply"]["changed"] is True
    assert res["check2"]["changed"] is False and res["apply2"]["changed"] is False
    assert _state(host) == _original(host)


def test_wrong_gateway_rolls_back_at_once(bridge_host, run_playbook, tmp_path):
    backend, host = bridge_host
    before = _state(host)
    modes = _modes(host)
    files_before = host.exec(["sh", "-c", CONFIG_FILES]).stdout
    # The network's last address: podman hands out addresses from the start of
    # 10.88.0.0/16, and on a busy runner 10.88.0.254 was another container.
    wrong = "10.88.255.254"
    assert host.exec(["ping", "-c1", "-W1", wrong], check=False).returncode != 0, wrong + " answers: pick another wrong gateway"
    args = dict(name="br0", ports=["eth0"], backend=backend, ipv4=dict(address=host.ip + "/16", gateway=wrong))
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=args)
    assert proc.returncode == 0
    assert res["failed_when_result"] is False and res["changed"] is False  # the module failed; failed_when kept the play going
    assert "could not reach gateway {0} through br0".format(wrong) in res["msg"] and "rolled back" in res["msg"]
    assert _state(host) == before
    files_after = host.exec(["sh", "-c", CONFIG_FILES]).stdout
    assert files_after == files_before
    assert _modes(host) == modes  # the rollback puts back mode and owner too
    assert "rollback of br0 done" in host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout


def test_role_unconfirmed_is_rolled_back_by_the_timer(bridge_host, run_playbook, tmp_path):
    backend, host = bridge_host
    before = _state(host)
    proc, res = _run(run_playbook, tmp_path, host, ROLE_UNCONFIRMED, backend=backend)
    assert proc.returncode == 0
    assert res["changed"] is True and res["pending"] is True
    assert res["rollback"]["timeout"] == 10
    # the change was armed: right after the play its timer is active, or (the play's reconnection took
    # longer than the 10 s under load) it has fired already and its rollback has started
    timer = host.exec(["systemctl", "is-active", "kvmops-bridge-rollback-br0.timer"], check=False).stdout.strip()
    log = host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"], check=False).stdout
    assert timer == "active" or "(change {0}, timer) started".format(res["change_id"]) in log, (timer, log)
    state = _wait_for_state(host, before, timeout=60)
    assert state == before, "not rolled back by the timer"
    # The addresses come back before the rollback's last steps (the backend's
    # reload); the timer goes once its service has finished.
    assert _wait_for_timer_gone(host, timeout=60) != "active", "the rollback timer is still active"
    assert "rollback of br0 done" in host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout
    # reachable again: a play over SSH works
    proc, res = _run(run_playbook, tmp_path, host, ROLE_CONFIRMED, backend=backend)
    assert proc.returncode == 0 and res["changed"] is True and res["pending"] is True
    # the role confirmed: nothing armed, bridge stays
    assert host.exec(["systemctl", "is-active", "kvmops-bridge-rollback-br0.timer"], check=False).stdout.strip() != "active"
    assert _state(host)["eth0_master"] == "br0"
    proc, res = _run(run_playbook, tmp_path, host, ROLE_CONFIRMED, backend=backend)
    assert proc.returncode == 0 and res["changed"] is False


@pytest.mark.parametrize("bridge_host", ["netplan"], indirect=True)
def test_netplan_unconfirmed_change_reverted_at_boot(bridge_host, run_playbook, tmp_path):
    """systemd runs netplan's generator before any unit: the boot-time restore
    puts the files back and renders them again before networkd starts.  From
    eth0 with its address (the bridge the role left is released first), a
    takeover left unconfirmed, then a restart: eth0 comes back as it was,
    reachable (podman may give the host another address: both are on eth0
    then, the old one from the restored file)."""
    _backend, host = bridge_host
    host.exec(["systemctl", "enable", "--quiet", "systemd-networkd"])  # a real host starts it at boot
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=dict(name="br0", state="absent", backend="netplan"))
    assert proc.returncode == 0 and res["changed"] is True and "msg" not in res, res
    assert _state(host) == _original(host)
    files = "cat /etc/netplan/*; stat -c '%n %a %U:%G' /etc/netplan/*"
    files_before = host.exec(["sh", "-c", files]).stdout
    args = dict(name="br0", ports=["eth0"], backend="netplan", confirm=False, rollback_timeout=900)
    proc, res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=args)
    assert proc.returncode == 0 and res["changed"] is True and res.get("pending") is True, res
    assert _state(host)["eth0_master"] == "br0"
    _restart(host)
    after = _state(host)
    assert after["br0"] is None and after["eth0_master"] is None and host.ip + "/16" in after["eth0"], after
    assert after["default"] == [(GATEWAY, "eth0")]
    assert host.exec(["sh", "-c", files]).stdout == files_before
    assert host.exec(["ls", "/run/systemd/network"]).stdout.split() == ["10-netplan-eth0.network", "10-netplan-eth9.network"]
    assert "(change {0}, boot) started".format(res["change_id"]) in host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout
    proc, _res = _run(run_playbook, tmp_path, host, WRONG_GATEWAY, bridge_args=dict(name="br0", confirm_only=True))
    assert proc.returncode == 0  # reachable over SSH at its (new) address
