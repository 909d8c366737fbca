# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWX / Automation Controller needs (docs/awx.md).

1. execution-environment.yml is accepted by `ansible-builder create`, and
   the build context it writes installs the collection's Python requirements
   (requirements.txt) and system packages (bindep.txt).
2. playbooks/site.yml runs through ansible-runner, the engine AWX runs every
   job with, against a real test host; its job events say what AWX shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "execution-environment.yml"
VENV_BIN = ROOT / ".venv" / "bin"


def _tool(name):
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def _requirement_names(text):
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line.split()[0])
    return names


def test_ansible_builder_create_writes_the_requirements(tmp_path):
    builder = _tool("ansible-builder")
    assert builder, "ansible-builder is not installed (tests/requirements.txt)"
    context = tmp_path / "context"
    proc = subprocess.run([builder, "create", "-f", str(EE_FILE), "-c", str(context), "-v", "3"],
                          cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    # The user requirements are copied into the context and fed to introspect/assemble.
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    # No collections to install: the galaxy stage is not there.
    assert "ansible-galaxy" not in containerfile

    python_reqs = (context / "_build" / "requirements.txt").read_text(encoding="utf-8")
    wanted = _requirement_names((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert wanted and _requirement_names(python_reqs) == wanted
    assert any(name.startswith("libvirt-python") for name in wanted)
    assert any(name.startswith("lxml") for name in wanted)

    system_reqs = (context / "_build" / "bindep.txt").read_text(encoding="utf-8")
    assert system_reqs == (ROOT / "bindep.txt").read_text(encoding="utf-8")
    assert "libvirt-devel [platform:rpm compile]" in system_reqs
    assert "libvirt-client [platform:rpm]" in system_reqs


# Test-host-sized variables (as tests/lab/demo.sh): no GUI packages, no bridge
# (the host's only link is podman's), guests under TCG; pools and one volume,
# no ISO and no guest, to keep the run short.
SITE_VARS = {
    "kvm_host_packages_gui": False,
    "kvm_host_packages_install_recommends": False,
    "kvm_host_allow_emulation": True,
    "kvm_bridge_enabled": False,
    "kvm_storage_isos": [],
    "kvm_storage_volumes": [{"name": "awx1.qcow2", "pool": "store", "capacity": "16M"}],
    "kvm_guests": [],
}


def _events(runner):
    return [ev for ev in runner.events if ev.get("event")]


@pytest.mark.testhost(privileged=True)
def test_site_through_ansible_runner(testhost, tmp_path):
    ansible_runner = pytest.importorskip("ansible_runner")
    sys.path.insert(0, str(ROOT / "tests" / "lab"))
    import testhost as lab  # pylint: disable=import-outside-toplevel

    private = tmp_path / "private"
    inventory = lab.write_inventory([testhost], private / "inventory" / "hosts.ini")
    env = lab.playbook_env()
    envvars = {key: env[key] for key in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "PATH")}

    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=str(ROOT / "playbooks" / "site.yml"),
        inventory=str(inventory),
        extravars=SITE_VARS,
        envvars=envvars,
        quiet=True,
        timeout=1500,
    )
    stdout = runner.stdout.read()
    print(stdout[-20000:])
    assert runner.status == "successful", (runner.status, stdout[-3000:])
    assert runner.rc == 0

    events = _events(runner)
    kinds = [ev["event"] for ev in events]
    assert kinds[0] == "playbook_on_start"
    assert "runner_on_failed" not in kinds, [ev["event_data"].get("task") for ev in events if ev["event"] == "runner_on_failed"]
    assert "runner_on_unreachable" not in kinds

    facts_ok = [ev["event_data"] for ev in events
                if ev["event"] == "runner_on_ok" and ev["event_data"].get("task_action") == "kvmops.hypervisor.kvm_host_facts"]
    assert facts_ok and all(data["host"] == testhost.name for data in facts_ok)
    kvm_host = facts_ok[-1]["res"]["ansible_facts"]["kvm_host"]
    assert kvm_host["libvirt"]["installed"] is True, json.dumps(kvm_host)[:2000]

    stats = [ev["event_data"] for ev in events if ev["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    assert stats[0]["failures"] == {} and stats[0]["dark"] == {}
    assert stats[0]["ok"].get(testhost.name, 0) > 0
    assert stats[0]["changed"].get(testhost.name, 0) > 0  # a fresh host: packages, sshd, pools...
    assert runner.stats["failures"] == {}

    # The events match the host's real state.
    state = testhost.exec(["sh", "-c", "virsh -q pool-list --all --autostart; virsh -q vol-list store; sshd -T | grep -i '^usedns'"]).stdout
    assert "iso" in state and "store" in state and "awx1.qcow2" in state and "usedns no" in state, state
    # Artifacts for the job are where AWX reads them from.
    assert (private / "artifacts").is_dir()
    assert os.listdir(private / "artifacts")
