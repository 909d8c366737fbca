# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release path: `ansible-galaxy collection build` gives a tarball that
installs into a clean collections path, and from there every module under
plugins/modules renders with ansible-doc and a module runs.

Nothing from the checkout leaks into the checks: the subprocesses run in an
empty directory, with ANSIBLE_COLLECTIONS_PATH set to the clean path only, no
ansible.cfg, no PYTHONPATH and no scan of sys.path for collections.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
FQCN = "{0}.{1}".format(GALAXY["namespace"], GALAXY["name"])
# Discovered, not listed: whatever modules the checkout has now.
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
# Tool and scratch directories that must never ship in the tarball.
FORBIDDEN_TOP = {".venv", ".cache", "build", ".git", ".ansible", ".pytest_cache"}
FORBIDDEN_PREFIXES = ("tests/output/",)


def _run(cmd, env, cwd):
    proc = subprocess.run(cmd, env=env, cwd=str(cwd), capture_output=True, text=True, check=False)
    print("$ " + " ".join(str(c) for c in cmd))
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    return proc


def _clean_env(cwd, collections_path=None):
    """The caller's environment minus everything that points at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") and k not in ("PYTHONPATH", "ANSIBLE_CONFIG")}
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    # An empty config file: no ansible.cfg from the checkout or the home directory.
    config = Path(cwd) / "ansible.cfg"
    config.touch()
    env["ANSIBLE_CONFIG"] = str(config)
    if collections_path is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    return env


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Build the tarball from the checkout and install it into a clean path."""
    out = tmp_path_factory.mktemp("build")
    clean = tmp_path_factory.mktemp("collections")
    work = tmp_path_factory.mktemp("cwd")
    env = _clean_env(work)
    proc = _run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(ROOT)], env, work)
    assert proc.returncode == 0, "ansible-galaxy collection build failed: " + proc.stderr
    tarballs = list(out.glob("*.tar.gz"))
    assert [t.name for t in tarballs] == ["{0}-{1}-{2}.tar.gz".format(GALAXY["namespace"], GALAXY["name"], GALAXY["version"])]
    tarball = tarballs[0]

    # --force: a kvmops.hypervisor found on the default paths (~/.ansible/collections) must not turn the install into a no-op.
    proc = _run(["ansible-galaxy", "collection", "install", "--offline", "--force", str(tarball), "-p", str(clean)], env, work)
    assert proc.returncode == 0, "ansible-galaxy collection install failed: " + proc.stderr
    installed = clean / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file()
    return {"tarball": tarball, "clean": clean, "installed": installed, "cwd": work}


def test_modules_discovered():
    """Guards the parametrisation below: an empty plugins/modules would make it vacuous."""
    assert MODULES, "no modules under plugins/modules"


def test_tarball_members(release):
    with tarfile.open(str(release["tarball"])) as tar:
        names = [m.name[2:] if m.name.startswith("./") else m.name for m in tar.getmembers()]
    leaked = sorted(n for n in names
                    if n.split("/", 1)[0] in FORBIDDEN_TOP or n.startswith(FORBIDDEN_PREFIXES)
                    or "/__pycache__/" in "/" + n + "/")
    assert not leaked, "tarball ships tool/scratch files: {0}".format(leaked[:20])
    for required in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md"):
        assert required in names, required + " missing from the tarball"
    shipped = sorted(Path(n).stem for n in names if n.startswith("plugins/modules/") and n.endswith(".py"))
    assert shipped == MODULES


def test_installed_manifest(release):
    manifest = json.loads((release["installed"] / "MANIFEST.json").read_text(encoding="utf-8"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
    assert info["license"] == GALAXY["license"]


def test_installed_files_match_the_tarball(release):
    """ansible-galaxy's own check of the installed files against FILES.json."""
    env = _clean_env(release["cwd"], release["clean"])
    proc = _run(["ansible-galaxy", "collection", "verify", "--offline", FQCN, "-p", str(release["clean"])], env, release["cwd"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Successfully verified that checksums for '{0}:{1}' are internally consistent".format(FQCN, GALAXY["version"]) in proc.stdout


def test_ansible_doc_lists_every_module(release):
    env = _clean_env(release["cwd"], release["clean"])
    proc = _run(["ansible-doc", "-t", "module", "--list_files", FQCN], env, release["cwd"])
    assert proc.returncode == 0, proc.stderr
    files = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.strip())
    assert sorted(name.split(".")[-1] for name in files) == MODULES
    for name, path in files.items():
        # Found in the installed copy, not in the checkout.
        assert Path(path.strip()).resolve().is_relative_to(release["installed"].resolve()), (name, path)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(release, module):
    name = "{0}.{1}".format(FQCN, module)
    proc = _run(["ansible-doc", "-t", "module", name], _clean_env(release["cwd"], release["clean"]), release["cwd"])
    assert proc.returncode == 0, proc.stderr
    assert "[WARNING]" not in proc.stderr and "[ERROR]" not in proc.stderr, proc.stderr
    header = proc.stdout.splitlines()[0]
    path = str(release["installed"] / "plugins" / "modules" / (module + ".py"))
    assert header == "> MODULE {0} ({1})".format(name, path)
    for section in ("EXAMPLES:", "RETURN VALUES:", "ATTRIBUTES:"):
        assert "\n" + section in proc.stdout, section + " missing from the rendered documentation"


def test_module_runs_from_installed_copy(release):
    assert "kvm_host_facts" in MODULES, "plugins/modules/kvm_host_facts.py is missing"
    env = _clean_env(release["cwd"], release["clean"])
    # The default callback (ad hoc: minimal, "host | SUCCESS => {json}"): the json one lives in
    # ansible.posix, which the clean path does not have; --one-line is deprecated in ansible-core 2.21.
    proc = _run(["ansible", "localhost", "-i", "localhost,", "-c", "local",
                 "-e", "ansible_python_interpreter=" + sys.executable,
                 "-m", FQCN + ".kvm_host_facts"], env, release["cwd"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[DEPRECATION WARNING]" not in proc.stderr, proc.stderr
    head, sep, payload = proc.stdout.partition(" => ")
    assert sep and head.startswith("localhost | SUCCESS"), proc.stdout
    result = json.loads(payload)
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    facts = result["ansible_facts"]["kvm_host"]
    assert set(facts["virtualization"]) >= {"cpu_flag", "kvm_module_loaded", "kvm_device", "nested", "usable", "reason"}
    assert isinstance(facts["memory_mib"], int) and facts["memory_mib"] > 0
