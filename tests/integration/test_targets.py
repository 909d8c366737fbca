# -*- coding: utf-8 -*-
"""Run each integration target (tests/integration/targets/<name>/tasks/main.yml)
as a role against the runner, whose libvirtd is qemu:///system."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGETS = Path(__file__).parent / "targets"
ROOT = Path(__file__).parents[2]


def _targets():
    names = sorted(p.name for p in TARGETS.iterdir() if (p / "tasks" / "main.yml").exists())
    return [n for n in names if not (TARGETS / n / "aliases").exists()
            or "disabled" not in (TARGETS / n / "aliases").read_text()]


@pytest.mark.parametrize("target", _targets())
def test_target(target, tmp_path):
    playbook = tmp_path / "run.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  roles:\n"
        "    - role: {0}\n".format(TARGETS / target)
    )
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
        env=env, cwd=str(ROOT), capture_output=True, text=True, check=False,
    )
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0, "target {0} failed".format(target)
