# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge's safety guarantees (issue 11, items 3 to 5) over SSH on one
podman test host (systemd-networkd, set up as in test_bridge_testhost), never
on the runner.  The cases share the host and run in this order:

1. interface names with quotes and `$()` (a veth pair): the change and the
   timer's rollback run nothing a name says; confirm_only with the change's
   id then fails, naming the rollback;
2. an unconfirmed change, then the host restarted: it boots with the old
   configuration, reachable (its address may change; it is read again);
3. the bridge's lock held by someone else: a run waits, touching nothing;
4. a wrong gateway while the rollback timer fires: one rollback (the
   module's), the timer's script waits for the lock and finds nothing to do;
5. a port of another bridge is refused before anything is written;
6. a gateway through a bridge on another NIC that does not answer: the
   rollback puts back the host's default route the change replaced.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position
from test_bridge_testhost import GATEWAY, SETUP, _restart, _run, _state  # noqa: E402  pylint: disable=wrong-import-position

PORT = "q'$(>P)'"  # the kernel takes it; a shell that sees it unquoted creates a file named P
PEER = "qpeer0"
BRIDGE = 'b"$(>B)'
STATE = "/var/lib/kvmops/bridge"
LOCKS = "/run/kvmops/bridge"
CONFIG = "/etc/systemd/network"

CHANGE_ROLLED_BACK_BY_TIMER = """\
- name: A change left unconfirmed, the timer's rollback, then confirm_only
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Change, unconfirmed
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: change
    - name: Wait for the timer's rollback
      ansible.builtin.command: cat {{ log }}
      register: log_text
      until: ("done (change " ~ change.change_id ~ ")") in log_text.stdout
      retries: 60
      delay: 1
      changed_when: false
    - name: Confirm the change that was rolled back
      kvmops.hypervisor.kvm_bridge:
        name: "{{ bridge_args.name }}"
        confirm_only: true
        change_id: "{{ change.change_id }}"
      register: confirm
      failed_when: false
    - name: Confirm a change that was never armed
      kvmops.hypervisor.kvm_bridge:
        name: "{{ bridge_args.name }}"
        confirm_only: true
        change_id: "0000000000000000"
      register: never
      failed_when: false
    - name: Hand the results to the test
      ansible.builtin.copy:
        content: "{{ {'change': change, 'confirm': confirm, 'never': never} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""

ONE_RUN = """\
- name: kvm_bridge once
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Run
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: res
      failed_when: false
    - name: Hand the result to the test
      ansible.builtin.copy:
        content: "{{ res | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


@pytest.fixture(scope="module")
def host():
    th = lab.TestHost()
    try:
        th.start()
        th.exec(["sh", "-c", SETUP["networkd"]])
        th.exec(["systemctl", "enable", "--quiet", "systemd-networkd"])  # so that it reads the files at the next boot
        yield th
    finally:
        th.remove()


def _files(host):
    """The networkd files with their mode and owner, and their content."""
    return host.exec(["sh", "-c", "cd {0} && for f in *; do stat -c '%n %a %U:%G' \"$f\"; cat \"$f\"; done".format(CONFIG)]).stdout


def _exists(host, path):
    return host.exec(["test", "-e", path], check=False).returncode == 0


def _link(host, name):
    """(exists, master) of an interface, read on the host."""
    links = json.loads(host.exec(["ip", "-j", "link", "show"]).stdout)
    for link in links:
        if link["ifname"] == name:
            return True, link.get("master")
    return False, None


def _injected(host, marker):
    """Files named P or B made after `marker`: what a shell that ran a name would have left."""
    return host.exec(["find", "/", "-xdev", "-newer", marker, "(", "-name", "P", "-o", "-name", "B", ")", "-print"]).stdout.split()


def _wait(condition, timeout):
    """Poll until condition() holds; the deadline only bounds the wait."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.5)
    return condition()


def test_hostile_interface_names_are_quoted(host, run_playbook, tmp_path):
    host.exec(["ip", "link", "add", PORT, "type", "veth", "peer", "name", PEER])
    host.exec(["sh", "-c", 'ip link set dev "$1" up && ip link set dev "$2" up', "sh", PORT, PEER])
    host.exec(["touch", "/tmp/marker"])
    files_before = _files(host)
    log = "{0}/hex:{1}.rollback.log".format(STATE, BRIDGE.encode().hex())
    args = dict(name=BRIDGE, ports=[PORT], backend="networkd", ipv4=dict(address="192.168.77.2/24"),
                confirm=False, rollback_timeout=5)
    try:
        proc, res = _run(run_playbook, tmp_path, host, CHANGE_ROLLED_BACK_BY_TIMER, bridge_args=args, log=log)
        assert proc.returncode == 0, proc.stdout[-3000:]
        change = res["change"]
        assert change["changed"] is True and change["pending"] is True, change
        assert "create bridge " + BRIDGE in change["actions"] and change["rollback"]["change_id"] == change["change_id"]
        assert _injected(host, "/tmp/marker") == []
        # the timer rolled it back: no bridge, the port free, the files as before, recorded as such
        assert _link(host, BRIDGE) == (False, None) and _link(host, PORT) == (True, None)
        assert _files(host) == files_before
        last = json.loads(host.exec(["cat", "{0}/hex:{1}.last.json".format(STATE, BRIDGE.encode().hex())]).stdout)
        assert last["id"] == change["change_id"] and last["state"] == "rolled back" and last["by"] == "timer"
        # confirm_only tells rolled back and never armed apart, and fails on both
        confirm, never = res["confirm"], res["never"]
        assert confirm["failed_when_result"] is False and confirm["changed"] is False
        assert confirm["msg"].startswith("name: change {0} of {1} was rolled back (by the rollback timer".format(
            change["change_id"], BRIDGE)), confirm["msg"]
        assert never["msg"].startswith("change_id: no change 0000000000000000 of {0} was armed on this host".format(BRIDGE))
    finally:
        host.exec(["ip", "link", "del", PORT], check=False)
        host.exec(["ip", "link", "del", BRIDGE], check=False)


def test_unconfirmed_change_is_rolled_back_at_boot(host, run_playbook, tmp_path):
    before = _state(host)
    assert before["br0"] is None and before["eth0_master"] is None
    files_before = _files(host)
    args = dict(name="br0", ports=["eth0"], backend="networkd", confirm=False, rollback_timeout=900)
    proc, res = _run(run_playbook, tmp_path, host, ONE_RUN, bridge_args=args)
    assert proc.returncode == 0 and res["changed"] is True and res["pending"] is True, res
    change_id = res.get("change_id")
    assert _state(host)["eth0_master"] == "br0"

    # Power-cycled while the change waits: the transient timer is gone with the boot.
    _restart(host)  # podman may give it another address: read again

    after = _state(host)
    assert after["br0"] is None and after["eth0_master"] is None, after
    assert change_id, res
    assert host.ip + "/16" in after["eth0"] and after["default"] == [(GATEWAY, "eth0")]
    assert _files(host) == files_before
    assert not _exists(host, "{0}/br0".format(STATE))
    assert not _exists(host, "/etc/systemd/system/kvmops-bridge-boot-restore-br0.service")
    log = host.exec(["cat", STATE + "/br0.rollback.log"]).stdout
    assert "rollback of br0 (change {0}, boot) started".format(change_id) in log
    # reachable over SSH, and a later run does not take the rolled-back change for a confirmed one
    proc, res = _run(run_playbook, tmp_path, host, ONE_RUN, bridge_args=dict(name="br0", confirm_only=True, change_id=change_id))
    assert proc.returncode == 0
    assert res["msg"].startswith("name: change {0} of br0 was rolled back (at boot, the change being unconfirmed, ".format(
        change_id)), res["msg"]


def test_a_run_waits_for_the_bridge_lock(host, run_playbook, tmp_path):
    """Someone holds br0's lock (as a run or the rollback would): the module waits, touching nothing, then runs."""
    host.exec(["sh", "-c", "mkdir -p {0} && touch /run/kvmops-test-hold".format(LOCKS)])
    # flock -o: only the flock process itself has the lock file open
    host.exec(["systemd-run", "--unit", "kvmops-test-hold-lock", "flock", "-o", LOCKS + "/br0.lock",
               "sh", "-c", "while [ -e /run/kvmops-test-hold ]; do sleep 0.2; done"])
    assert _wait(lambda: host.exec(["flock", "-n", LOCKS + "/br0.lock", "true"], check=False).returncode != 0, 30)

    def openers():
        """How many processes have the lock file open (the holder, and the module once it waits)."""
        out = host.exec(["sh", "-c", "ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -c ' -> {0}/br0.lock$'; true".format(LOCKS)]).stdout
        return int(out.split()[0]) if out.split() else 0
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(zip(("proc", "res"), _run(
        run_playbook, tmp_path, host, ONE_RUN, bridge_args=dict(name="br0", ports=["eth0"], backend="networkd"))),))
    runner.start()
    try:
        # (with pipelining the module's command line does not name it: its open lock file does)
        started = _wait(lambda: openers() >= 2 or _link(host, "br0")[0] or not runner.is_alive(), 120)
        assert started, "the module never started"
        time.sleep(5)  # a takeover takes ~2 s: long enough for one that does not wait to show
        assert runner.is_alive(), outcome.get("res")
        assert _link(host, "br0") == (False, None) and not _exists(host, STATE + "/br0")
    finally:
        host.exec(["rm", "-f", "/run/kvmops-test-hold"])
        runner.join(300)
    proc, res = outcome["proc"], outcome["res"]
    assert proc.returncode == 0 and res["changed"] is True and "msg" not in res, res
    assert _state(host)["eth0_master"] == "br0"


def test_wrong_gateway_while_the_timer_fires(host, run_playbook, tmp_path):
    """The pings of a wrong gateway (~15 s) outlast rollback_timeout (5 s): the
    timer's script waits for the lock the module holds, the module rolls back
    itself, then the timer's script finds its change no longer pending."""
    before = _state(host)
    assert before["eth0_master"] == "br0"
    files_before = _files(host)
    wrong = "10.88.255.254"
    assert host.exec(["ping", "-c1", "-W1", wrong], check=False).returncode != 0, wrong + " answers: pick another wrong gateway"
    args = dict(name="br0", ports=["eth0"], backend="networkd", ipv4=dict(address=host.ip + "/16", gateway=wrong),
                rollback_timeout=5)
    proc, res = _run(run_playbook, tmp_path, host, ONE_RUN, bridge_args=args)
    assert proc.returncode == 0
    assert "could not reach gateway {0} through br0".format(wrong) in res["msg"] and "rolled back" in res["msg"], res["msg"]
    assert _state(host) == before and _files(host) == files_before
    last = json.loads(host.exec(["cat", STATE + "/br0.last.json"]).stdout)
    assert last["state"] == "rolled back" and last["by"] == "now"
    change_id = last["id"]

    def timer_done():
        return "change {0} of br0 is no longer pending (timer)".format(change_id) in host.exec(["cat", STATE + "/br0.rollback.log"]).stdout
    assert _wait(timer_done, 60), host.exec(["cat", STATE + "/br0.rollback.log"]).stdout
    assert host.exec(["cat", STATE + "/br0.rollback.log"]).stdout.count("done (change {0})".format(change_id)) == 1
    assert _state(host) == before


def test_a_port_of_another_bridge_is_refused(host, run_playbook, tmp_path):
    """A port enslaved to another bridge (or a bond) is not taken from it: the run fails naming
    `ports` before anything is written, and the other bridge keeps its port."""
    host.exec(["sh", "-c", "ip link add kvbp0 type veth peer name kvbp1 && ip link add kvbx type bridge && "
                           "ip link set kvbp0 master kvbx && ip link set kvbp0 up && ip link set kvbx up"])
    try:
        files_before = _files(host)
        args = dict(name="kvbr1", ports=["kvbp0"], backend="networkd", ipv4=dict(address="192.168.78.2/24"))
        proc, res = _run(run_playbook, tmp_path, host, ONE_RUN, bridge_args=args)
        assert proc.returncode == 0
        assert res.get("msg", "") == "ports: 'kvbp0' is a port of kvbx already; release it there first", res
        assert res["changed"] is False
        assert _link(host, "kvbp0") == (True, "kvbx") and _link(host, "kvbr1") == (False, None)
        assert _files(host) == files_before and not _exists(host, STATE + "/kvbr1")
    finally:
        host.exec(["sh", "-c", "ip link del kvbp0; ip link del kvbx"], check=False)


def test_a_replaced_default_route_comes_back(host, run_playbook, tmp_path):
    """The bridge (on a veth, not on the NIC with the default route) gets a static gateway that
    does not answer: its default route replaced the host's; the rollback puts the host's back."""
    host.exec(["sh", "-c", "ip link add kvbp2 type veth peer name kvbp3 && ip link set kvbp2 up && ip link set kvbp3 up"])
    try:
        def default_routes():
            return sorted(json.dumps(r, sort_keys=True) for r in json.loads(host.exec(["ip", "-j", "-4", "route", "show", "default"]).stdout))
        routes = default_routes()
        assert routes, "the host has no default route to lose"
        args = dict(name="kvbr2", ports=["kvbp2"], backend="networkd",
                    ipv4=dict(address="192.168.79.2/24", gateway="192.168.79.254"))
        proc, res = _run(run_playbook, tmp_path, host, ONE_RUN, bridge_args=args)
        assert proc.returncode == 0
        assert "could not reach gateway 192.168.79.254 through kvbr2" in res.get("msg", "") and "rolled back" in res["msg"], res
        assert default_routes() == routes
        assert _link(host, "kvbr2") == (False, None)
    finally:
        host.exec(["sh", "-c", "ip link del kvbp2; ip link del kvbr2"], check=False)
