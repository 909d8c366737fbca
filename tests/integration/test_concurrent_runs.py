# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two runs against the same host at once: no corrupted or duplicated object.

Two ansible-playbook runs of playbooks/robust_concurrent.yml start at the same
moment against the runner's libvirtd (qemu:///system; only objects named
kvmops-it-conc-*, directories under /var/tmp/kvmops-it-conc*). Both declare the
same pool, two qcow2 volumes, an upload (checksum verified), an isolated
network and two guests. Before every step both runs wait for each other
(robust_barrier.sh), so their module calls overlap step by step instead of
drifting apart; the race is repeated from an empty state in three rounds.

What is acceptable, decided here: BOTH runs succeed. libvirt keeps names
unique, so a run that loses a race is refused ("already exists", "exists
already", "is already active", a volume listed while the other run still
builds it); _module.run then plans that task again from a fresh read
(ConcurrentChangeError) and converges, so no run may fail. That includes
kvm_network's pre-start subnet check: a run that read the network as absent
or inactive and then finds the other run's bridge routing the subnet plans
again instead of blaming ipv4.address (it failed so once in about seven runs
before _network.py learned it).
After each round: exactly one pool (running, directory mode 0755), exactly the
three volumes and no stray file beside them (each disk a valid 16 MiB qcow2,
the upload's sha256 the source's), exactly one network (active), exactly the
two domains, each holding its own disk and one interface once (no two domains
on one disk). Every step reported changed in at least one run. A third run
after the rounds reports changed=0.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = "tests/integration/playbooks/robust_concurrent.yml"
PREFIX = "kvmops-it-conc-"
ROOT_DIR = "/var/tmp/kvmops-it-conc"
POOL = PREFIX + "pool"
POOL_DIR = ROOT_DIR + "/pool"
SRC_DIR = ROOT_DIR + "-src"
BARRIER_DIR = ROOT_DIR + "-barrier"
NETWORK = PREFIX + "net"
DISKS = [PREFIX + "vm1.qcow2", PREFIX + "vm2.qcow2"]
UPLOAD = PREFIX + "upload.img"
DOMAINS = {PREFIX + "vm1": DISKS[0], PREFIX + "vm2": DISKS[1]}
ROUNDS = 3
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]
STEPS = ("The pool", "Two disks", "An upload, checksum verified", "An isolated network",
         "Two guests, each on its own disk and on the network")

CLEANUP = r"""
set -u
virsh="virsh -q -c qemu:///system"
for d in $($virsh list --all --name | grep '^{prefix}'); do $virsh destroy "$d" >/dev/null 2>&1; $virsh undefine "$d" >/dev/null; done
for n in $($virsh net-list --all --name | grep '^{prefix}'); do $virsh net-destroy "$n" >/dev/null 2>&1; $virsh net-undefine "$n" >/dev/null; done
for p in $($virsh pool-list --all --name | grep '^{prefix}'); do $virsh pool-destroy "$p" >/dev/null 2>&1; $virsh pool-undefine "$p" >/dev/null; done
rm -rf {root} {barrier}
""".format(prefix=PREFIX, root=ROOT_DIR, barrier=BARRIER_DIR)


def cleanup():
    subprocess.run(["bash", "-c", CLEANUP], check=True)


def virsh(*args):
    return subprocess.run(VIRSH + list(args), capture_output=True, text=True, check=True).stdout


def names(*args):
    return sorted(line.split()[0] for line in virsh(*args).splitlines() if line.split() and line.split()[0].startswith(PREFIX))


def start_play(*extra):
    env = lab.playbook_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    return subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local", PLAYBOOK, *extra],  # pylint: disable=consider-using-with
                            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    stdout, stderr = proc.communicate()
    try:
        doc = json.loads(stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc={0}): {1}\n{2}".format(proc.returncode, stdout[-3000:], stderr[-3000:]))
    results = [(task["task"]["name"], result) for play in doc["plays"] for task in play["tasks"] for result in task["hosts"].values()]
    lines = ["rc={0} stats={1}".format(proc.returncode, doc["stats"])]
    for name, result in results:
        state = "FAILED" if result.get("failed") else ("changed" if result.get("changed") else "ok")
        lines.append("  {0}: {1} {2}".format(state, name, (result.get("msg") or "")[:400]))
        for item in result.get("results") or []:
            if item.get("failed"):
                lines.append("    FAILED item {0}: {1}".format(item.get("item"), (item.get("msg") or "")[:400]))
    print("\n".join(lines))
    assert "MODULE FAILURE" not in stdout and "Traceback" not in stdout, stdout[-5000:]
    return proc.returncode, dict(results), "\n".join(lines), list(doc["stats"].values())[0]


def assert_state(src_sha256):
    assert names("pool-list", "--all", "--name") == [POOL]
    assert names("pool-list", "--name") == [POOL]  # running
    assert oct(os.stat(POOL_DIR).st_mode & 0o7777) == "0o755"

    volumes = names("vol-list", POOL)
    assert volumes == sorted(DISKS + [UPLOAD]), volumes
    files = sorted(os.listdir(POOL_DIR))
    assert files == volumes, files  # nothing half-made or made twice beside them
    for disk in DISKS:
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output", "json", os.path.join(POOL_DIR, disk)],
                                         capture_output=True, text=True, check=True).stdout)
        assert info["format"] == "qcow2" and info["virtual-size"] == 16 * 1024 * 1024, info
    with open(os.path.join(POOL_DIR, UPLOAD), "rb") as uploaded:
        assert hashlib.sha256(uploaded.read()).hexdigest() == src_sha256

    assert names("net-list", "--all", "--name") == [NETWORK]
    assert names("net-list", "--name") == [NETWORK]  # active

    assert names("list", "--all", "--name") == sorted(DOMAINS)
    owners = {}
    for domain, disk in DOMAINS.items():
        root = etree.fromstring(virsh("dumpxml", "--inactive", domain).encode())
        sources = [d.find("source") for d in root.findall("devices/disk")]
        paths = [s.get("file") or "{0}/{1}".format(s.get("pool"), s.get("volume")) for s in sources]
        assert len(paths) == 1 and paths[0].endswith(disk), (domain, paths)
        assert paths[0] not in owners, "{0} and {1} share the disk {2}".format(owners.get(paths[0]), domain, paths[0])
        owners[paths[0]] = domain
        interfaces = [i.find("source").get("network") for i in root.findall("devices/interface")]
        assert interfaces == [NETWORK], (domain, interfaces)


def test_two_runs_at_once_converge_without_duplicates():
    cleanup()
    try:
        os.makedirs(SRC_DIR, exist_ok=True)
        src = os.path.join(SRC_DIR, "upload.img")
        # Large enough that one run's upload is still streaming while the other plans.
        data = os.urandom(16 * 1024 * 1024)
        with open(src, "wb") as out:
            out.write(data)
        src_sha256 = hashlib.sha256(data).hexdigest()
        common = ["-e", "robust_src=" + src, "-e", "robust_sha256=" + src_sha256]

        for round_no in range(1, ROUNDS + 1):
            cleanup()  # leaves SRC_DIR
            barrier = "{0}/round-{1}".format(BARRIER_DIR, round_no)
            procs = [start_play(*common, "-e", "robust_run=" + run, "-e", "robust_barrier_dir=" + barrier) for run in ("a", "b")]
            outcomes = [finish(proc) for proc in procs]
            for rc, results, summary, _stats in outcomes:
                assert rc == 0, "round {0}: a run failed\n{1}".format(round_no, summary)
                assert all(step in results for step in STEPS), summary
            for step in STEPS:
                assert any(results[step].get("changed") for _rc, results, _s, _st in outcomes), (round_no, step)
            # Both changed: both found the step's object different, so their writes met (the loser re-planned).
            print("round {0}: steps both runs changed: {1}".format(
                round_no, [step for step in STEPS if all(results[step].get("changed") for _rc, results, _s, _st in outcomes)]))
            assert_state(src_sha256)

        rc, _results, summary, stats = finish(start_play(*common))
        assert rc == 0 and stats["changed"] == 0 and stats["failures"] == 0, summary
        assert_state(src_sha256)
    finally:
        cleanup()
        shutil.rmtree(SRC_DIR, ignore_errors=True)
