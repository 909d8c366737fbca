# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirtd restarted or stopped in the middle of a playbook: a clear error, and a re-run converges.

On a privileged test host (libvirtd runs there under the host's own systemd;
the runner's shared libvirtd is never touched) made a KVM host by the
collection's kvm_host role (playbooks/robust_prepare.yml), the play
playbooks/robust_restart.yml makes a pool, volumes (one an upload), NAT
networks and guests, one module run (one libvirt connection) per object,
while libvirtd is disrupted from inside the host. The disruption is a
transient systemd unit the play starts, triggered by what the play does, not
by a clock:

1. stop: libvirtd and its sockets are stopped once the second volume exists.
   With socket activation (Debian's default) stopping libvirtd.service alone
   is no outage at all (the next connection starts it again), so the sockets
   are stopped too: libvirtd is really unreachable. The later items of the
   volume loop fail, each with one line: "cannot connect to libvirtd ... (is
   libvirtd running?)" naming the object looked up (or, for an item caught
   while connected, "lost the connection to libvirtd ..."). Once libvirtd is
   started again, a re-run converges.
2. restart: `systemctl restart libvirtd` once the shutdown task's module is
   connected (it waits there up to shutdown_timeout for a guest without an OS
   that ignores ACPI): that task fails with "lost the connection to libvirtd
   (qemu:///system) while domain <name>: ...", not a traceback. Every task
   before it reports no change (scenario 1 converged). A re-run converges (the
   guest, still running since libvirtd's restart leaves QEMU alone, is shut
   down), and a third run changes nothing.

Finally the objects are complete and not duplicated: exactly the configured
pool, volumes (each a valid qcow2 of the configured size; the upload with the
source's checksum), networks and domains (each with its one disk and the
configured interfaces, no two domains on one disk).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position

PREPARE = "tests/integration/playbooks/robust_prepare.yml"
PLAYBOOK = "tests/integration/playbooks/robust_restart.yml"
PREFIX = "kvmops-it-restart-"
POOL = PREFIX + "pool"
POOL_DIR = "/var/lib/kvmops-it-restart/pool"
UPLOAD_SRC = "/var/lib/kvmops-it-restart-src/upload.img"
VOLUMES = ["{0}vol{1}.qcow2".format(PREFIX, index) for index in range(1, 5)]
UPLOAD = PREFIX + "upload.img"
NETWORKS = [PREFIX + "net1"]
WAIT_GUEST = PREFIX + "wait"
GUESTS = {PREFIX + "vm1": (VOLUMES[0], NETWORKS[0]), WAIT_GUEST: (VOLUMES[3], None)}
SOCKETS = "libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket"

UNREACHABLE = re.compile(r"^uri: cannot connect to libvirtd at qemu:///system to (?P<what>.+) \(is libvirtd running\?\): \S.*$")
LOST = re.compile(r"^lost the connection to libvirtd \(qemu:///system\) while (?P<what>.+): \S.* \(libvirtd was restarted or "
                  r"stopped during this task; run it again once libvirtd is back\)$")


class Play:
    """One ansible-playbook run, read through the ansible.posix.json callback."""

    def __init__(self, proc, seconds):
        self.proc = proc
        self.seconds = seconds
        try:
            self.doc = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("no JSON from ansible-playbook (rc={0}): {1}\n{2}".format(
                proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))

    @property
    def rc(self):
        return self.proc.returncode

    def results(self):
        """(task name, result) of every task, in order."""
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                for result in task["hosts"].values():
                    yield task["task"]["name"], result

    @staticmethod
    def item_failed(item):
        """ansible-core 2.21 keeps `failed` out of a loop item's result for callbacks; a failed item
        still carries `exception` ("(traceback unavailable)" when there is none), a good one never."""
        return bool(item.get("failed")) or "exception" in item

    def failures(self):
        """(task name, item or None, msg) of every failed result (loop items one by one)."""
        found = []
        for name, result in self.results():
            items = result.get("results")
            if items:
                found += [(name, item.get("item"), item.get("msg", "")) for item in items if self.item_failed(item)]
            elif result.get("failed"):
                found.append((name, None, result.get("msg", "")))
        return found

    def changed_tasks(self):
        return [name for name, result in self.results() if result.get("changed")]

    def stats(self):
        return list(self.doc["stats"].values())[0]

    def summary(self):
        lines = ["rc={0} in {1:.0f}s, stats={2}".format(self.rc, self.seconds, self.doc.get("stats"))]
        for name, result in self.results():
            state = "FAILED" if result.get("failed") else ("changed" if result.get("changed") else "ok")
            lines.append("  {0}: {1} {2}".format(state, name, (result.get("msg") or "")[:300]))
            for item in result.get("results") or []:
                if self.item_failed(item):
                    lines.append("    FAILED item {0}: {1}".format(item.get("item"), (item.get("msg") or "")[:300]))
        return "\n".join(lines)


def run_play(host, inventory, playbook, *extra):
    env = lab.playbook_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    lab.write_inventory([host], inventory)
    began = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), playbook, *extra],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, check=False)
    play = Play(proc, time.monotonic() - began)
    print("$ ansible-playbook {0} {1}\n{2}".format(playbook, " ".join(extra), play.summary()))
    # Whatever happened, never a traceback or Ansible's catch-all for a crashed module.
    assert "MODULE FAILURE" not in proc.stdout and "Traceback" not in proc.stdout, proc.stdout[-5000:]
    return play


@pytest.fixture(scope="module")
def kvm_host(tmp_path_factory):
    """A privileged test host with the virtualization packages and libvirtd (kvm_host role), for this module."""
    host = lab.TestHost(privileged=True)
    try:
        host.start()
        inventory = tmp_path_factory.mktemp("restart") / "hosts.ini"
        play = run_play(host, inventory, PREPARE)
        assert play.rc == 0 and not play.failures(), play.summary()
        # The upload source, with a known content.
        host.exec(["sh", "-c", "mkdir -p {0} && head -c 4194304 /dev/urandom > {1}".format(UPLOAD_SRC.rsplit("/", 1)[0], UPLOAD_SRC)])
        host.inventory_path = inventory
        yield host
    finally:
        host.remove()


def sh(host, script):
    return host.exec(["bash", "-c", script]).stdout


def assert_clear(message, patterns, names):
    assert "\n" not in message and "Traceback" not in message, message
    match = next((m for m in (p.match(message) for p in patterns) if m), None)
    assert match, "not a clear libvirtd-unreachable/lost message: {0!r}".format(message)
    assert any(name in match.group("what") for name in names), "the message names none of {0}: {1!r}".format(names, message)


def assert_objects_complete(host):
    """Exactly the configured objects, each complete, none twice."""
    pools = sh(host, "virsh -q pool-list --all --name | grep '^{0}' || true".format(PREFIX)).split()
    assert pools == [POOL], pools
    assert sh(host, "virsh -q pool-info {0} | awk '/^State:/ {{print $2}}'".format(POOL)).strip() == "running"
    assert sh(host, "stat -c %a {0}".format(POOL_DIR)).strip() == "755"
    volumes = sorted(sh(host, "virsh -q vol-list {0} | awk '{{print $1}}'".format(POOL)).split())
    assert volumes == sorted(VOLUMES + [UPLOAD]), volumes
    files = sorted(sh(host, "ls -A {0}".format(POOL_DIR)).split())
    assert files == volumes, files  # no stray half-written file beside the volumes
    for name in VOLUMES:
        info = json.loads(sh(host, "qemu-img info -U --output json {0}/{1}".format(POOL_DIR, name)))
        assert info["format"] == "qcow2" and info["virtual-size"] == 16 * 1024 * 1024, info
    sums = sh(host, "sha256sum {0} {1}/{2}".format(UPLOAD_SRC, POOL_DIR, UPLOAD)).split()
    assert sums[0] == sums[2], sums

    networks = sh(host, "virsh -q net-list --name | grep '^{0}' || true".format(PREFIX)).split()  # active ones
    assert sorted(networks) == NETWORKS, networks
    assert sh(host, "virsh -q net-list --all --name | grep -c '^{0}' || true".format(PREFIX)).strip() == str(len(NETWORKS))

    domains = sorted(sh(host, "virsh -q list --all --name | grep '^{0}' || true".format(PREFIX)).split())
    assert domains == sorted(GUESTS), domains
    disks_seen = {}
    for name, (volume, network) in GUESTS.items():
        root = etree.fromstring(sh(host, "virsh dumpxml --inactive {0}".format(name)).encode())
        assert root.get("type") == "qemu"
        disks = [d.find("source").get("file") or "{0}/{1}".format(d.find("source").get("pool"), d.find("source").get("volume"))
                 for d in root.findall("devices/disk")]
        assert len(disks) == 1 and disks[0].endswith(volume), (name, disks)
        assert disks[0] not in disks_seen, "{0} and {1} use the same disk {2}".format(disks_seen.get(disks[0]), name, disks[0])
        disks_seen[disks[0]] = name
        interfaces = [i.find("source").get("network") for i in root.findall("devices/interface")]
        assert interfaces == ([network] if network else []), (name, interfaces)
        assert sh(host, "virsh domstate {0}".format(name)).strip() == "shut off"


def test_libvirtd_stopped_then_restarted_mid_playbook(kvm_host):
    host, inventory = kvm_host, kvm_host.inventory_path

    # 1. libvirtd (and its sockets) stopped in the middle of the volume loop.
    play = run_play(host, inventory, PLAYBOOK, "-e", "robust_disrupt=stop")
    assert play.rc != 0, play.summary()
    failures = play.failures()
    assert failures and {task for task, _item, _msg in failures} == {"Volumes, one module run each"}, failures
    failed_items = [item for _task, item, _msg in failures]
    assert VOLUMES[-1] in failed_items and VOLUMES[0] not in failed_items, failed_items
    for _task, item, msg in failures:
        assert_clear(msg, (UNREACHABLE, LOST), (POOL, item))
    assert sh(host, "systemctl is-active libvirtd.socket libvirtd.service || true").split() == ["inactive", "inactive"]
    assert not any(name == "A NAT network" for name, _r in play.results()), "tasks after the failed loop ran"

    sh(host, "systemctl start " + SOCKETS)
    play = run_play(host, inventory, PLAYBOOK)
    assert play.rc == 0 and not play.failures(), play.summary()
    assert "Volumes, one module run each" in play.changed_tasks(), play.summary()

    # 2. libvirtd restarted while the shutdown task's module holds its connection.
    sh(host, "virsh start {0}".format(WAIT_GUEST))
    pid_before = sh(host, "systemctl show -P MainPID libvirtd").strip()
    play = run_play(host, inventory, PLAYBOOK, "-e", "robust_disrupt=restart")
    assert play.rc != 0, play.summary()
    failures = play.failures()
    assert [(task, item) for task, item, _msg in failures] == [
        ("Shut the guest down; destroy it when it does not react within shutdown_timeout", None)], failures
    assert_clear(failures[0][2], (LOST,), ("domain " + WAIT_GUEST,))
    # Scenario 1 converged: nothing but the scheduling task changed on this run.
    assert play.changed_tasks() == ["Restart libvirtd once a module is connected to it"], play.summary()
    pid_after = sh(host, "systemctl show -P MainPID libvirtd").strip()
    assert pid_after not in ("", "0", pid_before), (pid_before, pid_after)
    assert sh(host, "virsh domstate {0}".format(WAIT_GUEST)).strip() == "running"  # QEMU outlived libvirtd's restart

    play = run_play(host, inventory, PLAYBOOK)
    assert play.rc == 0 and not play.failures(), play.summary()
    assert play.changed_tasks() == ["Shut the guest down; destroy it when it does not react within shutdown_timeout"], play.summary()

    play = run_play(host, inventory, PLAYBOOK)
    assert play.rc == 0 and play.stats()["changed"] == 0 and play.stats()["failures"] == 0, play.summary()

    assert_objects_complete(host)
