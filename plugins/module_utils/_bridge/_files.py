# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one atomic file write of the bridge package (configuration files,
backups, scripts, unit files), and the managed host's files seen from a
root other than / in unit tests.

A file that exists keeps its mode and owner: an administrator's 0600
interfaces.d file holding a wpa-psk stays 0600.  The temporary file is
created 0600 (mkstemp) and given its final mode and owner before the first
byte is written, so the content is never readable by more than the final
file allows; it is renamed over the old file only once complete."""

from __future__ import annotations

import glob
import os
import stat
import tempfile


def atomic_write(path, content, mode=0o644, keep=True):
    """Write `content` (str) to `path` atomically.  keep=True: a file that
    exists keeps its mode and owner, `mode` applies to a new file only."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    uid = gid = None
    if keep:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            pass
        else:
            mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path)[:40] + ".", suffix=".kvmops-tmp")
    try:
        if uid is not None and (uid, gid) != (os.geteuid(), os.getegid()):
            os.fchown(fd, uid, gid)  # before fchmod: chown clears set-id bits
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = None
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def file_owner(path):
    """(mode, uid, gid) of an existing file, or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


class Files:
    """The managed host's files (a root other than / for tests)."""

    def __init__(self, root="/"):
        self.root = root

    def real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path):
        try:
            with open(self.real(path), encoding="utf-8") as f:
                return f.read()
        except (IOError, OSError):
            return None

    def exists(self, path):
        return os.path.exists(self.real(path))

    def glob(self, pattern):
        """Paths (as on the managed host) that match `pattern`, sorted."""
        return sorted("/" + os.path.relpath(real, self.root) for real in glob.glob(self.real(pattern)))

    def owner(self, path):
        return file_owner(self.real(path))

    def write(self, path, content, mode=0o644):
        """`mode` is that of a new file; a file that exists keeps its own (and its owner)."""
        atomic_write(self.real(path), content, mode)

    def delete(self, path):
        if os.path.lexists(self.real(path)):
            os.unlink(self.real(path))
