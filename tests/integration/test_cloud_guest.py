# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One real cloud guest on the runner's libvirtd (qemu:///system), from the
lab's image (tests/lab/cloudimage.sh) to a machine Ansible configures:

playbooks/guests.yml with the role kvm_guests makes the guest's disk an
overlay of the base image volume, kvm_domain builds the cloud-init seed
(host name, an SSH key, a file) and waits for the guest's address; the
playbook's second play reaches the guest over SSH through the inventory
plugin kvmops.hypervisor.guests, and an ad-hoc command through the same
inventory checks what cloud-init did. A second run changes nothing.

On the same boot (issue 13), in this order: the snapshot proof
(tests/integration/targets/kvm_snapshot/guest/in_guest.yml: a file written
inside, snapshot, file changed, revert, the original read back inside, delete;
each kvm_snapshot step as check, apply, check, apply), then the running
guest's disk grown with kvm_volume and the new size seen inside without a
reboot.  Last, the source is shut off and a linked clone of it boots with its
own cloud-init seed (issue 13): its own host name, address and machine-id, the
source's disk untouched.  The clone also carries the macvtap proof (issue 14):
a second NIC `type: direct` (mode bridge) on one end of a veth pair the test
makes on the runner, a static address from cloud-init's network_config: the guest pings the other
veth end, and the runner reaches the guest's SSH through that end.

One boot under TCG (virt_type qemu) for the source, one for the clone. Objects
are named kvmops-it-cloud-<run id>-*: a NAT network of its own, a pool over a
hard link of the cached image (not a copy) and a pool for the overlays and the
seeds; the veth pair is kvw<run id>a/b.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from _guests import cloud_image, nat_network, remove_network, ssh, ssh_key, virsh

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
# Names of this run's own: two checkouts may run this test on one libvirtd at once.
RUN = uuid.uuid4().hex[:6]
PREFIX = "kvmops-it-cloud-{0}-".format(RUN)
GUEST = PREFIX + "g1"
HOSTNAME = "kvmops-cloud-one"
NETWORK = PREFIX + "net"
# The first /24 of these that no other network uses.
SUBNETS = ["192.168.{0}".format(octet) for octet in range(240, 255)]
IMAGES = PREFIX + "images"
STORE = PREFIX + "store"
WORKDIR = Path("/var/tmp/kvmops-it-cloud-" + RUN)
MARKER = "/etc/kvmops-cloud-marker"
MARKER_TEXT = "written by cloud-init for kvmops\n"
TAG = "kvmops-it-cloud"
GROUP = "kvm_tag_kvmops_it_cloud"
SNAPSHOT_PLAY = ROOT / "tests/integration/targets/kvm_snapshot/guest/in_guest.yml"
CLONE = PREFIX + "c1"
CLONE_HOSTNAME = "kvmops-cloud-clone"
# The veth pair of the macvtap proof (interface names: at most 15 bytes).
VETH_GUEST = "kvw{0}a"   # the macvtap parent
VETH_HOST = "kvw{0}b"    # the end with the runner's address
CLONE_MACS = ("52:54:00:6b:{0}:{1}".format(RUN[0:2], RUN[2:4]), "52:54:00:6c:{0}:{1}".format(RUN[0:2], RUN[2:4]))


def _cleanup():
    for name in virsh("list", "--all", "--name").stdout.split():
        if name.startswith(PREFIX):
            virsh("destroy", name, check=False)
            virsh("undefine", name, "--nvram", check=False)
    if virsh("pool-info", STORE, check=False).returncode == 0:
        for line in virsh("vol-list", STORE, check=False).stdout.splitlines()[2:]:
            if line.split():
                virsh("vol-delete", "--pool", STORE, line.split()[0], check=False)
    for pool in (STORE, IMAGES):
        virsh("pool-destroy", pool, check=False)
        virsh("pool-undefine", pool, check=False)
    remove_network(NETWORK)
    subprocess.run(["ip", "link", "del", VETH_HOST.format(RUN)], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", str(WORKDIR)], check=True)


@pytest.fixture(name="lab", scope="module")
def lab_fixture(tmp_path_factory):
    """The base image in a pool, a pool for the guest's volumes, a NAT network, an SSH key."""
    image = cloud_image()
    _cleanup()
    tmp = tmp_path_factory.mktemp("cloud")
    (WORKDIR / "store").mkdir(parents=True)
    # The image pool over a directory of this run's own, the image hard-linked into it (not copied): libvirt
    # refuses a second pool on a directory that another run's pool already covers.
    (WORKDIR / "images").mkdir()
    os.link(str(image), str(WORKDIR / "images" / image.name))
    image = WORKDIR / "images" / image.name
    try:
        virsh("pool-define-as", IMAGES, "dir", "--target", str(image.parent))
        virsh("pool-start", IMAGES)
        virsh("pool-define-as", STORE, "dir", "--target", str(WORKDIR / "store"))
        virsh("pool-start", STORE)
        subnet = nat_network(NETWORK, SUBNETS, tmp)
        key = ssh_key(tmp)
        yield {"tmp": tmp, "image": image, "key": key, "subnet": subnet}
    finally:
        _cleanup()


def _files(lab):
    tmp = lab["tmp"]
    hosts = tmp / "hypervisor.ini"
    hosts.write_text("[kvm_hosts]\nlocalhost ansible_connection=local ansible_python_interpreter={0} "
                     "ansible_become=false\n".format(sys.executable))
    inventory = tmp / "it.guests.yml"
    inventory.write_text(
        "plugin: kvmops.hypervisor.guests\n"
        "uris: ['{uri}']\n"
        "filters:\n  - include: \"kvm_name.startswith('{prefix}')\"\n  - exclude: true\n"
        "compose:\n"
        "  ansible_user: \"'debian'\"\n"
        "  ansible_ssh_private_key_file: \"'{key}'\"\n"
        "  ansible_python_interpreter: \"'/usr/bin/python3'\"\n".format(uri=URI, prefix=PREFIX, key=lab["key"]))
    guest = {
        "name": GUEST,
        "vcpus": 1,
        "memory": 768,
        "virt_type": "qemu",
        "autostart": False,
        "image": {"pool": IMAGES, "volume": lab["image"].name},
        "disk": {"pool": STORE},
        "network": NETWORK,
        "tags": [TAG],
        "cloud_init": {
            "user_data": {
                "hostname": HOSTNAME,
                "ssh_authorized_keys": [Path(str(lab["key"]) + ".pub").read_text().strip()],
                "write_files": [{"path": MARKER, "content": MARKER_TEXT}],
            },
        },
        "wait_for": "ip",
        "wait_timeout": 900,
    }
    variables = tmp / "vars.json"
    variables.write_text(json.dumps({
        "guests_cloud": [guest], "kvm_guests_networks": [], "guests_group": GROUP,
        "guests_image": {"pool": IMAGES, "volume": lab["image"].name},
    }))
    return hosts, inventory, variables


def _env():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    return env


def _playbook(hosts, inventory, variables):
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(hosts), "-i", str(inventory), "-e", "@" + str(variables),
         str(ROOT / "playbooks/guests.yml")],
        cwd=str(ROOT), env=_env(), capture_output=True, text=True, check=False, timeout=1500)
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    return proc


def _recap(stdout, host):
    match = re.search(r"^{0}\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)".format(re.escape(host)),
                      stdout, re.M)
    assert match, "no recap for {0}:\n{1}".format(host, stdout[-3000:])
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def _adhoc(inventory, *args):
    proc = subprocess.run(["ansible", "-i", str(inventory), GROUP] + list(args), cwd=str(ROOT), env=_env(),
                          capture_output=True, text=True, check=False, timeout=300)
    print(proc.stdout[-5000:], proc.stderr[-3000:])
    return proc


def _module(lab, module, args, check=False):
    """One module task on the hypervisor (localhost of hypervisor.ini); its registered result."""
    tmp = lab["tmp"]
    out = tmp / "module-result.json"
    if out.exists():
        out.unlink()
    play = tmp / "module.yml"
    play.write_text(json.dumps([{
        "name": "One module", "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": "Run " + module, module: args, "check_mode": check, "register": "result", "ignore_errors": True},
            {"name": "Save the result", "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(out)},
             "check_mode": False},
        ]}]))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp / "hypervisor.ini"), str(play)], cwd=str(ROOT), env=_env(),
                          capture_output=True, text=True, check=False, timeout=1200)
    assert out.exists(), proc.stdout[-5000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def _ssh(lab, address, command, check=True, timeout=300):
    """A command in a guest over plain SSH with the lab's key."""
    return ssh(lab["key"], address, command, check=check, timeout=timeout)


def _agent_run(domain, command, timeout=60):
    """A shell command in a guest through qemu-guest-agent (for a failure's message when SSH does not answer)."""
    out = virsh("qemu-agent-command", domain, json.dumps({"execute": "guest-exec", "arguments": {
        "path": "/bin/sh", "arg": ["-c", command], "capture-output": True}}), check=False)
    if out.returncode != 0:
        return "(agent: {0})".format(out.stderr.strip())
    pid = json.loads(out.stdout)["return"]["pid"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = virsh("qemu-agent-command", domain, json.dumps({"execute": "guest-exec-status",
                                                                 "arguments": {"pid": pid}}), check=False)
        result = json.loads(status.stdout)["return"] if status.returncode == 0 else {}
        if result.get("exited"):
            return base64.b64decode(result.get("out-data", "")).decode("utf-8", "replace")
        time.sleep(2)
    return "(agent: no answer in {0} s)".format(timeout)


def _ssh_ready(lab, address, domain, deadline=900):
    """SSH answers and cloud-init has finished (TCG on a busy runner: minutes), before `deadline` seconds."""
    end = time.monotonic() + deadline
    last = "never tried"
    while time.monotonic() < end:
        try:
            proc = _ssh(lab, address, "cloud-init status --wait >/dev/null; true", check=False,
                        timeout=max(30, min(300, end - time.monotonic())))
            if proc.returncode == 0:
                return
            last = "rc {0}: {1}".format(proc.returncode, proc.stderr.strip())
        except subprocess.TimeoutExpired:
            last = "no answer in time"
        time.sleep(3)
    raise AssertionError("no SSH to {0} ({1}) in {2} s: {3}\ninside:\n{4}".format(
        domain, address, deadline, last, _agent_run(domain, "cloud-init status --long; systemctl list-jobs --no-pager; "
                                                            "systemctl --failed --no-pager; cat /etc/machine-id; uptime")))


def _address(lab, domain, mac):
    """The DHCP lease address of `mac` on the run's network (polled for two minutes)."""
    end = time.monotonic() + 120
    while True:
        for line in virsh("domifaddr", domain, "--source", "lease", check=False).stdout.splitlines():
            fields = line.split()
            if len(fields) == 4 and fields[1].lower() == mac.lower() and fields[3].startswith(lab["subnet"] + "."):
                return fields[3].split("/")[0]
        assert time.monotonic() < end, virsh("domifaddr", domain, "--source", "lease", check=False).stdout
        time.sleep(2)


def _sha256(path):
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@pytest.fixture(name="guest", scope="module")
def guest_fixture(lab):
    """The guest booted once by playbooks/guests.yml; every test of this file shares it."""
    hosts, inventory, variables = _files(lab)
    proc = _playbook(hosts, inventory, variables)
    assert proc.returncode == 0, proc.stdout[-5000:]
    listing = subprocess.run(["ansible-inventory", "-i", str(inventory), "--host", GUEST], cwd=str(ROOT), env=_env(),
                             capture_output=True, text=True, check=True).stdout
    return {"hosts": hosts, "inventory": inventory, "variables": variables, "first": proc,
            "hostvars": json.loads(listing)}


@pytest.fixture(name="wire", scope="module")
def wire_fixture():
    """A veth pair on the runner (never eth0): the macvtap parent, and the other end with an address of a
    /24 of 198.18.0.0/15 (benchmarking range) that no route of the runner uses.  Removed always."""
    parent, peer = VETH_GUEST.format(RUN), VETH_HOST.format(RUN)
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True).stdout
    used = [ipaddress.ip_network(line.split()[0], strict=False) for line in routes.splitlines()
            if line.split() and line.split()[0][0].isdigit()]
    start = int(RUN[:2], 16)
    subnet = None
    for offset in range(256):
        net = ipaddress.ip_network("198.18.{0}.0/24".format((start + offset) % 256))
        if not any(net.overlaps(other) for other in used):
            subnet = net
            break
    assert subnet is not None, "every /24 of 198.18.0.0/16 is routed here:\n" + routes
    hosts = list(subnet.hosts())
    subprocess.run(["ip", "link", "add", parent, "type", "veth", "peer", "name", peer], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "{0}/24".format(hosts[0]), "dev", peer], check=True)
        for name in (parent, peer):
            subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield {"parent": parent, "peer": peer, "host": str(hosts[0]), "guest": str(hosts[1])}
    finally:
        subprocess.run(["ip", "link", "del", peer], capture_output=True, check=False)


def test_cloud_guest_reached_through_the_inventory(lab, guest):
    hosts, inventory, variables, proc = guest["hosts"], guest["inventory"], guest["variables"], guest["first"]
    assert _recap(proc.stdout, "localhost")["changed"] > 0
    # Play 2 reached the guest through the inventory plugin, over SSH, after cloud-init.
    recap = _recap(proc.stdout, GUEST)
    assert recap["unreachable"] == 0 and recap["failed"] == 0 and recap["ok"] >= 4, recap
    # The debug message as one line (the YAML callback wraps long ones).
    assert "hostname {0}, Debian 12".format(HOSTNAME) in " ".join(proc.stdout.split()), proc.stdout[-3000:]

    # The disk is an overlay of the base image (not a copy), the seed a volume next to it.
    disk = virsh("vol-dumpxml", "--pool", STORE, GUEST + ".qcow2").stdout
    assert "<backingStore>" in disk and str(lab["image"]) in disk, disk
    assert virsh("vol-info", "--pool", STORE, GUEST + "-cidata.iso", check=False).returncode == 0

    # What cloud-init did, read through the same inventory.
    hostvars = guest["hostvars"]
    assert hostvars["ansible_host"].startswith(lab["subnet"] + "."), hostvars
    assert hostvars["kvm_tags"] == [TAG] and hostvars["kvm_state"] == "running"
    # One module run in the guest (TCG makes each one slow): the file cloud-init wrote, the host name it set.
    checked = _adhoc(inventory, "-m", "ansible.builtin.command", "-a", "cat {0} /etc/hostname".format(MARKER))
    assert checked.returncode == 0 and GUEST + " | CHANGED | rc=0 >>" in checked.stdout, checked.stdout
    assert checked.stdout.split(">>", 1)[1].strip() == MARKER_TEXT + HOSTNAME, checked.stdout

    # A second run changes nothing, on the hypervisor or in the guest.
    proc = _playbook(hosts, inventory, variables)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert _recap(proc.stdout, "localhost")["changed"] == 0, proc.stdout[-5000:]
    assert _recap(proc.stdout, GUEST)["changed"] == 0


def test_snapshot_reverts_the_guest(guest):
    """kvm_snapshot inside the running guest: in_guest.yml writes a file, snapshots (with memory), changes the
    file, reverts, reads the original back, deletes; each kvm_snapshot step check, apply, check, apply."""
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(guest["hosts"]), "-i", str(guest["inventory"]), str(SNAPSHOT_PLAY),
         "-e", "kvm_snapshot_guest=" + GUEST],
        cwd=str(ROOT), env=_env(), capture_output=True, text=True, check=False, timeout=1200)
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0, proc.stdout[-5000:]
    # The play ran on the guest and every assertion of it passed.
    for task in ("One snapshot with the guest's memory, made once",
                 "Check mode predicted the revert and the guest kept its change",
                 "The guest reads the original content, and the revert is not repeated",
                 "The snapshot is gone, once, and the guest runs on"):
        assert re.search(r"TASK \[{0}\][^\n]*\n+ok: \[{1}\]".format(re.escape(task), re.escape(GUEST)), proc.stdout), task
    assert _recap(proc.stdout, GUEST)["failed"] == 0
    assert virsh("snapshot-list", "--name", GUEST).stdout.split() == []


def test_running_guest_disk_grows_inside(lab, guest):
    """kvm_volume grows the disk of the running guest (blockResize): the guest's /dev/vda shows the new size at
    once, no reboot (the boot id stays).  Four steps: check, apply, check, apply."""
    address = guest["hostvars"]["ansible_host"]
    volume = GUEST + ".qcow2"
    before = int(_ssh(lab, address, "cat /sys/block/vda/size").stdout) * 512
    boot_id = _ssh(lab, address, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    capacity = int(re.search(r"<capacity unit='bytes'>(\d+)<", virsh("vol-dumpxml", "--pool", STORE, volume).stdout)
                   .group(1))
    assert capacity == before
    grown = capacity + 512 * 1024 * 1024
    args = {"uri": URI, "pool": STORE, "name": volume, "capacity": str(grown)}
    check = _module(lab, "kvmops.hypervisor.kvm_volume", args, check=True)
    assert check.get("changed") is True and not check.get("failed"), check
    assert int(_ssh(lab, address, "cat /sys/block/vda/size").stdout) * 512 == before
    apply = _module(lab, "kvmops.hypervisor.kvm_volume", args)
    assert apply.get("changed") is True and not apply.get("failed"), apply
    assert apply.get("actions") == check.get("actions"), (apply, check)
    for result in (_module(lab, "kvmops.hypervisor.kvm_volume", args, check=True),
                   _module(lab, "kvmops.hypervisor.kvm_volume", args)):
        assert result.get("changed") is False and not result.get("failed"), result
    end = time.monotonic() + 30
    while True:
        inside = _ssh(lab, address, "cat /sys/block/vda/size; lsblk -b -d -n -o SIZE /dev/vda").stdout.split()
        if int(inside[0]) * 512 == grown or time.monotonic() > end:
            break
        time.sleep(1)
    assert int(inside[0]) * 512 == grown and int(inside[1]) == grown, (inside, grown)
    assert _ssh(lab, address, "cat /proc/sys/kernel/random/boot_id").stdout.strip() == boot_id


def test_linked_clone_boots_as_a_new_instance_on_the_wire(lab, guest, wire):
    """The source shut off, a linked clone of it with its own cloud-init boots: its own host name, address,
    machine-id and SSH host key; the source's disk is untouched.  Its second NIC is type direct (macvtap, mode
    bridge) on one veth end, with a static address from network_config: the guest pings the other end, the
    runner reaches the guest's SSH through it."""
    source_address = guest["hostvars"]["ansible_host"]
    source_id = _ssh(lab, source_address, "cat /etc/machine-id; cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub"
                     ).stdout.split()
    assert len(source_id) == 2 and len(source_id[0]) == 32, source_id
    down = _module(lab, "kvmops.hypervisor.kvm_domain", {"uri": URI, "name": GUEST, "state": "shutdown",
                                                         "shutdown_timeout": 300, "force": True})
    assert not down.get("failed") and down["domain"]["state"] == "shutoff", down
    source_disk = WORKDIR / "store" / (GUEST + ".qcow2")
    source_digest = _sha256(source_disk)

    key = Path(str(lab["key"]) + ".pub").read_text().strip()
    args = {
        "uri": URI, "name": CLONE, "state": "running", "clone_from": {"domain": GUEST}, "linked": True,
        "interfaces": [{"network": NETWORK, "mac": CLONE_MACS[0]},
                       {"type": "direct", "dev": wire["parent"], "mode": "bridge", "mac": CLONE_MACS[1]}],
        "cloud_init": {
            "user_data": {"hostname": CLONE_HOSTNAME, "ssh_authorized_keys": [key]},
            "network_config": {"version": 1, "config": [
                {"type": "physical", "name": "kvnat0", "mac_address": CLONE_MACS[0], "subnets": [{"type": "dhcp"}]},
                {"type": "physical", "name": "kvwire0", "mac_address": CLONE_MACS[1],
                 "subnets": [{"type": "static", "address": wire["guest"] + "/24"}]},
            ]},
        },
        "wait_for": "ip", "wait_timeout": 900,
    }
    check = _module(lab, "kvmops.hypervisor.kvm_domain", args, check=True)
    assert check.get("changed") is True and not check.get("failed"), check
    assert virsh("dominfo", CLONE, check=False).returncode != 0
    apply = _module(lab, "kvmops.hypervisor.kvm_domain", args)
    assert apply.get("changed") is True and not apply.get("failed"), apply
    assert apply["actions"] == check["actions"] == [
        "linked clone of {0}.qcow2 as {1}-vda.qcow2".format(GUEST, CLONE), "create cloud-init seed {0}-cidata.iso".format(CLONE),
        "define (clone of {0})".format(GUEST), "start"], apply["actions"]
    for result in (_module(lab, "kvmops.hypervisor.kvm_domain", args, check=True),
                   _module(lab, "kvmops.hypervisor.kvm_domain", args)):
        assert result.get("changed") is False and not result.get("failed"), result
    overlay = virsh("vol-dumpxml", "--pool", STORE, CLONE + "-vda.qcow2").stdout
    assert "<backingStore>" in overlay and str(source_disk) in overlay, overlay
    assert apply["domain"]["uuid"] != down["domain"]["uuid"]

    address = _address(lab, CLONE, CLONE_MACS[0])
    assert address != source_address
    _ssh_ready(lab, address, CLONE)
    inside = _ssh(lab, address, "hostname; cat /etc/machine-id; cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub; "
                  "ip -4 -o addr show dev kvwire0").stdout.split("\n")
    assert inside[0] == CLONE_HOSTNAME, inside
    assert len(inside[1]) == 32 and inside[1] != source_id[0], (inside, source_id)
    assert inside[2] != source_id[1], (inside, source_id)
    assert " {0}/24 ".format(wire["guest"]) in inside[3], inside
    # Straight on the wire: the guest's macvtap NIC and the runner's veth end reach each other.
    assert "direct" in virsh("domiflist", CLONE).stdout and wire["parent"] in virsh("domiflist", CLONE).stdout
    out = _ssh(lab, address, "ping -c 3 -W 3 {0}".format(wire["host"]), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    # The runner has no ping binary: the host end reaches the guest's SSH on the macvtap address (the route to
    # that /24 is the veth end's own).
    assert _ssh(lab, wire["guest"], "hostname", timeout=120).stdout.strip() == CLONE_HOSTNAME

    # The source: still defined, shut off, its disk as it was.
    virsh("destroy", CLONE)
    assert virsh("domstate", GUEST).stdout.strip() == "shut off"
    assert _sha256(source_disk) == source_digest
