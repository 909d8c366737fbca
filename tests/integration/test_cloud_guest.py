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

One boot under TCG (virt_type qemu), shared by every assertion. Objects are
named kvmops-it-cloud-<run id>-*: a NAT network of its own, a pool over the image
cache (the base image is not copied) and a pool for the overlay and the seed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

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


def _virsh(*args, check=True):
    return subprocess.run(["virsh", "-c", URI] + list(args), capture_output=True, text=True, check=check)


def _cleanup():
    for name in _virsh("list", "--all", "--name").stdout.split():
        if name.startswith(PREFIX):
            _virsh("destroy", name, check=False)
            _virsh("undefine", name, "--nvram", check=False)
    if _virsh("pool-info", STORE, check=False).returncode == 0:
        for line in _virsh("vol-list", STORE, check=False).stdout.splitlines()[2:]:
            if line.split():
                _virsh("vol-delete", "--pool", STORE, line.split()[0], check=False)
    for pool in (STORE, IMAGES):
        _virsh("pool-destroy", pool, check=False)
        _virsh("pool-undefine", pool, check=False)
    _virsh("net-destroy", NETWORK, check=False)
    _virsh("net-undefine", NETWORK, check=False)
    subprocess.run(["rm", "-rf", str(WORKDIR)], check=True)


def _network(tmp):
    """A NAT network on the first free subnet of SUBNETS; the subnet."""
    for subnet in SUBNETS:
        net = tmp / "net.xml"
        net.write_text(
            "<network><name>{0}</name><forward mode='nat'/>"
            "<ip address='{1}.1' netmask='255.255.255.0'><dhcp><range start='{1}.10' end='{1}.99'/></dhcp></ip>"
            "</network>".format(NETWORK, subnet))
        _virsh("net-define", str(net))
        if _virsh("net-start", NETWORK, check=False).returncode == 0:
            return subnet
        _virsh("net-undefine", NETWORK)
    raise AssertionError("no free subnet among {0}".format(SUBNETS))


@pytest.fixture(name="lab", scope="module")
def lab_fixture(tmp_path_factory):
    """The base image in a pool, a pool for the guest's volumes, a NAT network, an SSH key."""
    out = subprocess.run([str(ROOT / "tests/lab/cloudimage.sh")], capture_output=True, text=True, check=True)
    image = Path(out.stdout.strip().splitlines()[-1])
    assert image.is_file(), out.stdout + out.stderr
    _cleanup()
    tmp = tmp_path_factory.mktemp("cloud")
    (WORKDIR / "store").mkdir(parents=True)
    try:
        _virsh("pool-define-as", IMAGES, "dir", "--target", str(image.parent))
        _virsh("pool-start", IMAGES)
        _virsh("pool-define-as", STORE, "dir", "--target", str(WORKDIR / "store"))
        _virsh("pool-start", STORE)
        subnet = _network(tmp)
        key = tmp / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
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


def test_cloud_guest_reached_through_the_inventory(lab):
    hosts, inventory, variables = _files(lab)

    proc = _playbook(hosts, inventory, variables)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert _recap(proc.stdout, "localhost")["changed"] > 0
    # Play 2 reached the guest through the inventory plugin, over SSH, after cloud-init.
    guest = _recap(proc.stdout, GUEST)
    assert guest["unreachable"] == 0 and guest["failed"] == 0 and guest["ok"] >= 4, guest
    # The debug message as one line (the YAML callback wraps long ones).
    assert "hostname {0}, Debian 12".format(HOSTNAME) in " ".join(proc.stdout.split()), proc.stdout[-3000:]

    # The disk is an overlay of the base image (not a copy), the seed a volume next to it.
    disk = _virsh("vol-dumpxml", "--pool", STORE, GUEST + ".qcow2").stdout
    assert "<backingStore>" in disk and str(lab["image"]) in disk, disk
    assert _virsh("vol-info", "--pool", STORE, GUEST + "-cidata.iso", check=False).returncode == 0

    # What cloud-init did, read through the same inventory.
    listing = subprocess.run(["ansible-inventory", "-i", str(inventory), "--host", GUEST], cwd=str(ROOT), env=_env(),
                             capture_output=True, text=True, check=True).stdout
    hostvars = json.loads(listing)
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
