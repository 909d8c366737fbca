# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): kvm_bridge's rollback latency and SSH stall, per backend.

For each backend, one podman test host set up as in
tests/integration/test_bridge_testhost.py (never the runner), then --repeat times:

  stall     an SSH session from the controller prints a timestamp every 20 ms
            while kvm_bridge takes eth0's address over to br0 (confirmed); the
            longest gap between two lines the controller received is the
            longest the operator's session stalled.  Then state=absent (not timed).
  rollback  kvm_bridge with a gateway that does not answer: the task's wall time
            (what the operator waits for the failure: the pings take ~15 s by
            design, PING_ATTEMPTS x (1 s + 0.5 s)), and the restore script's own
            duration (its log's "started"/"done" lines, ns timestamps).

  source tests/lab/env.sh
  python bench/bridge.py [--backends networkd,ifupdown,networkmanager,netplan,netplan-nm] [--repeat 2] [--keep]

netplan-nm is backend netplan on a host whose netplan renderer is NetworkManager
(set up as in tests/integration/test_bridge_netplan_nm.py).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lab"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position,import-error
from test_bridge_testhost import SETUP  # noqa: E402  pylint: disable=wrong-import-position,import-error
from test_bridge_netplan_nm import SETUP as NETPLAN_NM_SETUP  # noqa: E402  pylint: disable=wrong-import-position,import-error

SETUPS = dict(SETUP, **{"netplan-nm": NETPLAN_NM_SETUP})
MODULE_BACKEND = {"netplan-nm": "netplan"}  # the case's name -> kvm_bridge's backend option

WRONG = "10.88.255.254"
PLAY = """\
- name: kvm_bridge (bench)
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Run
      kvmops.hypervisor.kvm_bridge: "{{ bridge_args }}"
      register: res
      failed_when: false
    - name: Hand the result over
      ansible.builtin.copy:
        content: "{{ res | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


def run_module(host, workdir, args):
    out = Path(workdir) / "out.json"
    if out.exists():
        out.unlink()
    play = Path(workdir) / "play.yml"
    play.write_text(PLAY, encoding="utf-8")
    started = time.monotonic()
    proc = lab.run_playbook(host, str(play), "-e", json.dumps(dict(bridge_args=args, out=str(out))),
                            inventory=Path(workdir) / "hosts.ini")
    elapsed = time.monotonic() - started
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError("playbook failed: " + proc.stdout[-2000:])
    return elapsed, json.loads(out.read_text(encoding="utf-8"))


def longest_stall(host, workdir, args):
    """(longest gap in s between two lines of a 20 ms ticker over SSH during the takeover, the module's result)."""
    ssh = ["ssh", "-i", str(lab.LAB_KEY)] + lab.SSH_OPTIONS.split() + ["-o", "ServerAliveInterval=60", "root@" + host.ip,
                                                                       "while :; do date +%s.%N; sleep 0.02; done"]
    ticker = subprocess.Popen(ssh, stdout=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
    arrivals = []

    def read():
        for _line in ticker.stdout:
            arrivals.append(time.monotonic())
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while len(arrivals) < 10:
        time.sleep(0.05)
    begin = time.monotonic()
    _elapsed, res = run_module(host, workdir, args)
    end = time.monotonic()
    time.sleep(1)
    ticker.terminate()
    ticker.wait()
    during = [t for t in arrivals if begin <= t <= end + 1]
    gaps = [b - a for a, b in zip(during, during[1:])]
    return (max(gaps) if gaps else float("nan")), res


def _stamp(line):
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    return datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp() if m else None


def restore_duration(host, change_id):
    log = host.exec(["cat", "/var/lib/kvmops/bridge/br0.rollback.log"]).stdout.splitlines()
    started = [_stamp(line) for line in log if "(change {0}, now) started".format(change_id) in line]
    done = [_stamp(line) for line in log if "done (change {0})".format(change_id) in line]
    if started and done and started[-1] and done[-1]:
        return done[-1] - started[-1]
    return float("nan")


def bench_backend(case, repeat, keep):
    host = lab.TestHost()
    figures = dict(stall=[], wrong_task=[], restore=[])
    backend = MODULE_BACKEND.get(case, case)
    try:
        host.start()
        host.exec(["sh", "-c", SETUPS[case]])
        with tempfile.TemporaryDirectory(prefix="kvmops-bench-bridge-") as workdir:
            for _round in range(repeat):
                stall, res = longest_stall(host, workdir, dict(name="br0", ports=["eth0"], backend=backend))
                if not res.get("changed") or res.get("msg"):
                    raise RuntimeError("takeover failed: {0}".format(res))
                figures["stall"].append(stall)
                elapsed, res = run_module(host, workdir, dict(
                    name="br0", ports=["eth0"], backend=backend, ipv4=dict(address=host.ip + "/16", gateway=WRONG)))
                if "rolled back" not in res.get("msg", ""):
                    raise RuntimeError("the wrong gateway was not rolled back: {0}".format(res))
                figures["wrong_task"].append(elapsed)
                last = json.loads(host.exec(["cat", "/var/lib/kvmops/bridge/br0.last.json"]).stdout)
                figures["restore"].append(restore_duration(host, last["id"]))
                run_module(host, workdir, dict(name="br0", state="absent", backend=backend))
    finally:
        if keep:
            print("kept", host.name, host.ip)
        else:
            host.remove()
    return figures


def _load():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--backends", default="networkd,ifupdown,networkmanager,netplan,netplan-nm")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    print("load average before: {0}".format(_load()))
    for backend in args.backends.split(","):
        fig = bench_backend(backend, args.repeat, args.keep)

        def fmt(values):
            return "median {0:.2f} s  [{1}]".format(statistics.median(values), ", ".join("{0:.2f}".format(v) for v in values))
        print("{0:15} longest SSH stall during a good takeover: {1}".format(backend, fmt(fig["stall"])))
        print("{0:15} wrong gateway, task until the failure:    {1}".format("", fmt(fig["wrong_task"])))
        print("{0:15} wrong gateway, restore script:            {1}".format("", fmt(fig["restore"])))
        sys.stdout.flush()
    print("load average after: {0}".format(_load()))


if __name__ == "__main__":
    main()
