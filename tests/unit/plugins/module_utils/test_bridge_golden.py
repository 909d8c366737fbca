# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files every bridge backend writes for a bond, a VLAN and a bond under
a VLAN under br0, compared byte for byte with golden files (issue 14).  This
kernel has neither bonding nor 8021q, so these files are how those layouts
are proven here; golden/bridge/README.md says, per backend, which page of the
tool's documentation each line follows.

Layout of the golden tree, one directory per backend and layout:

    golden/bridge/<backend>/<layout>/files/<absolute path>   the content written there
    golden/bridge/<backend>/<layout>/deleted                 paths deleted (one a line; may be absent)

<backend> is a key of _manager.BACKEND_CLASSES; the test runs every backend
directory that exists (a new backend adds only files) and wants the three
layouts in each (what absent() writes is tested in test_bridge_bond_vlan.py).

KVMOPS_UPDATE_GOLDEN=1 writes the files instead of comparing (then review
the diff with git and justify it in the README).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BondConfig, NetConfig, VlanConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import BACKEND_CLASSES
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import IpConfig

GOLDEN = Path(__file__).parent / "golden" / "bridge"
MAC = "52:54:00:12:34:56"
IPV4 = IpConfig(4, "static", ["192.0.2.10/24"], "192.0.2.1", ["192.0.2.53"])


def _bond():
    return BondConfig("bond0", "802.3ad", ["eno1", "eno2"], miimon=100, lacp_rate="fast", xmit_hash_policy="layer3+4")


def _layouts():
    """layout -> (method, args): what the backend is asked to render."""
    bond = _bond()
    vlan = VlanConfig(100, "eno1")
    bond_vlan = VlanConfig(100, "bond0")
    return {
        # bond0 (LACP over eno1, eno2) is br0's port
        "bond": ("present", NetConfig("br0", ["bond0"], MAC, False, None, False, None, [IPV4], bond=bond)),
        # eno1.100 (VLAN 100 on the trunk eno1) is br0's port
        "vlan": ("present", NetConfig("br0", ["eno1.100"], MAC, False, None, False, None, [IPV4], vlan=vlan)),
        # bond0.100 (VLAN 100 on bond0 over eno1, eno2) is br0's port
        "bond-vlan": ("present", NetConfig("br0", ["bond0.100"], MAC, False, None, False, None, [IPV4],
                                           bond=bond, vlan=bond_vlan)),
    }


def _backends():
    if not GOLDEN.is_dir():
        return []
    return sorted(d.name for d in GOLDEN.iterdir() if d.is_dir())


def _read_golden(directory):
    expected = {}
    files = directory / "files"
    if files.is_dir():
        for path in sorted(files.rglob("*")):
            if path.is_file():
                expected["/" + str(path.relative_to(files))] = path.read_text(encoding="utf-8")
    deleted = directory / "deleted"
    if deleted.is_file():
        for line in deleted.read_text(encoding="utf-8").splitlines():
            if line.strip():
                expected[line.strip()] = None
    return expected


def _write_golden(directory, rendered):
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    deleted = sorted(p for p, c in rendered.items() if c is None)
    for path, content in rendered.items():
        if content is not None:
            target = directory / "files" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    if deleted:
        (directory / "deleted").write_text("\n".join(deleted) + "\n", encoding="utf-8")


def test_every_backend_has_golden_files():
    """The four backends of this module have their directories (netplan's is added by its own helper)."""
    assert set(_backends()) >= {"networkd", "ifupdown", "networkmanager", "ifcfg"}
    assert set(_backends()) <= set(BACKEND_CLASSES), "a golden directory names no backend"


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("layout", sorted(_layouts()))
def test_golden(backend, layout, tmp_path):
    method, cfg = _layouts()[layout]
    files = Files(str(tmp_path))  # an empty host: no installer's files to move
    renderer = BACKEND_CLASSES[backend](files)
    rendered = renderer.present(cfg) if method == "present" else renderer.absent("br0", cfg)
    directory = GOLDEN / backend / layout
    if os.environ.get("KVMOPS_UPDATE_GOLDEN") == "1":
        _write_golden(directory, rendered)
    assert directory.is_dir(), "no golden files for {0}/{1}: run with KVMOPS_UPDATE_GOLDEN=1 and review".format(backend, layout)
    expected = _read_golden(directory)
    assert sorted(rendered) == sorted(expected)
    for path in sorted(rendered):
        assert rendered[path] == expected[path], path
