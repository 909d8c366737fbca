# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Software a role asks about: installed packages (one dpkg-query or rpm -q
run) and sshd's effective settings (one sshd -T run)."""

from __future__ import annotations

SSHD_CONNECTION = "user=root,host=localhost,addr=127.0.0.1"


def package_facts(host, packages):
    """(manager, {name: {installed, version}}) for the names asked for, from one
    dpkg-query or rpm -q run; names the manager does not know are not installed."""
    packages = list(packages or [])
    if not packages:
        return None, {}
    found = {}
    manager = None
    dpkg = host.which("dpkg-query")
    rpm = None if dpkg else host.which("rpm")
    if dpkg:
        manager = "dpkg"
        found = _dpkg_query(host.any_output([dpkg, "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n", "--"]
                                            + packages))
    elif rpm:
        manager = "rpm"
        found = _rpm_query(host.any_output([rpm, "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"] + packages))
    return manager, dict(
        (name, dict(installed=name in found, version=found.get(name))) for name in packages
    )


def sshd(host):
    """sshd's effective settings for a root login from localhost (`sshd -T -C ...`):
    what sshd_config, its includes and Match blocks amount to."""
    binary = host.which("sshd")
    if not binary:
        return dict(binary=None, effective=None, error="sshd is not installed")
    argv = [binary, "-T", "-C", SSHD_CONNECTION]
    try:
        rc, out, err = host.run_command(argv)
    except (IOError, OSError) as e:
        return dict(binary=binary, effective=None, error=str(e))
    if rc != 0:
        return dict(binary=binary, effective=None,
                    error="{0} exited with {1}: {2}".format(" ".join(argv), rc, (err or out or "").strip()))
    return dict(binary=binary, effective=_sshd_settings(out), error=None)


# -- parsers (pure) -------------------------------------------------------------


def _sshd_settings(text):
    """{keyword: value} from `sshd -T` (keywords lowercased as sshd prints them); a keyword
    printed more than once (hostkey, listenaddress, subsystem ...) gets the list of its values."""
    found = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        key, value = parts[0].lower(), parts[1] if len(parts) > 1 else ""
        if key in found:
            if not isinstance(found[key], list):
                found[key] = [found[key]]
            found[key].append(value)
        else:
            found[key] = value
    return found


def _dpkg_query(text):
    """{package: version} of the installed ones (status ii, hi, ...) from
    dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2][1:2] == "i" and parts[1]:
            found.setdefault(parts[0], parts[1])
    return found


def _rpm_query(text):
    """{package: version-release} from rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n'
    ("package X is not installed" lines have no tab)."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] and " " not in parts[0]:
            found.setdefault(parts[0], parts[1])
    return found
