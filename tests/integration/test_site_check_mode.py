# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/site.yml --check against a fresh test host predicts changes and makes none.

The tutorial's own variables (inventories/example/group_vars/kvm_hosts.yml) are
used, without the bridge (the test host has no ens33). In check mode the
packages are not installed, so the libvirt tasks are skipped (documented in
docs/roles.md); what check mode must guarantee is that nothing on the host
changes while the run reports what it would change.
"""

from __future__ import annotations

import re

import pytest

SNAPSHOT = r"""
hostname
systemctl get-default
sha256sum /etc/ssh/sshd_config /etc/hostname
dpkg-query -W -f '${Package} ${Version} ${Status}\n' | sha256sum
ls -la /data_kvm 2>&1 || true
test -e /usr/sbin/libvirtd && echo libvirtd-present || echo libvirtd-absent
"""


def _task_result(stdout, task):
    """The result lines of a task, up to the next TASK header or the recap."""
    block = re.search(r"TASK \[{0}\][^\n]*\n(.*?)(?=\nTASK \[|\nPLAY RECAP)".format(re.escape(task)), stdout, re.S)
    assert block, task
    return block.group(1).strip()


def _snapshot(host):
    return host.exec(["bash", "-c", SNAPSHOT]).stdout


@pytest.mark.testhost(privileged=True)
def test_site_check_mode_changes_nothing(testhost, run_playbook):
    before = _snapshot(testhost)
    assert "libvirtd-absent" in before, before
    assert "No such file or directory" in before, before  # no /data_kvm yet

    proc = run_playbook(testhost, "playbooks/site.yml", "--check",
                        "-e", "@inventories/example/group_vars/kvm_hosts.yml",
                        "-e", "kvm_bridge_enabled=false")
    assert proc.returncode == 0, proc.stdout[-3000:]

    recap = re.search(r"^{0}\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0".format(re.escape(testhost.name)),
                      proc.stdout, re.M)
    assert recap, proc.stdout[-3000:]
    # It predicts the hostname, the packages and sshd's UseDNS line at least.
    assert int(recap.group(2)) >= 3, recap.group(0)
    for task in ("Set the hostname", "Install the packages (Debian, Ubuntu)", "Set UseDNS in sshd_config"):
        # The task's own result lines (up to the next TASK header) say changed.
        block = re.search(r"TASK \[kvmops\.hypervisor\.kvm_host : {0}.*?(?=\nTASK \[|\nPLAY RECAP)".format(re.escape(task)), proc.stdout, re.S)
        assert block and "changed: [" in block.group(0), task

    assert _snapshot(testhost) == before


def test_site_stops_without_kvm_unless_emulation_is_allowed(testhost, run_playbook):
    """An unprivileged test host has no /dev/kvm: kvm_host fails early with the reason, before any change;
    with kvm_host_allow_emulation it carries on and guests default to virt_type qemu."""
    before = _snapshot(testhost)
    assert "/dev/kvm" not in testhost.exec(["sh", "-c", "ls /dev/kvm 2>/dev/null || true"]).stdout

    proc = run_playbook(testhost, "playbooks/site.yml", "-e", "kvm_bridge_enabled=false", "-e", "kvm_host_hostname=KVM")
    assert proc.returncode != 0
    assert "Hardware virtualization is not usable on {0}".format(testhost.name) in proc.stdout, proc.stdout[-3000:]
    assert "kvm_host_allow_emulation=true" in proc.stdout
    assert "TASK [kvmops.hypervisor.kvm_host : Set the hostname]" not in proc.stdout
    assert _snapshot(testhost) == before  # a real run (not --check) that stopped before any change

    proc = run_playbook(testhost, "playbooks/site.yml", "--check", "-e", "kvm_bridge_enabled=false",
                        "-e", "kvm_host_allow_emulation=true")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "guests default to virt_type qemu" in proc.stdout.replace("\n", " ").replace("  ", " "), proc.stdout[-3000:]


GUEST_VARS = """
kvm_host_packages_gui: false
kvm_host_packages_install_recommends: false
kvm_host_allow_emulation: true
kvm_bridge_enabled: false
kvm_storage_isos:
  - {name: new.iso, pool: iso, src: %(iso)s}
kvm_guests_networks:
  - name: default
kvm_guests:
  - name: vm1
    vcpus: 1
    memory: 128
    virt_type: qemu
    disk: {pool: store, size: 64M}
    iso: {pool: iso, volume: new.iso}
    network: default
"""


@pytest.mark.testhost(privileged=True)
def test_site_check_mode_new_guest_on_existing_host(testhost, run_playbook, tmp_path):
    """A host with libvirt and pools; --check with a new ISO and a new guest predicts them and creates nothing."""
    iso = tmp_path / "new.iso"
    iso.write_bytes(b"kvmops" * 4096)
    varfile = tmp_path / "vars.yml"
    varfile.write_text(GUEST_VARS % {"iso": iso})
    base = ["-e", "@" + str(varfile)]

    proc = run_playbook(testhost, "playbooks/site.yml", *base, "-e", '{"kvm_storage_isos": [], "kvm_guests": []}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    libvirt_state = "virsh -q list --all --name; virsh -q vol-list iso; virsh -q vol-list store; virsh -q net-list --all"
    before = testhost.exec(["sh", "-c", libvirt_state]).stdout
    assert "vm1" not in before and "new.iso" not in before, before

    proc = run_playbook(testhost, "playbooks/site.yml", "--check", *base)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "are not compared now" in proc.stdout
    assert re.search(r"^{0}\s+: ok=\d+\s+changed=[1-9]".format(re.escape(testhost.name)), proc.stdout, re.M), proc.stdout[-2000:]
    assert testhost.exec(["sh", "-c", libvirt_state]).stdout == before
    # A converged kvm_host takes the cheap path: its facts say everything is installed and libvirtd's unit is
    # enabled and active, so apt, the facts refresh and the service task do not run.
    for task in ("Ask apt whether it knows the packages", "Install the packages (Debian, Ubuntu)",
                 "Refresh the KVM host facts after the package installation", "Enable and start libvirtd",
                 "Set the default systemd target"):
        assert _task_result(proc.stdout, "kvmops.hypervisor.kvm_host : " + task).startswith("skipping: ["), task
    assert "ansible.builtin.setup" not in proc.stdout and "Gathering Facts" not in proc.stdout
