# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test) of issue 12's cloud guests, on the runner's libvirtd
with the lab's image (tests/lab/cloudimage.sh, 2 GiB virtual), against
community.libvirt 2.3.0's virt_cloud_instance (bench/_peer.py). Prints
numbers, asserts nothing.

  1. from nothing to a guest that answers SSH, the collection then the peer:
     the tool's own time (one playbook run: for the collection the overlay
     volume, the cloud-init seed, define and start; for the peer the copy of
     the image, qemu-img resize and virt-install with its seed) and the
     guest's boot (until `ssh debian@<lease address> true` succeeds)
  2. the disks of --count guests from the one base image: kvm_volume
     backing_volume (qcow2 overlays) vs kvm_volume src (full copies):
     wall time and disk space used (the peer has no overlay: it always copies)
  3. re-applying --count cloud guests (changed=0): the collection (kvm_volume
     `volumes` + kvm_domain `domains` with cloud_init, state present) vs the
     peer (virt_cloud_instance in a loop, as its documentation shows it),
     --repeat rounds, the two alternating, with the floor of any such run
     (ansible-playbook with one ping task) for reference

The peer is used as its documentation shows: base_image a local file, the
first disk a path with size and format, cloud_init.user_data a dict, osinfo
named (virt-install refuses an import without one; this runner's osinfo-db
knows no debian12, so debian11), virt_type qemu. wait_for_cloud_init_reboot
is false in 1 so that its own time can be told from the boot (by default the
task blocks until cloud-init has run and rebooted the guest: --peer-defaults
adds that run, part 1d runs it alone). Its guests of 3
are created untimed before the timed rounds and shut off right after (virt-install
always boots an imported guest); the collection's are defined, not started.

Every object is named <prefix>* (default kvmops-bench-cloud-), on a NAT
network of its own (the first free 192.168.200-229 /24), in pools of its own
under /var/tmp/<prefix>bench (the base image is hard-linked there: libvirt
refuses a second pool over .cache/cloudimage while test_cloud_guest has one),
and removed at the end unless --keep. The machine's 1-minute load average is
printed with every figure.

  python bench/cloud.py [--count 10] [--uri qemu:///system] [--parts 1,2,3|1d] [--repeat 3] [--prefix P]
                        [--peer-defaults] [--skip-peer] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import _peer  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(_peer.VENV, "bin", "ansible-playbook")
MEMORY = 768


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


class Lab:
    """The names, pools, network and base image of one run."""

    def __init__(self, uri, prefix, image):
        self.uri = uri
        self.prefix = prefix
        self.images = prefix + "images"
        self.store = prefix + "store"
        self.network = prefix + "net"
        self.workdir = "/var/tmp/{0}bench".format(prefix)
        self.subnet = None
        self.source_image = image
        self.image = os.path.join(self.workdir, "images", os.path.basename(image))

    def virsh(self, *args, check=True):
        return sh("virsh", "-c", self.uri, *args, check=check)

    def store_path(self, name):
        return os.path.join(self.workdir, "store", name)

    def base(self):
        return {"pool": self.images, "volume": os.path.basename(self.image)}

    def setup(self):
        self.cleanup()
        os.makedirs(os.path.join(self.workdir, "store"))
        os.makedirs(os.path.join(self.workdir, "images"))
        try:
            os.link(self.source_image, self.image)
        except OSError:
            shutil.copy2(self.source_image, self.image)
        for pool, path in ((self.images, "images"), (self.store, "store")):
            self.virsh("pool-define-as", pool, "dir", "--target", os.path.join(self.workdir, path))
            self.virsh("pool-start", pool)
        self.subnet = free_subnet(self.uri)
        xml = os.path.join(self.workdir, "net.xml")
        with open(xml, "w", encoding="utf-8") as f:
            f.write("<network><name>{0}</name><forward mode='nat'/><ip address='{1}.1' netmask='255.255.255.0'>"
                    "<dhcp><range start='{1}.10' end='{1}.200'/></dhcp></ip></network>".format(self.network, self.subnet))
        self.virsh("net-define", xml)
        self.virsh("net-start", self.network)

    def cleanup(self):
        for name in self.virsh("list", "--all", "--name").stdout.split():
            if name.startswith(self.prefix):
                self.virsh("destroy", name, check=False)
                self.virsh("undefine", name, "--nvram", check=False)
        for pool in (self.store, self.images):
            self.virsh("pool-destroy", pool, check=False)
            self.virsh("pool-undefine", pool, check=False)
        self.virsh("net-destroy", self.network, check=False)
        self.virsh("net-undefine", self.network, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def free_subnet(uri):
    """The first 192.168.N.0/24 (N in 200-229) no interface of this machine and no libvirt network uses."""
    used = sh("ip", "-o", "-4", "addr").stdout
    for name in sh("virsh", "-c", uri, "net-list", "--all", "--name").stdout.split():
        used += sh("virsh", "-c", uri, "net-dumpxml", name, check=False).stdout
    for octet in range(200, 230):
        subnet = "192.168.{0}".format(octet)
        if subnet + "." not in used:
            return subnet
    sys.exit("no free 192.168.200-229 subnet")


def playbook(tasks, collections="own", extra_vars=None):
    """Run one play on localhost; (seconds, changed count, json result)."""
    play = {"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if extra_vars:
        play["vars"] = extra_vars
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump([play], f)
        path = f.name
    try:
        start = time.monotonic()
        proc = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", path], env=_peer.env(collections),
                              capture_output=True, text=True, check=False)
        seconds = time.monotonic() - start
    finally:
        os.unlink(path)
    try:
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        sys.exit("ansible-playbook failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
    if proc.returncode != 0:
        sys.exit("ansible-playbook failed: " + json.dumps(result)[-3000:])
    return seconds, result["stats"]["localhost"]["changed"], result


def used_kib(paths):
    return sum(os.stat(path).st_blocks // 2 for path in paths if os.path.exists(path))


def virtual_gib(image):
    info = json.loads(sh("qemu-img", "info", "--output=json", "-U", image).stdout)
    return info["virtual-size"] / 1024 ** 3


def guest_spec(lab, name, key, state):
    """kvm_domain's item for a cloud guest on its overlay disk."""
    return {"name": name, "state": state, "virt_type": "qemu", "memory": str(MEMORY), "vcpus": 1,
            "autostart": False, "disks": [{"pool": lab.store, "volume": name + ".qcow2"}],
            "interfaces": [{"network": lab.network}],
            "cloud_init": {"user_data": {"ssh_authorized_keys": [key]}}}


def overlay_spec(lab, name):
    return {"pool": lab.store, "name": name + ".qcow2", "format": "qcow2", "backing_volume": lab.base()}


def peer_args(lab, name, key, wait=False):
    """virt_cloud_instance's arguments for the same guest (its disk: a copy of the image, 2 GiB)."""
    return {"uri": lab.uri, "name": name, "base_image": lab.image, "virt_type": "qemu",
            "memory": MEMORY, "vcpus": 1, "osinfo": {"name": "debian11"},
            "disks": [{"path": lab.store_path(name + ".qcow2"), "size": 2, "format": "qcow2"}],
            "networks": [{"network": lab.network}],
            "cloud_init": {"user_data": {"ssh_authorized_keys": [key]}},
            "wait_for_cloud_init_reboot": wait,
            # Its default, 600 s, is less than a boot takes on this loaded runner.
            "cloud_init_reboot_timeout": 1800}


def wait_for_ssh(lab, name, key_file, timeout=1200):
    """Seconds until `ssh debian@<address> true` succeeds (address from the lease); None on time-out."""
    start = time.monotonic()
    address = None
    while time.monotonic() - start < timeout:
        if address is None:
            out = lab.virsh("domifaddr", name, "--source", "lease", check=False).stdout
            for word in out.split():
                if word.startswith(lab.subnet + "."):
                    address = word.split("/")[0]
        if address and sh("ssh", "-q", "-i", key_file, "-o", "StrictHostKeyChecking=no", "-o",
                          "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes",
                          "debian@" + address, "true", check=False).returncode == 0:
            return time.monotonic() - start
        time.sleep(1)
    return None


def to_ssh(lab, key_file, key, peer, peer_defaults):
    print("1. from nothing to SSH (one guest, TCG, {0} MiB)".format(MEMORY), flush=True)
    ours = lab.prefix + "boot"
    tasks = [{"name": "overlay", "kvmops.hypervisor.kvm_volume": dict(overlay_spec(lab, ours), uri=lab.uri)},
             {"name": "guest", "kvmops.hypervisor.kvm_domain": dict(guest_spec(lab, ours, key, "running"), uri=lab.uri)}]
    runs = [("kvmops.hypervisor", ours, tasks, "own")] if peer_defaults != "only" else []
    if peer and peer_defaults != "only":
        theirs = lab.prefix + "peer-boot"
        runs.append(("community.libvirt " + peer, theirs,
                     [{"name": "guest", "community.libvirt.virt_cloud_instance": peer_args(lab, theirs, key)}], "new"))
    if peer and peer_defaults:
        # Its defaults: the task waits until cloud-init has run and rebooted the guest.
        theirs = lab.prefix + "peer-wait"
        runs.append(("community.libvirt {0}, defaults".format(peer), theirs,
                     [{"name": "guest", "community.libvirt.virt_cloud_instance": peer_args(lab, theirs, key, wait=True)}],
                     "new"))
    for label, name, play, collections in runs:
        load = _peer.load()
        own = playbook(play, collections)[0]
        boot = wait_for_ssh(lab, name, key_file)
        if label.endswith(", defaults"):
            print("   {0:24s} task (boot, cloud-init, reboot) {1:7.2f} s   then SSH after {2}   (load {3} -> {4})".format(
                label, own, "{0:7.2f} s".format(boot) if boot else "timed out", load, _peer.load()), flush=True)
        else:
            print("   {0:24s} own time {1:7.2f} s   boot until SSH {2}   own/boot {3}   (load {4} -> {5})".format(
                label, own, "{0:7.2f} s".format(boot) if boot else "timed out",
                "{0:5.1%}".format(own / boot) if boot else "-", load, _peer.load()), flush=True)
        lab.virsh("destroy", name, check=False)


def disks(lab, count):
    overlays = [overlay_spec(lab, "{0}ov-{1:02d}".format(lab.prefix, i)) for i in range(count)]
    copies = [{"pool": lab.store, "name": "{0}cp-{1:02d}.qcow2".format(lab.prefix, i), "format": "qcow2", "src": lab.image}
              for i in range(count)]
    print("2. disks of {0} guests from one base image ({1}, {2:.2f} GiB virtual, {3:.2f} GiB on disk)".format(
        count, os.path.basename(lab.image), virtual_gib(lab.image), used_kib([lab.image]) / 1024 / 1024), flush=True)
    for label, volumes in (("overlay (backing_volume)", overlays), ("full copy (src)", copies)):
        load = _peer.load()
        seconds, changed = playbook([{"name": label, "kvmops.hypervisor.kvm_volume": {"uri": lab.uri,
                                                                                      "volumes": volumes}}])[:2]
        paths = [lab.store_path(volume["name"]) for volume in volumes]
        print("   {0:26s} {1:7.2f} s  {2:10.1f} MiB used  (changed tasks {3}; load {4})".format(
            label, seconds, used_kib(paths) / 1024, changed, load), flush=True)
        for volume in volumes:
            lab.virsh("vol-delete", "--pool", lab.store, volume["name"], check=False)


def reapply(lab, count, key, peer, repeat):
    print("3. re-apply {0} cloud guests (changed=0), {1} rounds".format(count, repeat), flush=True)
    names = ["{0}re-{1:02d}".format(lab.prefix, i) for i in range(count)]
    ours = [
        {"name": "disks", "kvmops.hypervisor.kvm_volume": {
            "uri": lab.uri, "volumes": [overlay_spec(lab, name) for name in names]}},
        {"name": "guests", "kvmops.hypervisor.kvm_domain": {
            "uri": lab.uri, "domains": [guest_spec(lab, name, key, "present") for name in names]}},
    ]
    first, changed = playbook(ours)[:2]
    print("   kvmops.hypervisor first apply (volumes + domains, two tasks) {0:7.2f} s (changed tasks {1})".format(
        first, changed), flush=True)
    ways = [("kvmops.hypervisor (kvm_volume volumes + kvm_domain domains)", lambda: playbook(ours))]
    if peer:
        theirs = ["{0}peer-re-{1:02d}".format(lab.prefix, i) for i in range(count)]
        start = time.monotonic()
        for name in theirs:  # one guest at a time: virt-install boots each, shut off at once
            playbook([{"name": "guest", "community.libvirt.virt_cloud_instance": peer_args(lab, name, key)}], "new")
            lab.virsh("destroy", name, check=False)
        print("   community.libvirt {0} first apply (one run per guest, untimed setup) {1:7.2f} s".format(
            peer, time.monotonic() - start), flush=True)
        loop = [{"name": "guests", "community.libvirt.virt_cloud_instance": peer_args(lab, "{{ item }}", key),
                 "loop": "{{ names }}"}]
        ways.append(("community.libvirt {0} virt_cloud_instance, loop".format(peer),
                     lambda: playbook(loop, "new", {"names": theirs})))
    ways.append(("floor: ansible-playbook, one ansible.builtin.ping task",
                 lambda: playbook([{"name": "ping", "ansible.builtin.ping": {}}])))
    labels = [way[0] for way in ways]
    walls = dict((label, []) for label in labels)
    loads = dict((label, []) for label in labels)
    changes = {}
    for _round in range(repeat):
        for label, run in ways:
            loads[label].append(_peer.load())
            seconds, changed, result = run()
            walls[label].append(seconds)
            changes[label] = changed_items(result)
    for label in labels:
        print("   {0:60s} median {1:6.2f} s  changed items {2}   (runs: {3}; load {4})".format(
            label, statistics.median(walls[label]), changes[label], ", ".join("{0:.2f}".format(w) for w in walls[label]),
            ", ".join(loads[label])), flush=True)
    if peer:
        medians = [statistics.median(walls[label]) for label in labels]
        print("   peer / kvmops.hypervisor: {0:.2f}x (goal >= 5x)".format(medians[1] / medians[0]), flush=True)


def changed_items(result):
    """Items reported changed in every task of the play (loop results, `volumes`, `domains`)."""
    count = 0
    for task in result["plays"][0]["tasks"]:
        host = task["hosts"]["localhost"]
        items = host.get("results") or host.get("volumes") or host.get("domains")
        count += sum(1 for item in items if item.get("changed")) if items else int(bool(host.get("changed")))
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--parts", default="1,2,3", help="which measurements, e.g. 3 or 1,3")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of 3 (medians are printed)")
    parser.add_argument("--prefix", default="kvmops-bench-cloud-", help="name prefix of every object of this run")
    parser.add_argument("--skip-peer", action="store_true", help="the collection only")
    parser.add_argument("--peer-defaults", action="store_true",
                        help="in 1, also the peer with its defaults (the task waits for cloud-init's reboot); part 1d: that alone")
    args = parser.parse_args()
    peer = None if args.skip_peer else _peer.new_libvirt()
    if peer and not shutil.which("virt-install"):
        sys.exit("virt_cloud_instance needs virt-install (apt-get install virtinst), or use --skip-peer")
    image = sh(os.path.join(ROOT, "tests/lab/cloudimage.sh")).stdout.strip().splitlines()[-1]
    lab = Lab(args.uri, args.prefix, image)
    tmp = tempfile.mkdtemp(prefix=args.prefix)
    key_file = os.path.join(tmp, "id_ed25519")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key_file)
    with open(key_file + ".pub", encoding="utf-8") as f:
        key = f.read().strip()
    lab.setup()
    try:
        parts = args.parts.split(",")
        if "1" in parts:
            to_ssh(lab, key_file, key, peer, "with" if args.peer_defaults else None)
        elif "1d" in parts:
            to_ssh(lab, key_file, key, peer, "only")
        if "2" in parts:
            disks(lab, args.count)
        if "3" in parts:
            reapply(lab, args.count, key, peer, args.repeat)
    finally:
        if not args.keep:
            lab.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
