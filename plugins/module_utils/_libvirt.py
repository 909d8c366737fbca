# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small class in front of libvirt: a lazily opened connection and
look-ups by name that return None instead of raising when absent.

When libvirtd goes away (restarted by a package upgrade, stopped by an
administrator) the errors say so in one line, naming the URI and what the
module was doing: ConnectionLostError ("lost the connection to libvirtd ...")
for a connection that was open, UnreachableError ("cannot connect to
libvirtd ...") for one that could not be opened.

No call is retried on a new connection.  Every handle a module holds
(virDomain, virStoragePool, virStream, ...) belongs to the connection it came
from and is dead once that connection is lost, so a retry could only redo the
look-ups, not resume the plan; and a write whose reply was lost may or may
not have reached libvirtd (a defineXML applied, a volume created), so doing
it again blindly could fail or act twice.  The safe recovery is the run
itself: every module re-reads the actual state and plans from it, so running
the play again once libvirtd is back converges.  Opening the connection is
not retried either: with socket activation (Debian, Ubuntu, EL 8+), systemd
holds the socket while libvirtd restarts, so a connection opened then waits
for the new daemon instead of failing, and a libvirtd that is really stopped
should fail the task at once rather than after a wait.

Two runs changing the same object at once: libvirt keeps names unique and
refuses the second define, create or start of the same object ("already
exists with uuid", "exists already", "is already active"), and a volume the
other run is still creating is listed before its file exists ("not found",
"still being allocated").  Connection.call raises ConcurrentChangeError for
these, and _module.run plans the whole task again (see there).
"""

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

# Errors of libvirt's RPC layer (the client side of the socket to libvirtd)
# that mean the socket is gone: "End of file while reading data", "Cannot
# write data: Broken pipe" (VIR_ERR_SYSTEM_ERROR), "client socket is closed"
# (VIR_ERR_INTERNAL_ERROR), and RPC failures (VIR_ERR_RPC).
_TRANSPORT_DOMAINS = ("VIR_FROM_RPC", "VIR_FROM_REMOTE")
_TRANSPORT_CODES = ("VIR_ERR_SYSTEM_ERROR", "VIR_ERR_INTERNAL_ERROR", "VIR_ERR_RPC", "VIR_ERR_NO_CONNECT")


# Refusals that can only mean another client changed the object after this
# module read it: a module creates only what it found absent and starts only
# what it found inactive; and a volume another client is still creating is
# listed before its file exists.  ("not active" is left out: it also answers
# plain mistakes, which must not be reported as a race.)
_OTHER_WRITER = (
    ("VIR_ERR_STORAGE_VOL_EXIST", None),               # storage volume 'x' exists already
    ("VIR_ERR_OPERATION_FAILED", "already exists"),    # pool/network/domain 'x' already exists with uuid ...
    ("VIR_ERR_OPERATION_INVALID", "already active"),   # storage pool 'x' is already active; network is already active
    ("VIR_ERR_OPERATION_INVALID", "still being allocated"),  # volume 'x' is still being allocated.
    ("VIR_ERR_INTERNAL_ERROR", "asynchronous jobs running"),  # pool 'x' has asynchronous jobs running. (refresh)
)


def _constants(names):
    return [getattr(libvirt, name) for name in names if hasattr(libvirt, name)]


def _is_not_found(error):
    return error.get_error_code() in _constants(_NOT_FOUND_CODES)


def _is_transport_error(error):
    """True for an error of the socket to libvirtd rather than a refusal by libvirtd."""
    get_domain = getattr(error, "get_error_domain", None)
    get_code = getattr(error, "get_error_code", None)
    if get_domain is None or get_code is None:
        return False
    return get_domain() in _constants(_TRANSPORT_DOMAINS) and get_code() in _constants(_TRANSPORT_CODES)


def _is_other_writer(error, lookup):
    """True when libvirt refused a call because another client changed the object first.

    An object that is "not found" by a call on its handle (not by a look-up)
    existed when it was looked up moments before: another client removed it,
    or is still creating it (a volume's file is made after it is listed)."""
    code = error.get_error_code()
    message = _message(error)
    for name, text in _OTHER_WRITER:
        if code == getattr(libvirt, name, None) and (text is None or text in message):
            return True
    return not lookup and _is_not_found(error)


class ConcurrentChangeError(LibvirtError):
    """libvirt refused a call because another client changed the object after this module read it."""

    def __init__(self, action, error):
        super().__init__(action, error)
        self.args = ("{0} (another client changed it at the same time)".format(self),)


class UnreachableError(LibvirtError):
    """libvirtd could not be reached: the connection could not be opened."""

    def __init__(self, uri, action, error):
        super().__init__(action, error)
        self.uri = uri
        purpose = " to {0}".format(action) if action else ""
        self.args = ("uri: cannot connect to libvirtd at {0}{1} (is libvirtd running?): {2}".format(uri, purpose, _message(error)),)


class ConnectionLostError(LibvirtError):
    """The connection to libvirtd broke while the module was using it."""

    def __init__(self, uri, action, error):
        super().__init__(action, error)
        self.uri = uri
        self.args = ("lost the connection to libvirtd ({0}) while {1}: {2} (libvirtd was restarted or stopped during this "
                     "task; run it again once libvirtd is back)".format(uri, action, _message(error)),)


def _message(error):
    """libvirt's message on one line."""
    get = getattr(error, "get_error_message", None)
    return " ".join(str((get() if get else None) or error).split())


class Connection:
    """A libvirt connection opened on first use; close() in a finally."""

    def __init__(self, uri):
        self.uri = uri
        self._conn = None

    @property
    def conn(self):
        return self.open()

    def open(self, action=None):
        """The connection, opened now if needed; `action` says what for (in the error)."""
        if self._conn is None:
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise UnreachableError(self.uri, action, e)
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

    def lost(self, error=None):
        """True when the open connection is dead (libvirtd went away).

        The RPC client marks its connection dead on the first failed call,
        so isAlive() answers without asking libvirtd; a transport error of
        the RPC layer counts too."""
        if self._conn is None:
            return False
        try:
            if not self._conn.isAlive():
                return True
        except libvirt.libvirtError:
            return True
        return error is not None and _is_transport_error(error)

    def error(self, action, error, lookup=True):
        """The typed error for a libvirtError raised while doing `action`
        (`lookup`: a look-up by name or path, whose "not found" is an answer)."""
        if self.lost(error):
            return ConnectionLostError(self.uri, action, error)
        if _is_other_writer(error, lookup):
            return ConcurrentChangeError(action, error)
        return LibvirtError(action, error)

    def translate(self, exc):
        """A LibvirtError raised without this class (or a bare libvirtError) as
        ConnectionLostError when the connection is dead; others unchanged."""
        if isinstance(exc, (ConnectionLostError, UnreachableError)):
            return exc
        if isinstance(exc, LibvirtError):
            return ConnectionLostError(self.uri, exc.action, exc.error) if self.lost(exc.error) else exc
        if libvirt is not None and isinstance(exc, libvirt.libvirtError):
            return self.error("talking to libvirtd", exc)
        return exc

    def call(self, action, func, *args):
        """Run a libvirt call; a libvirtError becomes a LibvirtError naming `action`
        (a ConnectionLostError when libvirtd went away)."""
        try:
            return func(*args)
        except libvirt.libvirtError as e:
            raise self.error(action, e, lookup="lookup" in getattr(func, "__name__", "").lower())

    def _lookup(self, method, name, action):
        func = getattr(self.open(action), method)
        try:
            return func(name)
        except libvirt.libvirtError as e:
            if _is_not_found(e):
                return None
            raise self.error(action, e)

    def domain(self, name):
        return self._lookup("lookupByName", name, "look up domain {0}".format(name))

    def network(self, name):
        return self._lookup("networkLookupByName", name, "look up network {0}".format(name))

    def pool(self, name):
        return self._lookup("storagePoolLookupByName", name, "look up pool {0}".format(name))

    def volume(self, pool, name):
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as e:
            if _is_not_found(e):
                return None
            raise self.error("look up volume {0}".format(name), e)
