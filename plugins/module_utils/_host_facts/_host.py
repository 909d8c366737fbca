# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every fact collector reads through: files under a root (so unit
tests read fixture /proc, /sys and /etc trees) and commands run only through
the module (run_command/get_bin_path).  Nothing here writes anything."""

from __future__ import annotations

import os

# Where get_bin_path does not look by default but daemons live.
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/libexec")


def _no_runner(argv):
    return 127, "", "no runner: {0} not run".format(argv[0])


class Host:
    """root:        filesystem root to read /proc, /sys, /dev from ("/" on a host).
    run_command: callable(argv list) -> (rc, stdout, stderr); None runs nothing.
    which:       callable(name) -> absolute path or None; the default looks for
                 the name under `root` in PATH and SBIN_DIRS."""

    def __init__(self, root="/", run_command=None, which=None):
        self.root = root
        self.run_command = run_command or _no_runner
        self.which = which or self._which

    def path(self, *parts):
        return os.path.join(self.root, *[p.lstrip("/") for p in parts])

    def read(self, *parts):
        """File contents as text, or None when it cannot be read."""
        try:
            with open(self.path(*parts), "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except (IOError, OSError):
            return None

    def listdir(self, *parts):
        try:
            return sorted(os.listdir(self.path(*parts)))
        except (IOError, OSError):
            return []

    def isdir(self, *parts):
        return os.path.isdir(self.path(*parts))

    def readlink(self, path):
        try:
            return os.readlink(self.path(path))
        except (IOError, OSError):
            return None

    def _which(self, name):
        if name.startswith("/"):
            return name if os.access(self.path(name), os.X_OK) else None
        dirs = os.environ.get("PATH", "").split(os.pathsep) + list(SBIN_DIRS)
        for directory in dirs:
            if directory and os.access(self.path(directory, name), os.X_OK):
                return os.path.join(directory, name)
        return None

    def output(self, argv):
        """stdout+stderr of a command, or None when it did not run or failed."""
        try:
            rc, out, err = self.run_command(argv)
        except (IOError, OSError):
            return None
        if rc != 0:
            return None
        return "{0}\n{1}".format(out or "", err or "")

    def any_output(self, argv):
        """stdout of a command whatever its exit status (dpkg-query and rpm exit non-zero
        when a name is unknown but still print the others)."""
        try:
            _rc, out, _err = self.run_command(argv)
        except (IOError, OSError):
            return ""
        return out or ""

    def processes(self, names):
        """(pid, comm) of the processes named in `names` in this PID namespace: a
        container's daemons are visible in the host's /proc but are not the host's."""
        own = self.readlink("/proc/self/ns/pid")
        for pid in self.listdir("/proc"):
            if not pid.isdigit():
                continue
            comm = (self.read("/proc", pid, "comm") or "").strip()
            if comm not in names:
                continue
            namespace = self.readlink("/proc/{0}/ns/pid".format(pid))
            if own and namespace and namespace != own:
                continue
            yield pid, comm

    def running(self, names):
        """Sorted names of the processes in `names` found in /proc."""
        return sorted(set(comm for _pid, comm in self.processes(names)))
