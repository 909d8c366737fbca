# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): a linked clone against a full clone of the same shut-off guest.

The guest kvmops-bench-clone-src has one disk, a qcow2 overlay of the lab's
cloud image (tests/lab/cloudimage.sh, hard-linked into a pool of its own), so it is a real
guest disk of a cloud guest (about 1 GiB of data, 2 GiB virtual). Each round
clones it twice with kvm_domain's module process (`python -m
...kvm_domain args.json`, as Ansible runs it on the managed host) and
`clone_from: {domain: ...}`: `linked: true` (a qcow2 overlay on the source's
volume) and `linked: false` (a full copy by libvirt, the backing chain
flattened), and prints the wall time of each and the disk space the clone's
volume takes (allocated blocks, `du`), then removes the clones. Medians over
--repeat rounds. Nothing is asserted.

  python bench/clones.py [--repeat 3] [--uri qemu:///system]
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

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MODULE = "ansible_collections.kvmops.hypervisor.plugins.modules.kvm_domain"
PREFIX = "kvmops-bench-clone-"
SOURCE = PREFIX + "src"
POOL = PREFIX + "pool"
IMAGES = PREFIX + "images"


def run(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit("{0} failed (rc={1}): {2}{3}".format(
            " ".join(cmd), proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return proc.stdout


class Bench:
    def __init__(self, args, conn, work):
        self.args = args
        self.conn = conn
        self.work = work

    def module(self, args):
        path = os.path.join(self.work, "args.json")
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": dict(args, uri=self.args.uri)}, f)
        result = json.loads(run([PYTHON, "-m", MODULE, path]))
        if result.get("failed") or not result.get("changed"):
            raise SystemExit("kvm_domain: {0}".format(result))
        return result

    def setup(self, image):
        self.cleanup()
        os.chmod(self.work, 0o755)
        # Pools over directories of this run's own, the image hard-linked (libvirt refuses a second pool on a
        # directory another pool covers, e.g. a test's over the image cache).
        for sub in ("images", "pool"):
            os.mkdir(os.path.join(self.work, sub))
        os.link(image, os.path.join(self.work, "images", os.path.basename(image)))
        image = os.path.join(self.work, "images", os.path.basename(image))
        for name, target in ((IMAGES, os.path.dirname(image)), (POOL, os.path.join(self.work, "pool"))):
            pool = self.conn.storagePoolDefineXML(
                "<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(name, target), 0)
            pool.create(0)
        run(["virsh", "-c", self.args.uri, "vol-create-as", POOL, SOURCE + ".qcow2", "4G", "--format", "qcow2",
             "--backing-vol", image, "--backing-vol-format", "qcow2"])
        self.module(dict(name=SOURCE, state="present", virt_type="qemu", vcpus=1, memory="512", graphics="none",
                         disks=[dict(pool=POOL, volume=SOURCE + ".qcow2")], interfaces=[dict(network="default")]))

    def clone(self, name, linked):
        start = time.monotonic()
        self.module(dict(name=name, state="present", clone_from=dict(domain=SOURCE), linked=linked))
        seconds = time.monotonic() - start
        path = os.path.join(self.work, "pool", name + "-vda.qcow2")
        return seconds, os.stat(path).st_blocks * 512

    def drop(self, name):
        try:
            dom = self.conn.lookupByName(name)
        except libvirt.libvirtError:
            return
        dom.undefine()

    def cleanup(self):
        for dom in self.conn.listAllDomains(0):
            if dom.name().startswith(PREFIX):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        for name in (POOL, IMAGES):
            try:
                pool = self.conn.storagePoolLookupByName(name)
            except libvirt.libvirtError:
                continue
            if name == POOL:
                for volume in pool.listAllVolumes(0):
                    volume.delete(0)
            if pool.isActive():
                pool.destroy()
            pool.undefine()


def mib(value):
    return value / (1024.0 * 1024.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uri", default="qemu:///system")
    args = parser.parse_args()
    image = run([os.path.join(ROOT, "tests/lab/cloudimage.sh"), "--path"]).strip().splitlines()[-1]
    conn = libvirt.open(args.uri)
    work = tempfile.mkdtemp(prefix=PREFIX, dir="/var/tmp")
    bench = Bench(args, conn, work)
    times = {True: [], False: []}
    space = {True: [], False: []}
    try:
        print("source {0}: overlay of {1} ({2:.0f} MiB allocated in the image)".format(
            SOURCE, os.path.basename(image), mib(os.stat(image).st_blocks * 512)))
        bench.setup(image)
        for round_ in range(args.repeat):
            for linked in (True, False):
                name = "{0}{1}-{2}".format(PREFIX, "linked" if linked else "full", round_)
                seconds, used = bench.clone(name, linked)
                times[linked].append(seconds)
                space[linked].append(used)
                bench.drop(name)
                conn.storagePoolLookupByName(POOL).storageVolLookupByName(name + "-vda.qcow2").delete(0)
        for linked in (True, False):
            print("{0:<28} median {1:7.2f} s   (runs: {2})   disk {3:8.1f} MiB".format(
                "kvm_domain clone, " + ("linked" if linked else "full copy"), statistics.median(times[linked]),
                ", ".join("{0:.2f}".format(t) for t in times[linked]), mib(statistics.median(space[linked]))))
        print("full / linked: {0:.0f}x the time, {1:.0f}x the disk".format(
            statistics.median(times[False]) / statistics.median(times[True]),
            statistics.median(space[False]) / max(1, statistics.median(space[True]))))
    finally:
        bench.cleanup()
        conn.close()
        subprocess.run(["rm", "-rf", work], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
