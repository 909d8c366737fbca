# -*- coding: utf-8 -*-
"""Run each integration target (tests/integration/targets/<name>) with
`ansible-test integration --venv`, as a collection's CI runs them, against the
runner's libvirtd (qemu:///system).

One pytest case per target; the targets a pytest run selects (-k) go to one
`ansible-test integration --venv --continue-on-error`, so ansible-test's start,
its venv and the requirements install are paid once, and each case shows its
target's part of the output and fails when ansible-test failed or skipped it.
The targets run in a copy of the checkout taken
once per pytest run (ansible-test wants a real ansible_collections/kvmops/hypervisor
tree and lists its files through git, as tests/lab/sanity.sh does), so the copy
is what is tested even while the checkout changes. ansible-test makes its
virtual environment once per copy (tests/output/.tmp/delegation/python<X.Y>,
ansible-core's requirements and tests/integration/requirements.txt: libvirt-python,
lxml, pycdlib) and every target after the first reuses it.

Each target depends on setup_libvirt (its meta/main.yml): libvirtd answers on
qemu:///system (started when it does not) and the venv imports libvirt and lxml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TARGETS = Path(__file__).parent / "targets"
ROOT = Path(__file__).parents[2]
PYTHON = "{0}.{1}".format(*sys.version_info[:2])
# ansible-test puts pip into its venvs with a get-pip.py it downloads from
# ci-files.testing.ansible.com (unreachable here); tests/lab/get_pip_standin.py seeds its
# cache with a stand-in (ensurepip, then pip from PyPI), as tests/lab/sanity.sh does.
GET_PIP_STAND_IN = ROOT / "tests" / "lab" / "get_pip_standin.py"


def _targets():
    """Targets ansible-test runs on its own: not setup_*/prepare_* (dependencies), not disabled."""
    names = sorted(p.name for p in TARGETS.iterdir() if (p / "tasks" / "main.yml").exists())
    names = [n for n in names if not n.startswith(("setup_", "prepare_"))]
    return [n for n in names if not (TARGETS / n / "aliases").exists()
            or "disabled" not in (TARGETS / n / "aliases").read_text().split()]


def _seed_get_pip():
    """The get-pip.py stand-in for each pip version this ansible-test bootstraps."""
    subprocess.run([sys.executable, str(GET_PIP_STAND_IN), "--seed"], check=True)


def _copy_checkout(dest):
    """The tracked and new (not ignored) files of the checkout, as tests/lab/collection.sh --copy takes them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=str(ROOT), capture_output=True, check=True,
    ).stdout.decode("utf-8", "surrogateescape").split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if not src.is_symlink() and not src.is_file():
            continue  # deleted in the checkout, not yet in the index
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(str(src)), str(target))
        else:
            shutil.copy2(str(src), str(target))
    # ansible-test lists a collection's files through git when it finds a repository.
    subprocess.run(["git", "init", "-q"], cwd=str(dest), check=True)
    subprocess.run(["git", "add", "-A"], cwd=str(dest), check=True)


@pytest.fixture(scope="session")
def collection_tree():
    """ansible_collections/kvmops/hypervisor: a fresh copy of the checkout for this run, removed after it."""
    base = ROOT / ".cache" / "integration-targets"
    base.mkdir(parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix="tree.", dir=str(base)))
    tree = top / "ansible_collections" / "kvmops" / "hypervisor"
    tree.mkdir(parents=True)
    try:
        _copy_checkout(tree)
        _seed_get_pip()
        yield tree
    finally:
        shutil.rmtree(str(top), ignore_errors=True)


def test_integration_requirements_follow_tests_requirements():
    """tests/integration/requirements.txt (ansible-test's venv) pins what tests/requirements.txt pins."""
    def pins(path):
        lines = (l.split("#", 1)[0].strip() for l in path.read_text(encoding="utf-8").splitlines())
        return dict(l.split("==", 1) for l in lines if "==" in l)
    integration = pins(ROOT / "tests" / "integration" / "requirements.txt")
    lab = pins(ROOT / "tests" / "requirements.txt")
    assert {"libvirt-python", "lxml", "pycdlib"} <= set(integration)
    assert {k: lab.get(k) for k in integration} == integration


class _Runs:
    """One `ansible-test integration` over the selected targets, cut into one part per target."""

    def __init__(self, tree, targets):
        self.cmd = ["ansible-test", "integration", "--venv", "--python", PYTHON,
                    "--allow-destructive", "--continue-on-error", "--color", "no"] + targets
        self.tree = tree
        self.head = []          # ansible-test's output before the first target (venv, requirements)
        self.parts = {}         # target -> its output lines
        self.secs = {}          # target -> seconds from its start to the next one's (or the end)
        current = None
        start = time.monotonic()
        began = start
        proc = subprocess.Popen(self.cmd, cwd=str(tree), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        for line in proc.stdout:
            match = re.match(r"Running (\S+) integration test role$", line.strip())
            if match and match.group(1) in targets:
                now = time.monotonic()
                if current:
                    self.secs[current] = now - began
                else:
                    self.setup_secs = now - start
                current, began = match.group(1), now
            (self.parts.setdefault(current, []) if current else self.head).append(line)
        self.rc = proc.wait()
        end = time.monotonic()
        if current:
            self.secs[current] = end - began
        else:
            self.setup_secs = end - start
        self.total_secs = end - start
        self.tail = [l for l in (self.parts.get(current) or self.head) if l.startswith(("FATAL:", "ERROR:"))]
        # ansible-test's summary names each failed target on a line of its own after
        # "FATAL: The N integration test(s) listed below (out of M) failed. ...".
        self.failed = set()
        lines = [l.strip() for l in self.head + [l for p in self.parts.values() for l in p]]
        for index, line in enumerate(lines):
            if "integration test(s) listed below" in line:
                for name in lines[index + 1:]:
                    if name not in targets:
                        break
                    self.failed.add(name)


@pytest.fixture(scope="session")
def target_runs(request, collection_tree):
    """The targets this pytest run selected, run by one ansible-test (its venv and requirements once)."""
    here = Path(__file__).resolve()
    selected = sorted({item.callspec.params["target"] for item in request.session.items
                       if getattr(item, "originalname", "") == "test_target" and hasattr(item, "callspec")
                       and Path(str(item.fspath)).resolve() == here})
    return _Runs(collection_tree, selected)


@pytest.mark.parametrize("target", _targets())
def test_target(target, target_runs):
    runs = target_runs
    part = runs.parts.get(target, [])
    print("$ {0}\n  (in {1}; {2:.0f} s in all, {3:.0f} s before the first target: venv, requirements)".format(
        " ".join(runs.cmd), runs.tree, runs.total_secs, runs.setup_secs))
    print("----- {0}: {1:.0f} s".format(target, runs.secs.get(target, 0)))
    print("".join(part)[-20000:] if part else "".join(runs.head)[-20000:])
    print("".join(runs.tail))
    text = "".join(part)
    # ansible-test exits 0 when it skipped the target (e.g. without root): that is no pass.
    assert part, "ansible-test did not run target {0} (exit {1})".format(target, runs.rc)
    assert "TASK [setup_libvirt : Probe libvirt-python, lxml, libvirtd and /dev/kvm]" in text, \
        "target {0} did not run its setup_libvirt dependency".format(target)
    assert target not in runs.failed and "PLAY RECAP" in text, "target {0} failed".format(target)
    assert runs.rc == 0 or runs.failed, "ansible-test failed (exit {0}) without naming a target".format(runs.rc)
