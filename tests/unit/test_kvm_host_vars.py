# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kvm_host role's per-OS variables (roles/kvm_host/vars/<OS>.yml): each file
declares the same internal variables, and the first_found order of
vars/main.yml picks the intended file for the OSes the role supports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

VARS = Path(__file__).resolve().parents[2] / "roles" / "kvm_host" / "vars"
OS_FILES = sorted(p for p in VARS.glob("*.yml") if p.name != "main.yml")
KEYS = {"__kvm_host_packages_base", "__kvm_host_packages_gui", "__kvm_host_packages_uefi", "__kvm_host_packages_tpm",
        "__kvm_host_sshd_service"}


def _candidates(distribution, family, major):
    """The file names vars/main.yml's __kvm_host_os_candidates lists, in its order."""
    main = yaml.safe_load((VARS / "main.yml").read_text(encoding="utf-8"))
    os_facts = {"distribution": distribution, "family": family, "major_version": major}
    names = []
    for template in main["__kvm_host_os_candidates"]["files"]:
        name = template
        for key, value in os_facts.items():
            name = name.replace("{{ ansible_facts['kvm_host']['os']['%s'] }}" % key, value)
        assert "{{" not in name, template
        names.append(name)
    return names


def test_os_files_exist():
    assert [p.stem for p in OS_FILES] == ["Debian", "Fedora", "RedHat7", "RedHat8", "RedHat9"]


@pytest.mark.parametrize("path", OS_FILES, ids=lambda p: p.stem)
def test_os_file_declares_the_internal_variables(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(data) == KEYS, path.name
    assert data["__kvm_host_packages_base"] and all(isinstance(p, str) for p in data["__kvm_host_packages_base"])
    assert all(isinstance(p, str) for p in data["__kvm_host_packages_gui"])
    # UEFI firmware for every OS; swtpm where the OS has it (not EL 7).
    assert data["__kvm_host_packages_uefi"] and all(isinstance(p, str) for p in data["__kvm_host_packages_uefi"])
    assert all(isinstance(p, str) for p in data["__kvm_host_packages_tpm"])
    assert data["__kvm_host_packages_tpm"] or path.stem == "RedHat7"
    assert data["__kvm_host_sshd_service"] in ("ssh", "sshd")


@pytest.mark.parametrize("distribution, family, major, expected", [
    ("Debian", "Debian", "12", "Debian.yml"),
    ("Ubuntu", "Debian", "24", "Debian.yml"),
    ("CentOS", "RedHat", "7", "RedHat7.yml"),
    ("Rocky", "RedHat", "8", "RedHat8.yml"),
    ("RedHat", "RedHat", "9", "RedHat9.yml"),
    ("Fedora", "RedHat", "41", "Fedora.yml"),
    ("Archlinux", "Archlinux", "", None),
])
def test_first_found_picks_the_os_file(distribution, family, major, expected):
    existing = {p.name for p in OS_FILES}
    found = next((name for name in _candidates(distribution, family, major) if name in existing), None)
    assert found == expected
