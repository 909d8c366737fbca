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
