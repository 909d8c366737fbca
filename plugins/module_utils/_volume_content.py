# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume's content: its sha256 (read from the file when libvirt is local,
else downloaded through libvirt) and uploads of a file through a libvirt
stream."""

from __future__ import annotations

import fcntl
import hashlib
import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import is_local
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

_CHUNK = 1024 * 1024


def sha256_file(path, algorithm="sha256"):
    """The hex digest of a file (sha256 unless `algorithm` says sha512)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def abort(stream):
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass


class Content:
    """Hashes and streams over one connection.  A file's hash is kept for
    the run (keyed by its identity and mtime), so planning twice (validate
    every item, then plan each before applying it) reads it once."""

    def __init__(self, connection):
        self.connection = connection
        self._hashes = {}

    def file_hash(self, path, algorithm="sha256"):
        st = os.stat(path)
        key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, algorithm)
        if key not in self._hashes:
            self._hashes[key] = sha256_file(path, algorithm)
        return self._hashes[key]

    def local_path(self, volume, label):
        """The volume's file when libvirt runs on this host and it is readable, else None."""
        if not is_local(self.connection.uri):
            return None
        path = self.connection.call("read volume {0}".format(label), volume.path)
        return path if os.path.isfile(path) and os.access(path, os.R_OK) else None

    def volume_hash(self, volume, label, algorithm="sha256"):
        """sha256 of a volume's content: read from its file when libvirt is
        local (about twice as fast), else downloaded through libvirt."""
        path = self.local_path(volume, label)
        if path is None:
            return self.download_hash(volume, label, algorithm)
        try:
            return self.file_hash(path, algorithm)
        except OSError as e:
            raise KvmError("read volume {0}: {1}".format(label, e.strerror or e))

    def download_hash(self, volume, label, algorithm="sha256"):
        """The hash of a volume's content, streamed through libvirt."""
        digest = hashlib.new(algorithm)
        stream = self.connection.call("read volume {0}".format(label), self.connection.conn.newStream, 0)
        try:
            self.connection.call("download volume {0}".format(label), volume.download, stream, 0, 0, 0)
            self.connection.call("download volume {0}".format(label), stream.recvAll, lambda _s, data, _o: digest.update(data), None)
            self.connection.call("download volume {0}".format(label), stream.finish)
        except KvmError:
            abort(stream)
            raise
        return digest.hexdigest()

    def upload(self, label, volume, path, size):
        """Stream the file `path` (`size` bytes) into `volume`."""
        try:
            stream = self.connection.call(label, self.connection.conn.newStream, 0)
            with open(path, "rb") as handle:
                try:
                    self.connection.call(label, volume.upload, stream, 0, size, 0)
                    self.connection.call(label, stream.sendAll, lambda _s, nbytes, fh: fh.read(nbytes), handle)
                    self.connection.call(label, stream.finish)
                except KvmError:
                    abort(stream)
                    raise
        except OSError as e:
            raise KvmError("{0}: {1}".format(label, e.strerror or e))


# An upload lands in a volume of this name beside its target first, and takes
# the target's place (a rename inside the pool's directory) only once its
# sha256 verified, so the target never holds a partial or unverified upload.
STAGING_SUFFIX = ".kvmops-upload"


def staging_name(name):
    return name + STAGING_SUFFIX


def local_directory(connection, pool):
    """The directory of a dir pool when libvirt runs on this host, else None."""
    if not is_local(connection.uri):
        return None
    root = parse(connection.call("read pool {0}".format(pool.name()), pool.XMLDesc, 0))
    path = root.findtext("target/path")
    if root.get("type") != "dir" or not path or not os.path.isdir(path):
        return None
    return path


class PoolLock:
    """An exclusive lock on a pool's directory (flock) while this run stages
    and swaps in an upload: two runs never stage into the same volume, and a
    staging volume found while holding it is a leftover of a run that died."""

    def __init__(self, directory, label):
        self.directory = directory
        self.label = label
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.directory, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as e:
            if self.fd is not None:
                os.close(self.fd)
            raise KvmError("{0}: cannot lock {1}: {2}".format(self.label, self.directory, e.strerror or e))
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
