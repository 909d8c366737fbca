# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_libvirt.Connection when libvirtd goes away, and _module.run's one-line failures.

A lost connection needs a daemon to lose: each test that needs one starts its
own unprivileged libvirtd (as nobody, in a temporary directory, no system
state touched) and reaches libvirt's test:///default driver through it
(test+unix:///default?socket=...), then kills that daemon.  The runner's
shared libvirtd is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

libvirt = pytest.importorskip("libvirt")

# pylint: disable=wrong-import-position
from ansible_collections.kvmops.hypervisor.plugins.module_utils import _module
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import (
    ConcurrentChangeError,
    Connection,
    ConnectionLostError,
    UnreachableError,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import PoolBackend, PoolSpec

NOBODY = 65534
LIBVIRTD = shutil.which("libvirtd") or "/usr/sbin/libvirtd"


class PrivateLibvirtd:
    """An unprivileged libvirtd of our own, serving the test driver on a socket in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kvmops-unit-libvirtd-")
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, NOBODY, NOBODY)
        self.socket = os.path.join(self.dir, "run", "libvirt", "libvirt-sock")
        self.uri = "test+unix:///default?socket={0}".format(self.socket)
        env = dict(os.environ, HOME=self.dir, XDG_RUNTIME_DIR=os.path.join(self.dir, "run"),
                   XDG_CONFIG_HOME=os.path.join(self.dir, "config"), XDG_CACHE_HOME=os.path.join(self.dir, "cache"))
        self.log = open(os.path.join(self.dir, "libvirtd.log"), "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["setpriv", "--reuid={0}".format(NOBODY), "--regid={0}".format(NOBODY), "--clear-groups", LIBVIRTD],
            env=env, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds=60):
        """Wait until the daemon answers (a readiness wait, not an assertion on time)."""
        deadline = time.monotonic() + seconds
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("libvirtd exited with {0}: {1}".format(self.proc.returncode, self.read_log()))
            try:
                libvirt.open(self.uri).close()
                return self
            except libvirt.libvirtError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def read_log(self):
        with open(os.path.join(self.dir, "libvirtd.log"), "rb") as log:
            return log.read().decode("utf-8", "replace")[-2000:]

    def signal(self, signum):
        self.proc.send_signal(signum)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def remove(self):
        self.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def libvirtd():
    if os.geteuid() != 0 or not os.path.exists(LIBVIRTD) or not shutil.which("setpriv"):
        pytest.skip("needs root, libvirtd and setpriv to run a private libvirtd as nobody")
    daemon = PrivateLibvirtd()
    try:
        yield daemon.wait_ready()
    finally:
        daemon.remove()


def assert_one_line(message):
    assert "\n" not in message and "Traceback" not in message, message


def test_lookup_after_libvirtd_died_says_the_connection_was_lost(libvirtd):
    connection = Connection(libvirtd.uri)
    try:
        assert connection.domain("test").name() == "test"
        assert connection.lost() is False
        libvirtd.kill()
        with pytest.raises(ConnectionLostError) as info:
            connection.pool("default")
        message = str(info.value)
        assert_one_line(message)
        assert message.startswith("lost the connection to libvirtd ({0}) while look up pool default: ".format(libvirtd.uri)), message
        assert "run it again once libvirtd is back" in message
        assert isinstance(info.value, LibvirtError)  # callers catching LibvirtError still catch it
        assert connection.lost() is True
        # Every later call on the dead connection says the same.
        with pytest.raises(ConnectionLostError, match=r"while look up network default: .*client socket is closed"):
            connection.network("default")
    finally:
        connection.close()


def test_call_in_flight_when_libvirtd_dies(libvirtd):
    """A call waiting for libvirtd's reply when libvirtd dies (frozen first, so the call is surely in flight)."""
    connection = Connection(libvirtd.uri)
    dom = connection.domain("test")
    outcome = {}

    def read_state():
        try:
            outcome["value"] = connection.call("domain test: read state", dom.state)
        except LibvirtError as e:
            outcome["error"] = e

    libvirtd.signal(signal.SIGSTOP)
    worker = threading.Thread(target=read_state)
    worker.start()
    try:
        worker.join(0.5)
        assert worker.is_alive(), "the call returned although libvirtd is frozen: {0}".format(outcome)
    finally:
        libvirtd.kill()
        worker.join()
    try:
        error = outcome.get("error")
        assert isinstance(error, ConnectionLostError), outcome
        assert_one_line(str(error))
        assert "lost the connection to libvirtd ({0}) while domain test: read state: ".format(libvirtd.uri) in str(error)
    finally:
        connection.close()


def test_libvirtd_not_running_is_unreachable_and_names_the_object(tmp_path):
    uri = "test+unix:///default?socket={0}".format(tmp_path / "no-such-socket")
    connection = Connection(uri)
    with pytest.raises(UnreachableError) as info:
        connection.domain("web1")
    message = str(info.value)
    assert_one_line(message)
    assert message.startswith("uri: cannot connect to libvirtd at {0} to look up domain web1 (is libvirtd running?): ".format(uri)), message
    assert "no-such-socket" in message
    # Opened without a purpose (connection.conn), the message still names the URI.
    with pytest.raises(UnreachableError, match=r"^uri: cannot connect to libvirtd at \S+ \(is libvirtd running\?\): "):
        connection.conn.getVersion()


def test_refusals_of_a_live_libvirtd_are_not_a_lost_connection():
    connection = Connection("test:///default")
    try:
        with pytest.raises(LibvirtError) as info:
            connection.call("define domain broken", connection.conn.defineXML, "<domain type='test'><name>x</name></domain>")
        assert not isinstance(info.value, ConnectionLostError)
        assert str(info.value).startswith("define domain broken: ")
        assert connection.lost(info.value.error) is False
        assert connection.translate(info.value) is info.value
        assert connection.domain("kvmops-unit-no-such-domain") is None
    finally:
        connection.close()


def test_pool_backend_reports_the_lost_connection(libvirtd):
    """kvm_pool's back end, unchanged, fails with the clear message once libvirtd is gone."""
    connection = Connection(libvirtd.uri)
    name = "u{0}-pool".format(uuid.uuid4().hex[:8])
    try:
        assert connection.pool("default-pool") is not None  # open and in use
        libvirtd.kill()
        with pytest.raises(ConnectionLostError, match=r"^lost the connection to libvirtd \(.*\) while look up pool {0}: ".format(name)):
            PoolBackend(_Planning(), connection).plan(PoolSpec(name=name, path="/var/tmp/" + name))
    finally:
        connection.close()


class _Planning:
    """What a back end reads of its module when it only plans."""

    params = {}
    check_mode = True


class _Failed(Exception):
    pass


class _Exited(Exception):
    pass


class _Module:
    """What run() uses of AnsibleModule: params, fail_json, exit_json (not libvirt: no libvirt mock here)."""

    _diff = False

    def __init__(self, uri):
        self.params = {"uri": uri}
        self.check_mode = False

    @staticmethod
    def warn(message):
        raise AssertionError(message)

    @staticmethod
    def fail_json(**kwargs):
        raise _Failed(kwargs)

    @staticmethod
    def exit_json(**kwargs):
        raise _Exited(kwargs)


def _backend(reconcile):
    """A back end whose one action is `reconcile(connection)` (reads and writes as one step)."""

    class OneStep(Backend):
        def specs(self, params):
            return ["object"]

        def plan(self, spec):
            plan = Plan(spec)
            plan.add("reconcile", lambda: reconcile(self.connection))
            return plan

    return OneStep


def _run(module, reconcile):
    _module.run(module, _backend(reconcile))


def _failure(module, reconcile):
    with pytest.raises(_Failed) as info:
        _run(module, reconcile)
    result = info.value.args[0]
    assert result["changed"] is False, result
    assert_one_line(result["msg"])
    return result["msg"]


def test_run_says_lost_connection_whichever_code_raised_it(libvirtd):
    def reconcile_raw(connection):
        dom = connection.domain("test")
        libvirtd.kill()
        return dom.info()  # a libvirtError that no typed error wrapped

    msg = _failure(_Module(libvirtd.uri), reconcile_raw)
    assert msg.startswith("lost the connection to libvirtd ({0}) while talking to libvirtd: ".format(libvirtd.uri)), msg


def test_run_rewrites_a_plain_libvirt_error_of_a_dead_connection(libvirtd):
    def reconcile_wrapped(connection):
        net = connection.network("default")
        libvirtd.kill()
        try:
            net.XMLDesc(0)
        except libvirt.libvirtError as e:  # as a back end does that raises LibvirtError itself
            raise LibvirtError("read network default", e)
        return {}

    msg = _failure(_Module(libvirtd.uri), reconcile_wrapped)
    assert msg.startswith("lost the connection to libvirtd ({0}) while read network default: ".format(libvirtd.uri)), msg


def test_run_fails_in_one_line_when_libvirtd_is_unreachable(tmp_path):
    uri = "test+unix:///default?socket={0}".format(tmp_path / "gone")
    msg = _failure(_Module(uri), lambda connection: connection.pool("store"))
    assert msg.startswith("uri: cannot connect to libvirtd at {0} to look up pool store".format(uri)), msg


def test_run_keeps_other_libvirt_refusals_as_they_are():
    def reconcile(connection):
        return connection.call("define domain broken", connection.conn.defineXML, "<domain/>")

    msg = _failure(_Module("test:///default"), reconcile)
    assert msg.startswith("define domain broken: ") and "lost the connection" not in msg, msg


def _pool_xml(name, path):
    return "<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(name, path)


def _undefine_pool(name):
    other = libvirt.open("test:///default")
    try:
        other.storagePoolLookupByName(name).undefine()
    except libvirt.libvirtError:
        pass
    finally:
        other.close()


def _define_as_another_client(name, path):
    # test:///default keeps one state per process while a connection to it is open:
    # a second connection is another client of it.
    other = libvirt.open("test:///default")
    try:
        other.storagePoolDefineXML(_pool_xml(name, path), 0)
    finally:
        other.close()


def test_duplicate_define_is_a_concurrent_change(tmp_path):
    name = "u{0}-pool".format(uuid.uuid4().hex[:8])
    connection = Connection("test:///default")
    try:
        connection.open()  # the test driver's state lives while a connection to it is open
        _define_as_another_client(name, str(tmp_path))
        with pytest.raises(ConcurrentChangeError) as info:
            connection.call("define pool {0}".format(name), connection.conn.storagePoolDefineXML, _pool_xml(name, str(tmp_path)), 0)
        assert_one_line(str(info.value))
        assert str(info.value).startswith("define pool {0}: ".format(name))
        assert "already exists" in str(info.value) and str(info.value).endswith("(another client changed it at the same time)")
        assert isinstance(info.value, LibvirtError)
    finally:
        _undefine_pool(name)
        connection.close()


def _define_if_absent(name, path, calls, race_on):
    """A reconcile as the back ends do it: read, then define what was found absent."""

    def reconcile(connection):
        calls.append(len(calls) + 1)
        if len(calls) in race_on:
            _undefine_pool(name)  # so that this attempt reads it absent ...
        if connection.pool(name) is not None:
            return {"changed": False}
        if len(calls) in race_on:
            _define_as_another_client(name, path)  # ... and another client defines it between this read and the write
        connection.call("define pool {0}".format(name), connection.conn.storagePoolDefineXML, _pool_xml(name, path), 0)
        return {"changed": True}

    return reconcile


@pytest.fixture
def test_driver_state():
    """Keeps test:///default's state alive while run() closes and reopens its own connection."""
    keeper = libvirt.open("test:///default")
    yield keeper
    keeper.close()


def test_run_plans_again_after_a_concurrent_create(tmp_path, test_driver_state):
    name = "u{0}-pool".format(uuid.uuid4().hex[:8])
    calls = []
    try:
        with pytest.raises(_Exited) as info:
            _run(_Module("test:///default"), _define_if_absent(name, str(tmp_path), calls, race_on=(1,)))
        assert calls == [1, 2]  # planned again, and the second plan found the pool
        assert info.value.args[0]["changed"] is True
        assert test_driver_state.storagePoolLookupByName(name).name() == name  # one pool, the other client's
    finally:
        _undefine_pool(name)


def test_run_fails_clearly_when_the_conflict_persists(tmp_path, test_driver_state):
    name = "u{0}-pool".format(uuid.uuid4().hex[:8])
    calls = []
    try:
        with pytest.raises(_Failed) as info:
            _run(_Module("test:///default"), _define_if_absent(name, str(tmp_path), calls, race_on=(1, 2, 3, 4)))
        assert calls == [1, 2, 3, 4]  # CONCURRENT_RETRIES re-plans, then the failure
        msg = info.value.args[0]["msg"]
        assert_one_line(msg)
        assert msg.startswith("define pool {0}: ".format(name)) and msg.endswith("(another client changed it at the same time)"), msg
    finally:
        _undefine_pool(name)


def test_an_object_gone_under_its_handle_is_a_concurrent_change(tmp_path, test_driver_state):
    name = "u{0}-pool".format(uuid.uuid4().hex[:8])
    connection = Connection("test:///default")
    try:
        _define_as_another_client(name, str(tmp_path))
        pool = connection.pool(name)
        _undefine_pool(name)  # another client removes it after our look-up
        with pytest.raises(ConcurrentChangeError, match=r"^read pool {0}: .*\(another client changed it at the same time\)$".format(name)):
            connection.call("read pool {0}".format(name), pool.XMLDesc, 0)
        # A look-up's "not found" is an answer, not a race.
        with pytest.raises(LibvirtError) as info:
            connection.call("look up pool {0}".format(name), connection.conn.storagePoolLookupByName, name)
        assert not isinstance(info.value, ConcurrentChangeError)
    finally:
        connection.close()
