# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small class in front of libvirt: a lazily opened connection and
look-ups by name that return None instead of raising when absent."""

from __future__ import annotations

import traceback

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError

try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None
    # libvirt prints every error to stderr by default; we report them ourselves.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

HAS_LIBVIRT = libvirt is not None

_NOT_FOUND_CODES = (
    "VIR_ERR_NO_DOMAIN",
    "VIR_ERR_NO_NETWORK",
    "VIR_ERR_NO_STORAGE_POOL",
    "VIR_ERR_NO_STORAGE_VOL",
)


def _is_not_found(error):
    codes = [getattr(libvirt, name, None) for name in _NOT_FOUND_CODES]
    return error.get_error_code() in codes


class Connection:
    """A libvirt connection opened on first use; close() in a finally."""

    def __init__(self, uri):
        self.uri = uri
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise LibvirtError("uri: cannot connect to {0}".format(self.uri), e)
        return self._conn

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError:
                pass
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, action, func, *args):
        """Run a libvirt call; a libvirtError becomes a LibvirtError naming `action`."""
        try:
            return func(*args)
        except libvirt.libvirtError as e:
            raise LibvirtError(action, e)

    def _lookup(self, func, name, action):
        try:
            return func(name)
        except libvirt.libvirtError as e:
            if _is_not_found(e):
                return None
            raise LibvirtError(action, e)

    def domain(self, name):
        return self._lookup(self.conn.lookupByName, name, "look up domain {0}".format(name))

    def network(self, name):
        return self._lookup(self.conn.networkLookupByName, name, "look up network {0}".format(name))

    def pool(self, name):
        return self._lookup(self.conn.storagePoolLookupByName, name, "look up pool {0}".format(name))

    def volume(self, pool, name):
        return self._lookup(pool.storageVolLookupByName, name, "look up volume {0}".format(name))
