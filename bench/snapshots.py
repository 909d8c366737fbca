# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): snapshot create and revert of one running guest, four ways.

  1. libvirt-python: virDomainSnapshotCreateXML / virDomainRevertToSnapshot (the floor)
  2. virsh snapshot-create-as / snapshot-revert (a process, a connection, the call)
  3. kvm_snapshot's module process: `python -m ...kvm_snapshot args.json`, as
     Ansible runs it on the managed host (AnsiballZ unpacking aside): the
     collection's overhead over libvirt itself (imports, connection, the
     read-only checks and plan before the call, the read-back after)
  4. with --ansible: `ansible localhost -m kvmops.hypervisor.kvm_snapshot`
     (the controller too)

All on the same running TCG guest kvmops-bench-snap (a qcow2 disk of its own,
no OS: SeaBIOS finds nothing to boot and idles), the ways interleaved, each
repeated --repeat times; medians and the spread are printed. A created
snapshot is deleted again (not timed) so the disk does not grow; before each
revert the guest is paused and resumed (not timed), so that kvm_snapshot
really reverts (it reports a domain that a revert left untouched as
unchanged) and every way does the same work. Nothing is asserted.

  python bench/snapshots.py [--repeat 5] [--memory 256] [--uri qemu:///system] [--ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import libvirt

# libvirt prints every error to stderr by default; the ones this script expects (a look-up of a guest that
# is not there) are answers, and the others end it with a traceback anyway.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MODULE = "ansible_collections.kvmops.hypervisor.plugins.modules.kvm_snapshot"
NAME = "kvmops-bench-snap"

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def timed(func):
    start = time.monotonic()
    func()
    return time.monotonic() - start


def run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit("{0} failed (rc={1}): {2}{3}".format(
            " ".join(cmd), proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc.stdout


class Bench:
    def __init__(self, args, conn, work):
        self.args = args
        self.work = work
        self.conn = conn
        self.dom = None
        self.count = 0

    # ---- the guest -----------------------------------------------------------

    def setup(self):
        self.cleanup()
        disk = os.path.join(self.work, "disk.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"])
        os.chmod(self.work, 0o755)
        self.dom = self.conn.defineXML(DOMAIN_XML.format(name=NAME, memory=self.args.memory, disk=disk))
        self.dom.create()
        time.sleep(2)  # past SeaBIOS's first steps
        self.dom.snapshotCreateXML("<domainsnapshot><name>base</name></domainsnapshot>", 0)

    def cleanup(self):
        try:
            dom = self.conn.lookupByName(NAME)
        except libvirt.libvirtError:
            return
        if dom.isActive():
            dom.destroy()
        for snap in dom.listAllSnapshots(0):
            snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
        dom.undefine()

    def fresh_name(self, way):
        self.count += 1
        return "{0}-{1}".format(way, self.count)

    def drop(self, name):
        self.dom.snapshotLookupByName(name, 0).delete(0)

    def unsettle(self):
        """Pause and resume: the guest is no longer as the last revert left it."""
        self.dom.suspend()
        self.dom.resume()

    # ---- the ways --------------------------------------------------------------

    def module(self, args):
        path = os.path.join(self.work, "args.json")
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": dict(args, uri=self.args.uri)}, f)
        result = json.loads(run([PYTHON, "-m", MODULE, path]))
        if not result.get("changed"):
            raise SystemExit("kvm_snapshot reported no change: {0}".format(result))

    def ansible(self, args):
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_PYTHON_INTERPRETER=PYTHON)
        text = " ".join("{0}={1}".format(key, value) for key, value in dict(args, uri=self.args.uri).items())
        out = run([os.path.join(ROOT, ".venv", "bin", "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                   "-m", "kvmops.hypervisor.kvm_snapshot", "-a", text], env=env)
        if "CHANGED" not in out:
            raise SystemExit("kvm_snapshot reported no change: {0}".format(out))

    def create(self, way):
        name = self.fresh_name(way)
        if way == "libvirt":
            xml = "<domainsnapshot><name>{0}</name></domainsnapshot>".format(name)
            seconds = timed(lambda: self.dom.snapshotCreateXML(xml, 0))
        elif way == "virsh":
            seconds = timed(lambda: run(["virsh", "-c", self.args.uri, "snapshot-create-as", NAME, name]))
        elif way == "module":
            seconds = timed(lambda: self.module(dict(domain=NAME, name=name)))
        else:
            seconds = timed(lambda: self.ansible(dict(domain=NAME, name=name)))
        self.drop(name)
        return seconds

    def revert(self, way):
        self.unsettle()
        if way == "libvirt":
            return timed(lambda: self.dom.revertToSnapshot(self.dom.snapshotLookupByName("base", 0), 0))
        if way == "virsh":
            return timed(lambda: run(["virsh", "-c", self.args.uri, "snapshot-revert", NAME, "base"]))
        if way == "module":
            return timed(lambda: self.module(dict(domain=NAME, name="base", state="current")))
        return timed(lambda: self.ansible(dict(domain=NAME, name="base", state="current")))


def line(label, values):
    return "{0:<34} median {1:6.3f} s   min {2:6.3f}   max {3:6.3f}   (n={4})".format(
        label, statistics.median(values), min(values), max(values), len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--memory", type=int, default=256, help="guest memory in MiB (what a snapshot saves)")
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--ansible", action="store_true", help="also time an `ansible` ad-hoc run per operation")
    args = parser.parse_args()

    ways = ["libvirt", "virsh", "module"] + (["ansible"] if args.ansible else [])
    conn = libvirt.open(args.uri)
    work = tempfile.mkdtemp(prefix="kvmops-bench-snap-", dir="/var/tmp")
    bench = Bench(args, conn, work)
    times = {(op, way): [] for op in ("create", "revert") for way in ways}
    try:
        print("guest {0}: running, {1} MiB, TCG, qcow2 disk; {2} rounds".format(NAME, args.memory, args.repeat),
              flush=True)
        bench.setup()
        for _round in range(args.repeat):
            for way in ways:
                times[("create", way)].append(bench.create(way))
                times[("revert", way)].append(bench.revert(way))
    finally:
        bench.cleanup()
        bench.conn.close()
        subprocess.run(["rm", "-rf", work], check=False)
    labels = dict(libvirt="libvirt-python", virsh="virsh", module="kvm_snapshot module process",
                  ansible="ansible ad-hoc kvm_snapshot")
    for op in ("create", "revert"):
        for way in ways:
            print(line("{0} {1}".format(op, labels[way]), times[(op, way)]))
        floor = statistics.median(times[(op, "libvirt")])
        for way in ways[1:]:
            print("  {0} overhead over libvirt-python: {1:+.3f} s".format(
                labels[way], statistics.median(times[(op, way)]) - floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
