# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One real UEFI guest with Secure Boot and an emulated TPM 2.0 (issue 13).

kvm_domain defines and starts a TCG guest (virt_type qemu, q35, firmware
efi, secure_boot true, tpm true) from a qcow2 overlay of the lab's cloud
image with a cloud-init seed and waits for its address. Inside, over SSH:
the firmware is UEFI, Secure Boot is enabled (mokutil and the SecureBoot
variable) and /dev/tpm0 exists. Then: the same task changes nothing;
state absent keeps the NVRAM and the TPM's state on disk; the definition
put back (same UUID), state absent with remove_nvram and remove_tpm
deletes both.

One boot. Objects are named kvmops-it-efi-<run id>-*: a NAT network of
its own, a pool for the overlay and the seed.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from _guests import cloud_image, module, nat_network, remove_network, ssh, ssh_key, ssh_ready, virsh

RUN = uuid.uuid4().hex[:6]
PREFIX = "kvmops-it-efi-{0}-".format(RUN)
GUEST = PREFIX + "g1"
NETWORK = PREFIX + "net"
STORE = PREFIX + "store"
# Other guest tests use 192.168.231-254; these /24s are this test's.
SUBNETS = ["192.168.{0}".format(octet) for octet in range(200, 230)]
WORKDIR = Path("/var/tmp/kvmops-it-efi-" + RUN)
NVRAM = Path("/var/lib/libvirt/qemu/nvram") / (GUEST + "_VARS.fd")
SWTPM = Path("/var/lib/libvirt/swtpm")
# The EFI global variable SecureBoot: 4 bytes of attributes, then 1 = enabled.
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def _cleanup(uuids=()):
    for name in virsh("list", "--all", "--name").stdout.split():
        if name.startswith(PREFIX):
            virsh("destroy", name, check=False)
            virsh("undefine", name, "--nvram", "--tpm", check=False)
    if virsh("pool-info", STORE, check=False).returncode == 0:
        virsh("pool-destroy", STORE, check=False)
        virsh("pool-undefine", STORE, check=False)
    remove_network(NETWORK)
    for path in [NVRAM] + [SWTPM / u for u in uuids]:
        subprocess.run(["rm", "-rf", str(path)], check=True)
    subprocess.run(["rm", "-rf", str(WORKDIR)], check=True)


@pytest.fixture(name="lab", scope="module")
def lab_fixture(tmp_path_factory):
    """An overlay of the lab image in a pool of its own, a NAT network, an SSH key."""
    image = cloud_image()
    tmp = tmp_path_factory.mktemp("efi")
    seen = []
    (WORKDIR / "store").mkdir(parents=True)
    try:
        virsh("pool-define-as", STORE, "dir", "--target", str(WORKDIR / "store"))
        virsh("pool-start", STORE)
        # The overlay refers to the image by path: a second pool over the image
        # cache would clash with test_cloud_guest's (libvirt refuses two dir pools on one directory).
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                        str(WORKDIR / "store" / (GUEST + ".qcow2")), "3G"], check=True)
        virsh("pool-refresh", STORE)
        subnet = nat_network(NETWORK, SUBNETS, tmp)
        yield {"tmp": tmp, "image": image, "key": ssh_key(tmp), "subnet": subnet, "uuids": seen}
    finally:
        _cleanup(seen)


def _args(lab, **kw):
    args = {
        "name": GUEST,
        "state": "running",
        "virt_type": "qemu",
        "machine": "q35",
        "firmware": "efi",
        "secure_boot": True,
        "tpm": True,
        "vcpus": 1,
        "memory": "1024",
        "disks": [{"pool": STORE, "volume": GUEST + ".qcow2"}],
        "interfaces": [{"network": NETWORK}],
        "cloud_init": {"user_data": {"ssh_authorized_keys": [Path(str(lab["key"]) + ".pub").read_text().strip()]}},
        "wait_for": "ip",
        "wait_timeout": 900,
    }
    args.update(kw)
    return args


def test_efi_guest_with_secure_boot_and_tpm(lab):
    start = time.monotonic()
    result = module("kvmops.hypervisor.kvm_domain", _args(lab))
    print("efi guest: defined, booted, address after {0:.0f} s".format(time.monotonic() - start))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"]
    domain = result["domain"]
    lab["uuids"].append(domain["uuid"])
    assert (domain["firmware"], domain["secure_boot"], domain["tpm"], domain["state"]) == ("efi", True, True, "running")
    addresses = domain["interfaces"][0]["addresses"]
    assert addresses and addresses[0].startswith(lab["subnet"] + "."), domain["interfaces"]
    address = addresses[0]

    # What libvirt chose at start: the Secure Boot firmware and its variables with keys enrolled.
    live = virsh("dumpxml", GUEST).stdout
    assert "secure='yes'" in live and "OVMF_VARS_4M.ms.fd" in live, live

    # Inside the guest: booted through UEFI, Secure Boot on, a TPM.
    ssh_ready(lab["key"], address, deadline=600)
    print("efi guest: SSH and cloud-init done after {0:.0f} s".format(time.monotonic() - start))
    inside = ssh(lab["key"], address, "test -d /sys/firmware/efi && echo uefi; mokutil --sb-state; "
                 "od -An -tu1 -j4 -N1 {0}; test -c /dev/tpm0 && echo tpm0; cat /sys/class/tpm/tpm0/tpm_version_major"
                 .format(SECURE_BOOT_VAR)).stdout.split("\n")
    lines = [line.strip() for line in inside if line.strip()]
    assert lines == ["uefi", "SecureBoot enabled", "1", "tpm0", "2"], lines

    # The same task again changes nothing (check mode, then for real).
    for check in (True, False):
        again = module("kvmops.hypervisor.kvm_domain", _args(lab), check=check)
        assert not again.get("failed") and not again["changed"], (check, again.get("actions"), again.get("diff"))

    # state absent (powers off, undefines) keeps the NVRAM and the TPM's state.
    definition = virsh("dumpxml", "--inactive", GUEST).stdout
    gone = module("kvmops.hypervisor.kvm_domain", {"name": GUEST, "state": "absent"})
    assert gone["changed"] and gone["actions"] == ["destroy", "undefine"], gone.get("actions")
    assert virsh("dominfo", GUEST, check=False).returncode != 0
    tpm_state = SWTPM / domain["uuid"] / "tpm2"
    assert NVRAM.is_file() and tpm_state.is_dir() and any(tpm_state.iterdir())

    # Put the definition back (same UUID: the TPM state is the domain's again);
    # remove_nvram and remove_tpm delete both.
    saved = lab["tmp"] / "domain.xml"
    saved.write_text(definition)
    virsh("define", str(saved))
    arguments = {"name": GUEST, "state": "absent", "remove_nvram": True, "remove_tpm": True}
    check = module("kvmops.hypervisor.kvm_domain", arguments, check=True, diff=True)
    assert check["changed"] and check["actions"] == ["undefine (and its NVRAM and its TPM state)"], check["actions"]
    assert NVRAM.is_file() and tpm_state.is_dir()
    removed = module("kvmops.hypervisor.kvm_domain", arguments)
    assert removed["changed"] and removed["actions"] == check["actions"]
    assert not NVRAM.exists() and not (SWTPM / domain["uuid"]).exists()
    assert not module("kvmops.hypervisor.kvm_domain", arguments)["changed"]
    print("efi guest: all done after {0:.0f} s".format(time.monotonic() - start))
