# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The system: OS (os-release, named as setup names it), host names, the
default systemd target and whether a unit is enabled or active, all read
from files and symlinks (no subprocess)."""

from __future__ import annotations

import os

OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
# systemd's unit search path, highest priority first (systemd.unit(5)).
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
# os-release ID -> the name Ansible's setup module gives as `distribution`.
DISTRIBUTIONS = {
    "debian": "Debian", "ubuntu": "Ubuntu", "linuxmint": "Linux Mint", "raspbian": "Debian", "pop": "Pop!_OS",
    "kali": "Kali", "devuan": "Devuan",
    "rhel": "RedHat", "centos": "CentOS", "fedora": "Fedora", "rocky": "Rocky", "almalinux": "AlmaLinux",
    "ol": "OracleLinux", "amzn": "Amazon", "scientific": "Scientific", "cloudlinux": "CloudLinux",
    "virtuozzo": "Virtuozzo", "eurolinux": "EuroLinux",
    "sles": "SLES", "sles_sap": "SLES_SAP", "opensuse-leap": "openSUSE Leap", "opensuse-tumbleweed": "openSUSE Tumbleweed",
    "arch": "Archlinux", "manjaro": "Manjaro", "alpine": "Alpine", "gentoo": "Gentoo",
}
# distribution -> `os_family`, as setup maps them.
FAMILIES = {
    "Debian": "Debian", "Ubuntu": "Debian", "Linux Mint": "Debian", "Pop!_OS": "Debian", "Kali": "Debian",
    "Devuan": "Debian",
    "RedHat": "RedHat", "CentOS": "RedHat", "Fedora": "RedHat", "Rocky": "RedHat", "AlmaLinux": "RedHat",
    "OracleLinux": "RedHat", "Amazon": "RedHat", "Scientific": "RedHat", "CloudLinux": "RedHat",
    "Virtuozzo": "RedHat", "EuroLinux": "RedHat",
    "SLES": "Suse", "SLES_SAP": "Suse", "openSUSE Leap": "Suse", "openSUSE Tumbleweed": "Suse",
    "Archlinux": "Archlinux", "Manjaro": "Archlinux", "Alpine": "Alpine", "Gentoo": "Gentoo",
}
# ID_LIKE word -> os_family, for distributions the tables above do not know.
FAMILY_LIKE = (("debian", "Debian"), ("ubuntu", "Debian"), ("rhel", "RedHat"), ("fedora", "RedHat"),
               ("centos", "RedHat"), ("suse", "Suse"), ("arch", "Archlinux"))


def hostnames(host):
    """(kernel host name, static host name from /etc/hostname)."""
    return _first_line(host.read("/proc/sys/kernel/hostname")), _first_line(host.read("/etc/hostname"))


def os_release(host):
    """family/distribution/version from os-release, named as setup names them."""
    release = {}
    for name in OS_RELEASE_FILES:
        text = host.read(name)
        if text is not None:
            release = _os_release(text)
            break
    ident = release.get("ID", "").lower() or None
    like = release.get("ID_LIKE", "").lower().split()
    distribution = DISTRIBUTIONS.get(ident) if ident else None
    if distribution is None and ident:
        distribution = release.get("NAME") or ident
    family = FAMILIES.get(distribution)
    if family is None:
        family = next((fam for word, fam in FAMILY_LIKE if word in like), distribution)
    version = release.get("VERSION_ID") or None
    return dict(
        family=family,
        distribution=distribution,
        version=version,
        major_version=version.split(".")[0] if version else None,
        codename=release.get("VERSION_CODENAME") or None,
        id=ident,
        id_like=like,
    )


def systemd(host):
    """running: PID 1 is systemd (/run/systemd/system exists); default_target as
    `systemctl get-default` gives it, read from the default.target symlink."""
    target = None
    for directory in UNIT_DIRS:
        if os.path.lexists(host.path(directory, "default.target")):
            target = _unit_alias(host, directory, "default.target")
            break
    return dict(running=host.isdir("/run/systemd/system"), default_target=target)


def _unit_alias(host, directory, name):
    """Follow a unit's alias symlinks (at most 10) to the unit name they end at."""
    for _hop in range(10):
        link = host.path(directory, name)
        if not os.path.islink(link):
            return name
        target = os.readlink(link)
        if target == "/dev/null":
            return None  # masked
        directory = os.path.dirname(target) if target.startswith("/") else os.path.normpath(
            os.path.join(directory, os.path.dirname(target)))
        name = os.path.basename(target)
    return name


def unit_enabled(host, unit):
    """A unit is enabled when a .wants/ or .requires/ directory under /etc links to it
    (what `systemctl enable` makes) and it is not masked."""
    for directory in ("/etc/systemd/system", "/run/systemd/system"):
        link = host.path(directory, unit)
        if os.path.islink(link) and os.readlink(link) == "/dev/null":
            return False
    for directory in ("/etc/systemd/system",):
        for sub in host.listdir(directory):
            if sub.endswith((".wants", ".requires")) and os.path.lexists(host.path(directory, sub, unit)):
                return True
    return False


def unit_active(host, names, unit):
    """A process named in `names` runs in the cgroup of `unit` (/proc/PID/cgroup)."""
    for pid, _comm in host.processes(names):
        for line in (host.read("/proc", pid, "cgroup") or "").splitlines():
            if line.rsplit(":", 1)[-1].rstrip("/").endswith("/" + unit):
                return True
    return False


# -- parsers (pure) -------------------------------------------------------------


def _first_line(text):
    """The first line of a file, stripped; None when the file is missing or empty."""
    lines = (text or "").strip().splitlines()
    return lines[0].strip() or None if lines else None


def _os_release(text):
    """KEY=value pairs of os-release(5), quotes removed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values
