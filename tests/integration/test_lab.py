# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test lab works: hosts boot with systemd, answer over SSH, are distinct, and go away."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import testhost as lab  # on sys.path through conftest.py

HERE = Path(__file__).resolve().parent


def _write_playbook(path, body):
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_host_boots_with_systemd_and_sshd(testhost):
    assert testhost.name.startswith("kvmops-th-")
    assert testhost.exec(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    state = testhost.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
    failed = testhost.exec(["systemctl", "--failed", "--no-legend"], check=False).stdout
    assert state == "running", "system state {0!r}; failed units:\n{1}".format(state, failed)
    assert testhost.exec(["systemctl", "is-active", "ssh"], check=False).stdout.strip() == "active"
    labels = lab.podman("inspect", "--format", '{{index .Config.Labels "kvmops-testhost"}}', testhost.name).stdout
    assert labels.strip() == "1"
    authorized = testhost.exec(["cat", "/root/.ssh/authorized_keys"]).stdout
    assert authorized.strip() == lab.LAB_KEY.with_suffix(".pub").read_text(encoding="utf-8").strip()


def test_exec_reports_failures(testhost):
    proc = testhost.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    with pytest.raises(lab.TestHostError, match="rc=3"):
        testhost.exec(["sh", "-c", "exit 3"])


def test_ansible_reaches_the_host_over_ssh(testhost, run_playbook, tmp_path):
    token = secrets.token_hex(8)
    playbook = _write_playbook(tmp_path / "ping.yml", """\
        - name: Reach the test host
          hosts: kvm_hosts
          gather_facts: false
          tasks:
            - name: Ping
              ansible.builtin.ping:
            - name: Leave a token
              ansible.builtin.copy:
                content: "{{ token }}\\n"
                dest: /root/lab-token
                mode: "0600"
        """)
    proc = run_playbook(testhost, playbook, "-e", "token=" + token)
    assert proc.returncode == 0
    assert "ok=2" in proc.stdout and "changed=1" in proc.stdout and "unreachable=0" in proc.stdout
    # The token is inside this container, so the play ran there (not on the runner).
    assert testhost.exec(["cat", "/root/lab-token"]).stdout == token + "\n"
    assert not Path("/root/lab-token").exists() or token not in Path("/root/lab-token").read_text(encoding="utf-8")
    last = testhost.exec(["sh", "-c", "journalctl -u ssh --no-pager | grep -c 'Accepted publickey for root'"], check=False)
    assert int(last.stdout.strip() or 0) >= 1


@pytest.mark.testhost(privileged=True)
def test_privileged_host_can_change_its_hostname(testhost):
    assert testhost.exec(["sh", "-c", "grep -c ' /etc/hostname ' /proc/self/mountinfo"], check=False).stdout.strip() == "0"
    testhost.exec(["hostnamectl", "set-hostname", "kvm-lab-renamed"])
    assert testhost.exec(["cat", "/etc/hostname"]).stdout.strip() == "kvm-lab-renamed"
    assert testhost.exec(["hostname"]).stdout.strip() == "kvm-lab-renamed"


def test_two_hosts_at_once_are_distinct(testhost_factory, run_playbook, tmp_path):
    first, second = testhost_factory(2)
    assert first.name != second.name
    assert first.ip != second.ip
    playbook = _write_playbook(tmp_path / "who.yml", """\
        - name: Each host records its own name
          hosts: kvm_hosts
          gather_facts: false
          tasks:
            - name: Write inventory_hostname
              ansible.builtin.copy:
                content: "{{ inventory_hostname }}\\n"
                dest: /root/whoami
                mode: "0644"
        """)
    proc = run_playbook([first, second], playbook)
    assert proc.returncode == 0
    for host in (first, second):
        assert host.exec(["cat", "/root/whoami"]).stdout.strip() == host.name
    keys = [h.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[1] for h in (first, second)]
    assert keys[0] != keys[1], "host keys must be made per host at first boot"


def test_hosts_have_their_own_machine_id(testhost_factory):
    machine_ids = [h.exec(["cat", "/etc/machine-id"]).stdout.strip() for h in testhost_factory(2)]
    assert machine_ids[0] != machine_ids[1]


def test_removed_host_is_gone():
    host = lab.TestHost().start()
    try:
        assert host.exists()
    finally:
        host.remove()
    assert not host.exists()
    assert host.name not in lab.host_names()
    assert lab.podman("ps", "-a", "-q", "--filter", "name=^{0}$".format(host.name)).stdout.strip() == ""
    # Not asserted: that nothing answers on the old IP; podman may give it to another engineer's host at once.
    host.remove()  # removing again is a no-op


def test_fixtures_remove_hosts_when_the_test_fails(tmp_path):
    """Run a failing inner test session that uses both fixtures; its hosts must be gone afterwards."""
    names = tmp_path / "names.txt"
    inner = tmp_path / "test_inner.py"
    inner.write_text(textwrap.dedent("""\
        def test_fails(testhost, testhost_factory):
            others = testhost_factory(2)
            with open({names!r}, "w") as fh:
                fh.write("\\n".join([testhost.name] + [h.name for h in others]))
            assert False, "deliberate failure"
        """).format(names=str(names)), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                           "--rootdir", str(tmp_path), str(inner)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)
    print(proc.stdout[-5000:], proc.stderr[-3000:])
    assert proc.returncode == 1, "the inner test must fail (and only fail)"
    assert "deliberate failure" in proc.stdout
    started = names.read_text(encoding="utf-8").split()
    assert len(started) == 3 and all(n.startswith("kvmops-th-") for n in started)
    existing = lab.host_names()
    assert [n for n in started if n in existing] == []


def test_gc_removes_only_orphans():
    orphan = lab.TestHost(owner_pid=_dead_pid())
    mine = lab.TestHost()
    try:
        orphan.start()
        mine.start()
        removed = lab.gc()
        assert orphan.name in removed
        assert not orphan.exists()
        assert mine.exists(), "gc must leave hosts of live processes alone"
    finally:
        orphan.remove()
        mine.remove()


def _dead_pid():
    proc = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(proc.stdout)
