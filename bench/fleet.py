# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): playbooks/site.yml re-run on a converged fleet of 1 and of 4 hosts.

Starts 4 privileged test hosts (tests/lab/testhost.py), converges all of them
with site.yml (forks 4), then times the re-run of site.yml on the already
converged fleet: `--limit` to the first host (a fleet of 1) and on all 4,
alternating, --repeat times each. Prints every time, the medians, the ratio
(goal: 4 hosts within 1.5x of one) and the recap's changed count (0 expected).

The settings are the ones docs/awx.md recommends for fleets:

  forks 4                 one worker per host
  pipelining              modules go over the SSH session's stdin (no temp files, fewer round trips)
  ControlPersist 60s      one SSH master connection per host, reused by every task
  fact caching (jsonfile) site.yml gathers no setup facts (gather_facts: false), so the cache only
                          keeps kvm_host_facts between runs; it is on as the docs show it

--baseline also times the same runs without pipelining and ControlPersist.

  source tests/lab/env.sh
  python bench/fleet.py [--hosts 4] [--repeat 3] [--baseline] [--keep]

The test hosts are removed at the end unless --keep (then their names are printed).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position,import-error

# Test-host-sized variables (tests/lab/demo.sh): no GUI packages, no bridge (the
# host's only link is podman's), pools, one volume and one guest that is
# defined but not started (a running TCG guest on each host would measure the
# CPU the guests take, not Ansible).
FLEET_VARS = """
kvm_host_packages_gui: false
kvm_host_packages_install_recommends: false
kvm_host_allow_emulation: true
kvm_bridge_enabled: false
kvm_storage_isos: []
kvm_storage_volumes:
  - {name: data1.qcow2, pool: store, capacity: 16M}
kvm_guests_networks:
  - name: default
kvm_guests:
  - name: fleet1
    vcpus: 1
    memory: 128
    virt_type: qemu
    disk: {pool: store, size: 64M, format: qcow2}
    network: default
    autostart: false
    state: shutdown
"""


def tuned_env(workdir: Path, forks: int) -> dict:
    env = lab.playbook_env()
    env.update({
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / "cp"),
        "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(workdir / "facts"),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_NOCOLOR": "1",
    })
    return env


def baseline_env(workdir: Path, forks: int) -> dict:
    env = lab.playbook_env()
    env.update({
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "False",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.pop("ANSIBLE_CACHE_PLUGIN", None)
    return env


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine (/proc/stat), to see whether a run was CPU-bound."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def load_average():
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def run_site(env: dict, inventory: Path, varfile: Path, limit=None, profile=None, ok_out=None):
    """Time one site.yml run; ok_out (a list) gets the most tasks a host ran ("ok" in the recap)."""
    args = ["ansible-playbook", "-i", str(inventory), "playbooks/site.yml", "-e", "@" + str(varfile)]
    if limit:
        args += ["--limit", limit]
    busy0, total0 = cpu_jiffies()
    began = time.monotonic()
    proc = subprocess.run(args, cwd=str(ROOT), env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - began
    busy1, total1 = cpu_jiffies()
    cpu = (busy1 - busy0) / max(total1 - total0, 1)  # share of all cores busy during the run
    if profile:
        profile.write_text(proc.stdout, encoding="utf-8")
    recaps = RECAP.findall(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-5000:] + proc.stderr[-2000:])
        raise SystemExit("fleet: site.yml failed (rc={0})".format(proc.returncode))
    changed = sum(int(r[2]) for r in recaps)
    if ok_out is not None:
        ok_out.append(max([int(r[1]) for r in recaps] or [0]))
    return elapsed, len(recaps), changed, cpu


def measure(label, env, inventory, varfile, first, repeat):
    times = {1: [], 4: []}
    hosts_seen = {}
    changed_seen = {1: 0, 4: 0}
    ok_seen = []
    for _round in range(repeat):
        for size, limit in ((1, first), (4, None)):
            elapsed, nhosts, changed, cpu = run_site(env, inventory, varfile, limit, ok_out=ok_seen)
            times[size].append(elapsed)
            hosts_seen[size] = nhosts
            changed_seen[size] += changed
            print("  {0:<9} fleet of {1} ({2} in recap): {3:7.2f} s  changed={4}  ok={7} per host  machine CPU busy {5:.0%} of {6} cores".format(
                label, size, nhosts, elapsed, changed, cpu, os.cpu_count(), ok_seen[-1]), flush=True)
    one, four = statistics.median(times[1]), statistics.median(times[4])
    return one, four, changed_seen, hosts_seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time without pipelining and ControlPersist")
    parser.add_argument("--keep", action="store_true", help="leave the test hosts running")
    parser.add_argument("--profile", action="store_true", help="one more 4-host run with ansible.posix.profile_tasks; print the slowest tasks")
    opts = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="kvmops-fleet-"))
    (workdir / "cp").mkdir()
    varfile = workdir / "fleet-vars.yml"
    varfile.write_text(FLEET_VARS, encoding="utf-8")
    inventory = workdir / "hosts.ini"
    hosts = [lab.TestHost(privileged=True) for _index in range(opts.hosts)]
    env = tuned_env(workdir, forks=opts.hosts)
    try:
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=opts.hosts) as pool:
            for fut in [pool.submit(h.start) for h in hosts]:
                fut.result()
        lab.write_inventory(hosts, inventory)
        print("fleet: load average before the runs: {0}".format(load_average()), flush=True)
        print("fleet: {0} test hosts up in {1:.1f} s: {2}".format(len(hosts), time.monotonic() - began, " ".join(h.name for h in hosts)), flush=True)

        elapsed, nhosts, changed, _cpu = run_site(env, inventory, varfile)
        print("fleet: converged {0} hosts (forks {1}) in {2:.1f} s, changed={3}".format(nhosts, opts.hosts, elapsed, changed), flush=True)

        print("fleet: re-runs of site.yml on the converged fleet (median of {0})".format(opts.repeat), flush=True)
        one, four, changed_seen, _seen = measure("tuned", env, inventory, varfile, hosts[0].name, opts.repeat)
        results = [("tuned", one, four, changed_seen)]
        if opts.baseline:
            one_b, four_b, changed_b, _seen = measure("baseline", baseline_env(workdir, opts.hosts), inventory, varfile, hosts[0].name, opts.repeat)
            results.append(("baseline", one_b, four_b, changed_b))

        if opts.profile:
            prof_env = dict(env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
            out = workdir / "profile.log"
            elapsed, _nhosts, _changed, _cpu = run_site(prof_env, inventory, varfile, profile=out)
            lines = [line for line in out.read_text(encoding="utf-8").split("PLAY RECAP", 1)[-1].splitlines()
                     if re.search(r"-+ +\d+\.\d+s$", line)]
            print("fleet: slowest tasks of a {0}-host re-run ({1:.1f} s, ansible.posix.profile_tasks):".format(opts.hosts, elapsed))
            for line in lines[:15]:
                print("  " + line)

        print()
        print("load average at the end: {0} ({1} cores)".format(load_average(), os.cpu_count()))
        print("settings: forks {0}, pipelining, ControlPersist 60s, jsonfile fact cache (tuned); "
              "no pipelining, no ControlMaster (baseline)".format(opts.hosts))
        for label, one, four, changed in results:
            print("{0:<9} 1 host {1:7.2f} s   {2} hosts {3:7.2f} s   ratio {4:.2f}x (goal <= 1.5x)   changed: {5}/{6}".format(
                label, one, opts.hosts, four, four / one, changed[1], changed[4]))
    finally:
        if opts.keep:
            print("fleet: kept {0} (remove: python tests/lab/testhost.py rm NAME...)".format(" ".join(h.name for h in hosts)))
        else:
            for host in hosts:
                host.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
