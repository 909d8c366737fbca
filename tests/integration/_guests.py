# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for tests that boot a real guest from the lab's cloud image on
the runner's libvirtd (qemu:///system) and reach it over SSH: virsh, a NAT
network on the first free /24, the image, one module run through Ansible
(its result as JSON), SSH into the guest.  Nothing here knows a test's names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"


def virsh(*args, check=True):
    return subprocess.run(["virsh", "-c", URI] + list(args), capture_output=True, text=True, check=check)


def cloud_image():
    """The lab's cloud image (built when missing), or the qcow2 KVMOPS_CLOUD_IMAGE names: its path."""
    if os.environ.get("KVMOPS_CLOUD_IMAGE"):
        image = Path(os.environ["KVMOPS_CLOUD_IMAGE"])
        assert image.is_file(), "KVMOPS_CLOUD_IMAGE={0}: no such file".format(image)
        return image
    out = subprocess.run([str(ROOT / "tests/lab/cloudimage.sh")], capture_output=True, text=True, check=True)
    image = Path(out.stdout.strip().splitlines()[-1])
    assert image.is_file(), out.stdout + out.stderr
    return image


def nat_network(name, subnets, tmp):
    """Define and start a NAT network `name` with DHCP on the first of
    `subnets` ("192.168.N") that no other network uses; that subnet."""
    for subnet in subnets:
        net = Path(tmp) / "net.xml"
        net.write_text(
            "<network><name>{0}</name><forward mode='nat'/>"
            "<ip address='{1}.1' netmask='255.255.255.0'><dhcp><range start='{1}.10' end='{1}.99'/></dhcp></ip>"
            "</network>".format(name, subnet))
        virsh("net-define", str(net))
        if virsh("net-start", name, check=False).returncode == 0:
            return subnet
        virsh("net-undefine", name)
    raise AssertionError("no free subnet among {0}".format(subnets))


def remove_network(name):
    virsh("net-destroy", name, check=False)
    virsh("net-undefine", name, check=False)


def env():
    result = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
                  ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    result.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    return result


def module(name, args, check=False, diff=False, timeout=1200):
    """One run of module `name` on the runner (ansible ad hoc, local
    connection, this Python); its result dict (with `failed` and `msg` when
    it failed)."""
    command = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-e",
               "ansible_python_interpreter=" + sys.executable,
               "-m", name, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    proc = subprocess.run(command, cwd=str(ROOT), env=env(), capture_output=True, text=True, check=False,
                          timeout=timeout)
    try:
        output = json.loads(proc.stdout)
        return output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no result from {0}: rc {1}\n{2}\n{3}".format(name, proc.returncode, proc.stdout[-3000:],
                                                                           proc.stderr[-3000:]))


def ssh_key(tmp):
    key = Path(tmp) / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def ssh(key, address, command, user="debian", check=True, timeout=120):
    """A shell command in a guest over plain SSH (no Python module: each one is slow under TCG)."""
    proc = subprocess.run(
        ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "{0}@{1}".format(user, address),
         command],
        capture_output=True, text=True, check=False, timeout=timeout)
    if check:
        assert proc.returncode == 0, "{0} on {1}: rc {2}\n{3}{4}".format(
            command, address, proc.returncode, proc.stdout, proc.stderr)
    return proc


def ssh_ready(key, address, deadline=300):
    """Wait until SSH answers with the key (cloud-init installed it) and cloud-init is done."""
    end = time.monotonic() + deadline
    while True:
        proc = ssh(key, address, "cloud-init status --wait >/dev/null; true", check=False, timeout=300)
        if proc.returncode == 0:
            return
        assert time.monotonic() < end, "no SSH to {0}: {1}".format(address, proc.stderr)
        time.sleep(3)
