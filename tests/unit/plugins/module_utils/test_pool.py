# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_pool's back end: input validation, and plan/apply against libvirt's
built-in test:///default driver (its pools are real definitions; their
directories are real directories under tmp_path)."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import (
    PoolDirectory,
    PoolSpec,
    _permissions,
    format_mode,
    is_local,
    parse_mode,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_pool
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

URI = "test:///default"


@pytest.fixture
def connection():
    """Open while the test runs: test:///default keeps its state while one connection to it is open."""
    conn = Connection(URI)
    conn.open()
    yield conn
    conn.close()


@pytest.fixture
def name():
    return "u{0}-pool".format(uuid.uuid4().hex[:8])


class ModuleFailed(Exception):
    def __init__(self, result):
        super().__init__(result["msg"])
        self.result = result


def run_module(main, args, check_mode=False):
    """The module's main() in this process (AnsibleModule, the runner, the
    back end), with --diff; its result, or ModuleFailed."""
    result = run_main(main, args, check_mode)
    if result.get("failed"):
        raise ModuleFailed(result)
    return result


def reconcile(connection, check_mode=False, **params):
    """kvm_pool on test:///default (whose state lives while `connection` is open)."""
    return run_module(kvm_pool.main, dict(params, uri=URI), check_mode)


def before_after(result):
    return dict(before=result["diff"]["before"], after=result["diff"]["after"])


def mode_of(path):
    return format_mode(stat.S_IMODE(os.stat(str(path)).st_mode))


# -------------------------------------------------------------- validation

@pytest.mark.parametrize("params, field", [
    (dict(name="a/b", path="/x"), "name"),
    (dict(name="", path="/x"), "name"),
    (dict(name="a\x00b", path="/x"), "name"),  # libvirt's C strings: crashed the module
    (dict(name="a\tb", path="/x"), "name"),    # was accepted into the name
    (dict(name="a\x7f", path="/x"), "name"),
    (dict(name=".", path="/x"), "name"),      # libvirt names files after its pools
    (dict(name="..", path="/x"), "name"),
    (dict(name="p", path="relative"), "path"),
    (dict(name="p", path="/x/\x1b"), "path"),  # lxml refused it in the pool's XML: a traceback
    (dict(name="p", path="/x/\x00"), "path"),
    (dict(name="p", path="/x/a\nb"), "path"),
    (dict(name="p", path="/x", mode="0999"), "mode"),
    (dict(name="p", path="/x", mode="rwx"), "mode"),
    (dict(name="p", path="/x", mode="17777"), "mode"),
    (dict(name="p", path="/x", mode=True), "mode"),
    (dict(name="p", path="/x", owner="kvmops-no-such-user"), "owner"),
    (dict(name="p", path="/x", group="kvmops-no-such-group"), "group"),
    (dict(name="p", path="/x", type="logical"), "type"),
])
def test_bad_input_names_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        PoolSpec(**params)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")


@pytest.mark.parametrize("value, expected", [
    ("0755", 0o755), ("755", 0o755), ("0o750", 0o750), (0o700, 0o700), (493, 0o755), ("2775", 0o2775), (None, None),
])
def test_mode_is_octal_string_or_int(value, expected):
    assert parse_mode("mode", value) == expected


def test_owner_and_group_by_name_or_id():
    spec = PoolSpec(name="p", path="/x", owner="root", group="0")
    assert (spec.uid, spec.gid) == (0, 0)
    assert PoolSpec(name="p", path="/x", owner="1234", group="root").uid == 1234


@pytest.mark.parametrize("path, expected", [("/a/b/", "/a/b"), ("/a//b", "/a/b"), ("//a/./b", "/a/b")])
def test_path_is_normalised_as_libvirt_does(path, expected):
    assert PoolSpec(name="p", path=path).path == expected


def test_desired_xml_holds_only_what_was_given():
    root = PoolSpec(name="p", path="/x").xml()
    assert root.find("target/permissions") is None
    assert root.findtext("target/path") == "/x"
    root = PoolSpec(name="p", path="/x", mode="750", owner="0").xml()
    assert root.findtext("target/permissions/mode") == "0750"
    assert root.findtext("target/permissions/owner") == "0"
    assert root.find("target/permissions/group") is None


def test_permissions_of_a_definition():
    root = parse("<pool><target><permissions><mode>0711</mode><owner>-1</owner><group>107</group></permissions></target></pool>")
    assert _permissions(root) == (0o711, None, 107)
    assert _permissions(parse("<pool><target/></pool>")) == (None, None, None)


@pytest.mark.parametrize("uri, local", [
    ("qemu:///system", True), ("test:///default", True), ("qemu+ssh://root@kvm1/system", False), ("qemu://localhost/system", True),
])
def test_local_uris(uri, local):
    assert is_local(uri) is local


# ------------------------------------------------------ plan/apply (test://)

def test_create_check_apply_and_rerun(connection, name, tmp_path):
    path = tmp_path / "pool"
    params = dict(name=name, path=str(path), mode="0750")
    check = reconcile(connection, check_mode=True, **params)
    assert check["changed"]
    assert check["diff"]["after"]["directory"]["mode"] == "0750"
    assert check["pool"]["uuid"] is None
    assert connection.pool(name) is None
    assert not path.exists()

    applied = reconcile(connection, **params)
    assert applied["changed"]
    assert applied["actions"] == check["actions"]
    assert applied["pool"]["active"] and applied["pool"]["autostart"]
    assert len(applied["pool"]["uuid"]) == 36
    assert mode_of(path) == "0750"
    pool = connection.pool(name)
    assert pool.isActive() and pool.autostart()
    assert parse(pool.XMLDesc(0)).findtext("target/permissions/mode") == "0750"

    again = reconcile(connection, check_mode=True, **params)
    assert not again["changed"], again["diff"]
    assert again["actions"] == []
    assert not reconcile(connection, **params)["changed"]


# libvirt's test driver keeps the old definition of an active pool across a
# restart (no VIR_STORAGE_XML_INACTIVE, no pending definition), so updates are
# applied to inactive pools here; the restart of an active pool is planned
# here and applied in the kvm_pool integration target (qemu:///system).

def test_path_change_of_an_active_pool_plans_a_restart(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "one"))
    check = reconcile(connection, check_mode=True, name=name, path=str(tmp_path / "two"))
    assert check["changed"] and check["restarted"]
    assert check["diff"]["before"]["pool/target/path"] == str(tmp_path / "one")
    assert check["diff"]["after"]["pool/target/path"] == str(tmp_path / "two")
    assert check["pool"]["path"] == str(tmp_path / "two")
    assert check["actions"] == [
        "redefine pool {0}".format(name),
        "stop pool {0} to apply its new definition".format(name),
        "create directory {0}".format(tmp_path / "two"),
        "start pool {0}".format(name),
    ]
    assert str(tmp_path / "one") in connection.pool(name).XMLDesc(0)
    assert not (tmp_path / "two").exists()


def test_path_change_redefines_in_place_and_keeps_uuid(connection, name, tmp_path):
    first = reconcile(connection, name=name, path=str(tmp_path / "one"), active=False)
    applied = reconcile(connection, name=name, path=str(tmp_path / "two"), active=False)
    assert applied["changed"] and not applied["restarted"]
    assert applied["pool"]["uuid"] == first["pool"]["uuid"]
    assert applied["pool"]["path"] == str(tmp_path / "two")
    assert (tmp_path / "two").is_dir() and (tmp_path / "one").is_dir()
    assert not reconcile(connection, name=name, path=str(tmp_path / "two"), active=False)["changed"]


def test_permission_change_needs_no_restart(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "p"))
    assert mode_of(tmp_path / "p") == "0711"
    check = reconcile(connection, check_mode=True, name=name, mode="0700")
    assert check["changed"] and not check["restarted"]
    assert check["diff"]["after"]["directory.mode"] == "0700"
    reconcile(connection, name=name, active=False)
    applied = reconcile(connection, name=name, mode="0700", active=False)
    assert applied["diff"]["after"]["pool/target/permissions"].strip() == "<permissions>\n  <mode>0700</mode>\n</permissions>"
    assert mode_of(tmp_path / "p") == "0700"
    assert not reconcile(connection, name=name, mode="0700", active=False)["changed"]


def test_directory_drift_is_repaired(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "p"), mode="0750")
    os.chmod(str(tmp_path / "p"), 0o777)
    check = reconcile(connection, check_mode=True, name=name, path=str(tmp_path / "p"))
    assert before_after(check) == {"before": {"directory.mode": "0777"}, "after": {"directory.mode": "0750"}}
    reconcile(connection, name=name, path=str(tmp_path / "p"))
    assert mode_of(tmp_path / "p") == "0750"


def test_inactive_and_no_autostart(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "p"))
    applied = reconcile(connection, name=name, active=False, autostart=False)
    assert applied["diff"]["after"] == {"active": False, "autostart": False}
    pool = connection.pool(name)
    assert not pool.isActive() and not pool.autostart()
    assert not reconcile(connection, name=name, active=False, autostart=False)["changed"]
    assert reconcile(connection, name=name)["actions"] == [
        "start pool {0}".format(name), "set autostart of pool {0}".format(name)]


def test_create_without_path_fails_before_anything(connection, name):
    with pytest.raises(ModuleFailed, match=r"^path: required"):
        reconcile(connection, name=name)
    assert connection.pool(name) is None


def test_changing_the_type_of_an_existing_pool_fails(connection, name):
    connection.conn.storagePoolDefineXML(
        "<pool type='logical'><name>{0}</name><source><name>vg</name></source>"
        "<target><path>/dev/vg</path></target></pool>".format(name), 0)
    with pytest.raises(ModuleFailed, match=r"^type: pool .* is of type logical"):
        reconcile(connection, name=name, path="/dev/vg")


def test_absent_keeps_the_directory(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "p"))
    (tmp_path / "p" / "keep.img").write_bytes(b"x")
    check = reconcile(connection, check_mode=True, name=name, state="absent")
    assert check["changed"] and connection.pool(name) is not None
    applied = reconcile(connection, name=name, state="absent")
    assert applied["actions"] == ["stop pool {0}".format(name), "undefine pool {0}".format(name)]
    assert applied["pool"] == {}
    assert connection.pool(name) is None
    assert (tmp_path / "p" / "keep.img").exists()
    assert not reconcile(connection, name=name, state="absent")["changed"]


def test_purge_deletes_volumes_then_the_directory(connection, name, tmp_path):
    reconcile(connection, name=name, path=str(tmp_path / "p"))
    pool = connection.pool(name)
    pool.createXML("<volume><name>v1</name><capacity>1024</capacity></volume>", 0)
    check = reconcile(connection, check_mode=True, name=name, state="absent", purge=True)
    assert check["diff"]["before"]["volumes"] == ["v1"]
    assert check["diff"]["after"]["directory"] is None
    assert [v.name() for v in pool.listAllVolumes(0)] == ["v1"]
    applied = reconcile(connection, name=name, state="absent", purge=True)
    assert applied["actions"] == check["actions"]
    assert applied["actions"][-2:] == ["delete directory {0}".format(tmp_path / "p"), "undefine pool {0}".format(name)]
    assert connection.pool(name) is None


def test_definition_round_trips_through_libvirt(connection, name, tmp_path):
    spec = PoolSpec(name=name, path=str(tmp_path / "p"), mode="0750", owner="0", group="0")
    connection.conn.storagePoolDefineXML(to_string(spec.xml()), 0)
    os.makedirs(str(tmp_path / "p"), 0o750)
    os.chmod(str(tmp_path / "p"), 0o750)
    check = reconcile(connection, check_mode=True, name=name, path=str(tmp_path / "p"), mode="0750", owner="0", group="0")
    assert list(check["diff"]["after"]) == ["active", "autostart"]


def test_absent_transient_pool_is_only_stopped(connection, name, tmp_path):
    connection.conn.storagePoolCreateXML(
        "<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(name, tmp_path), 0)
    applied = reconcile(connection, name=name, state="absent")
    assert applied["actions"] == ["stop pool {0}".format(name)]
    assert connection.pool(name) is None


def test_path_below_a_file_fails_before_anything(connection, name, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ModuleFailed, match=r"^path: .*Not a directory"):
        reconcile(connection, name=name, path=str(tmp_path / "file" / "sub"))
    with pytest.raises(ModuleFailed, match=r"^path: .* is not a directory"):
        reconcile(connection, name=name, path=str(tmp_path / "file"))
    assert connection.pool(name) is None


def test_a_path_that_does_not_print_is_quoted_in_messages(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    path = str(tmp_path / "file" / "b\u2028c")  # a line separator: printable it is not
    with pytest.raises(ValidationError) as info:
        PoolDirectory(path, None, None, None).actual()
    assert str(info.value) == "path: {0!r}: Not a directory".format(path)


def test_directory_errors_become_kvm_errors(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    directory = PoolDirectory(str(tmp_path / "file" / "sub"), None, None, None)
    with pytest.raises(KvmError, match=r"^directory .*/file/sub: Not a directory"):
        directory.apply(dict(mode="0711", owner=os.geteuid(), group=os.getegid()))
