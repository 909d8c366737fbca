# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""main() of kvm_host_facts, run as Ansible runs a module (a Python process
reading ANSIBLE_MODULE_ARGS), on this machine: with libvirt-python, and with
its import blocked as on a host where it is not installed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MODULE = "ansible_collections.kvmops.hypervisor.plugins.modules.kvm_host_facts"
RUN = (
    "import runpy, sys\n"
    "if sys.argv[2] == 'block-libvirt':\n"
    "    sys.modules['libvirt'] = None  # import libvirt raises ImportError\n"
    "sys.argv = sys.argv[:2]\n"
    "runpy.run_module({0!r}, run_name='__main__')\n"
).format(MODULE)


def run_module(tmp_path, args, block_libvirt=False):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, "-c", RUN, str(path), "block-libvirt" if block_libvirt else "-"],
                          capture_output=True, text=True, check=False)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("check_mode", [True, False])
def test_facts_and_counts_on_test_driver(tmp_path, check_mode):
    pytest.importorskip("libvirt")
    result = run_module(tmp_path, {"uri": "test:///default", "_ansible_check_mode": check_mode})
    assert result["changed"] is False
    assert "failed" not in result
    facts = result["ansible_facts"]["kvm_host"]
    assert sorted(facts) == ["bridges", "cpu", "hostname", "hostname_static", "hugepages", "iommu_enabled", "libvirt",
                             "memory_mib", "os", "package_manager", "packages", "qemu", "sshd", "systemd", "virtualization"]
    assert (facts["libvirt"]["pools"], facts["libvirt"]["networks"], facts["libvirt"]["domains"]) == (1, 1, 1)
    assert facts["libvirt"]["objects"] is None
    assert facts["packages"] == {}
    assert facts["sshd"] is None


def test_packages_and_objects_options(tmp_path):
    pytest.importorskip("libvirt")
    result = run_module(tmp_path, {"uri": "test:///default", "packages": ["dpkg", "kvmops-no-such-package"], "objects": True})
    assert result["changed"] is False and "failed" not in result
    facts = result["ansible_facts"]["kvm_host"]
    assert facts["packages"]["kvmops-no-such-package"] == dict(installed=False, version=None)
    if facts["package_manager"] == "dpkg":
        assert facts["packages"]["dpkg"]["installed"] is True
    assert [d["name"] for d in facts["libvirt"]["objects"]["domains"]] == ["test"]
    with open("/proc/sys/kernel/hostname", encoding="utf-8") as f:
        assert facts["hostname"] == f.read().strip()


def test_bad_option_type_fails_naming_it(tmp_path):
    result = run_module(tmp_path, {"objects": "sometimes"})
    assert result["failed"] is True
    assert "objects" in result["msg"]


def test_runs_without_libvirt_python(tmp_path):
    result = run_module(tmp_path, {"uri": "test:///default"}, block_libvirt=True)
    assert result["changed"] is False
    assert "failed" not in result
    lv = result["ansible_facts"]["kvm_host"]["libvirt"]
    assert lv["python_bindings"] is False
    assert lv["reachable"] is False and lv["pools"] is None and lv["error"] is None


def test_unknown_option_fails_naming_it(tmp_path):
    result = run_module(tmp_path, {"root": "/tmp"})
    assert result["failed"] is True
    assert "root" in result["msg"]
