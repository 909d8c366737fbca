# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_volume's back end: input validation and plan/apply against libvirt's
test:///default driver; uploads (which that driver lacks) against the
runner's libvirtd, in a pool of this test's own under tmp_path."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import socket
import subprocess
import sys
import time
import uuid

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume import (
    VolumeBackend,
    VolumeSpec,
    sha256_file,
)
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_volume
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

TEST_URI = "test:///default"
TEST_POOL = "default-pool"
SYSTEM_URI = "qemu:///system"


@pytest.fixture
def connection():
    """Open while the test runs: test:///default keeps its state while one connection to it is open."""
    conn = Connection(TEST_URI)
    conn.open()
    yield conn
    conn.close()


@pytest.fixture
def name():
    return "u{0}.qcow2".format(uuid.uuid4().hex[:8])


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src.img"
    path.write_bytes(os.urandom(256 * 1024))
    return path


class ModuleFailed(Exception):
    def __init__(self, result):
        super().__init__(result["msg"])
        self.result = result


class _Planning:
    """What a back end reads of its module when it only plans."""

    params = {}
    check_mode = True


def run_module(args, check_mode=False):
    """kvm_volume's main() in this process (AnsibleModule, the runner, the
    back end), with --diff; its result, or ModuleFailed."""
    result = run_main(kvm_volume.main, args, check_mode)
    if result.get("failed"):
        raise ModuleFailed(result)
    return result


def reconcile(connection, check_mode=False, **params):
    params.setdefault("pool", TEST_POOL)
    return run_module(dict(params, uri=connection.uri), check_mode)


def reconcile_list(connection, volumes, check_mode=False, **params):
    return run_module(dict(params, volumes=volumes, uri=connection.uri), check_mode)


def capacity_of(connection, pool, name):
    return connection.volume(connection.pool(pool), name).info()[1]


# -------------------------------------------------------------- validation

@pytest.mark.parametrize("params, field, message", [
    (dict(name="v", capacity="1G"), "pool", "required"),
    (dict(pool="p", capacity="1G"), "name", "required"),
    (dict(pool="p", name="a/b", capacity="1G"), "name", "must not contain '/'"),
    (dict(pool="p", name="a\x00b", capacity="1G"), "name", "must not contain control characters"),
    (dict(pool="p", name="a\nb", capacity="1G"), "name", "must not contain control characters"),
    (dict(pool="p\x00", name="v", capacity="1G"), "pool", "must not contain control characters"),
    # the volume's file is named after it: check mode predicted a creation libvirt then refused
    (dict(pool="p", name=".", capacity="1G"), "name", "is not a valid name"),
    (dict(pool="p", name="..", capacity="1G"), "name", "is not a valid name"),
    (dict(pool="p", name="v", capacity=0), "capacity", "greater than 0"),
    (dict(pool="p", name="v", capacity="12X"), "capacity", "is not a size"),
    (dict(pool="p", name="v", format="vmdk"), "format", "is not one of"),
    (dict(pool="p", name="v", state="running"), "state", "is not one of"),
    (dict(pool="p", name="v", src="/nonexistent/kvmops.iso"), "src", "does not exist"),
    (dict(pool="p", name="v", src="/"), "src", "not a regular file"),
    (dict(pool="p", name="v", checksum="md5:abc"), "checksum", "expected sha256:"),
    (dict(pool="p", name="v", checksum="sha256:" + "g" * 64), "checksum", "expected sha256:"),
    (dict(pool="p", name="v", checksum="a" * 64), "checksum", "expected sha256:"),
])
def test_bad_input_names_the_field(params, field, message):
    with pytest.raises((ValidationError, NotFoundError)) as info:
        VolumeSpec(**params)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert message in str(info.value)


@pytest.mark.parametrize("src", ["/nonexistent/a\nb.iso", "/nonexistent/a\x1bb.iso"])
def test_a_src_with_a_control_character_stays_on_one_line_of_the_message(src):
    with pytest.raises(NotFoundError) as info:
        VolumeSpec(pool="p", name="v", src=src)
    assert str(info.value) == "src: {0!r} does not exist on the managed host".format(src)


def test_empty_src_fails(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValidationError, match=r"^src: .* is empty"):
        VolumeSpec(pool="p", name="v", src=str(tmp_path / "empty"))


def test_missing_src_is_fine_for_absent():
    assert VolumeSpec(pool="p", name="v", state="absent", src="/nonexistent/kvmops.iso").state == "absent"


def test_items_take_defaults_and_name_their_index():
    defaults = dict(pool="store", state="present", format="raw", capacity=None, name=None, src=None, checksum=None)
    spec = VolumeSpec.from_params(dict(name="a", capacity="1M"), defaults, prefix="volumes[0].")
    assert (spec.pool, spec.format, spec.capacity, spec.state) == ("store", "raw", 1024 * 1024, "present")
    spec = VolumeSpec.from_params(dict(name="b", capacity="1M", format="qcow2", pool="other"), defaults, prefix="volumes[1].")
    assert (spec.pool, spec.format) == ("other", "qcow2")
    with pytest.raises(ValidationError, match=r"^volumes\[2\]\.capacity: "):
        VolumeSpec.from_params(dict(name="c", capacity="0"), defaults, prefix="volumes[2].")


def test_checksum_is_normalised():
    spec = VolumeSpec(pool="p", name="v", checksum=" sha256:" + "AB" * 32 + " ")
    assert spec.checksum == "ab" * 32


def test_default_formats(src):
    assert VolumeSpec(pool="p", name="v", capacity=1).create_format == "qcow2"
    assert VolumeSpec(pool="p", name="v", src=str(src)).create_format == "raw"
    assert VolumeSpec(pool="p", name="v", src=str(src), format="iso").create_format == "iso"


# ------------------------------------------------------ plan/apply (test://)

def test_create_check_apply_and_rerun(connection, name):
    check = reconcile(connection, check_mode=True, name=name, capacity="1M")
    assert check["changed"]
    assert check["diff"]["after"] == {"state": "present", "capacity": 1048576, "format": "qcow2"}
    assert check["volume"]["key"] is None
    assert connection.volume(connection.pool(TEST_POOL), name) is None
    applied = reconcile(connection, name=name, capacity="1M")
    assert applied["changed"] and applied["actions"] == check["actions"]
    assert applied["volume"]["capacity"] == 1048576
    assert applied["volume"]["format"] == "qcow2"
    assert applied["volume"]["path"] == "/default-pool/" + name
    assert not reconcile(connection, check_mode=True, name=name, capacity="1M")["changed"]
    assert not reconcile(connection, name=name, capacity=1048576)["changed"]
    assert not reconcile(connection, name=name)["changed"]


def test_shrink_fails_and_changes_nothing(connection, name):
    reconcile(connection, name=name, capacity="2M")
    with pytest.raises(ModuleFailed, match=r"^capacity: .* 2097152 bytes; shrinking it to 1048576 bytes is not supported"):
        reconcile(connection, name=name, capacity="1M")
    assert capacity_of(connection, TEST_POOL, name) == 2097152


def test_grow_is_planned(connection, name):
    reconcile(connection, name=name, capacity="1M")
    check = reconcile(connection, check_mode=True, name=name, capacity="2M")
    assert check["diff"] == {"before": {"capacity": 1048576}, "after": {"capacity": 2097152},
                             "before_header": "volume default-pool/" + name, "after_header": "volume default-pool/" + name}
    assert check["volume"]["capacity"] == 2097152
    assert check["actions"] == ["grow volume default-pool/{0} to 2097152 bytes".format(name)]
    assert capacity_of(connection, TEST_POOL, name) == 1048576


@pytest.mark.parametrize("fmt, have, want, changed", [
    ("qcow2", 1024, 1000, False),   # qemu-img rounded 1000 up to a whole sector
    ("qcow2", 1536, 1000, None),    # more than a sector above: a shrink
    ("raw", 1024, 1000, None),
    ("raw", 1000, 1000, False),
    ("raw", 1000, 1024, True),
])
def test_capacity_comparison(connection, fmt, have, want, changed):
    spec = VolumeSpec(pool="p", name="v", capacity=want)
    plan = Plan("v")
    current = dict(capacity=have, format=fmt)
    backend = VolumeBackend(_Planning(), connection)
    if changed is None:
        with pytest.raises(ValidationError, match="^capacity: "):
            backend._plan_capacity(plan, spec, None, current)
    else:
        backend._plan_capacity(plan, spec, None, current)
        assert plan.changed is changed


def test_format_of_an_existing_volume_is_not_converted(connection, name):
    reconcile(connection, name=name, capacity="1M", format="qcow2")
    with pytest.raises(ModuleFailed, match=r"^format: volume .* is qcow2"):
        reconcile(connection, name=name, format="raw")


def test_unknown_pool_fails(connection, name):
    with pytest.raises(ModuleFailed, match=r"^pool: storage pool kvmops-no-such-pool does not exist"):
        reconcile(connection, pool="kvmops-no-such-pool", name=name, capacity="1M")


def test_inactive_pool_fails(connection, name, tmp_path):
    pool_name = "u{0}-off".format(uuid.uuid4().hex[:8])
    connection.conn.storagePoolDefineXML(
        "<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(pool_name, tmp_path), 0)
    with pytest.raises(ModuleFailed, match=r"^pool: storage pool .* is not active"):
        reconcile(connection, pool=pool_name, name=name, capacity="1M")


def test_create_needs_capacity_or_src(connection, name):
    with pytest.raises(ModuleFailed, match=r"^capacity: required to create"):
        reconcile(connection, name=name)
    with pytest.raises(ModuleFailed, match=r"^src: required to create .* with a checksum"):
        reconcile(connection, name=name, checksum="sha256:" + "0" * 64)
    assert connection.volume(connection.pool(TEST_POOL), name) is None


def test_absent(connection, name):
    reconcile(connection, name=name, capacity="1M")
    check = reconcile(connection, check_mode=True, name=name, state="absent")
    assert check["changed"] and connection.volume(connection.pool(TEST_POOL), name) is not None
    applied = reconcile(connection, name=name, state="absent")
    assert applied["changed"] and applied["volume"] == {}
    assert connection.volume(connection.pool(TEST_POOL), name) is None
    assert not reconcile(connection, name=name, state="absent")["changed"]


def test_list_is_planned_whole_before_any_change(connection, name):
    volumes = [dict(pool=TEST_POOL, name=name, capacity="1M"), dict(pool="kvmops-no-such-pool", name="b", capacity="1M")]
    with pytest.raises(ModuleFailed, match=r"^volumes\[1\]\.pool: "):
        reconcile_list(connection, volumes)
    assert connection.volume(connection.pool(TEST_POOL), name) is None


def test_list_rejects_duplicates(connection, name):
    volumes = [dict(pool=TEST_POOL, name=name, capacity="1M") for _i in range(2)]
    with pytest.raises(ModuleFailed, match=r"^volumes\[1\]\.name: .* listed more than once"):
        reconcile_list(connection, volumes)


def test_list_results_per_item(connection, name):
    reconcile(connection, name=name, capacity="1M")
    results = reconcile_list(connection, [dict(name=name, capacity="1M"), dict(name="x" + name, capacity="1M")], pool=TEST_POOL)["volumes"]
    assert [r["changed"] for r in results] == [False, True]
    assert [r["volume"]["name"] for r in results] == [name, "x" + name]


# ---------------------------------------------- uploads (qemu:///system)

@pytest.fixture
def system():
    """A connection to the runner's libvirtd and a dir pool of this test's own."""
    try:
        conn = libvirt.open(SYSTEM_URI)
    except libvirt.libvirtError as e:
        pytest.skip("libvirtd not reachable at {0}: {1}".format(SYSTEM_URI, e))
    conn.close()
    connection = Connection(SYSTEM_URI)
    pool_name = "kvmops-it-unit-volume-{0}".format(uuid.uuid4().hex[:8])
    path = "/var/tmp/{0}".format(pool_name)
    os.makedirs(path)
    pool = connection.conn.storagePoolDefineXML(
        "<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(pool_name, path), 0)
    pool.create(0)
    yield connection, pool_name, path
    pool.refresh(0)
    for volume in pool.listAllVolumes(0):
        volume.delete(0)
    pool.destroy()
    pool.delete(0)
    pool.undefine()
    connection.close()


def test_upload_verify_and_rerun(system, src):
    connection, pool, path = system
    checksum = "sha256:" + sha256_file(str(src))
    params = dict(pool=pool, name="up.img", src=str(src), checksum=checksum)
    check = reconcile(connection, check_mode=True, **params)
    assert check["changed"] and check["diff"]["after"]["content"] == checksum
    assert not os.path.exists(os.path.join(path, "up.img"))
    applied = reconcile(connection, **params)
    assert applied["changed"]
    assert applied["volume"]["capacity"] == os.path.getsize(str(src))
    with open(os.path.join(path, "up.img"), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == checksum[len("sha256:"):]
    assert not reconcile(connection, check_mode=True, **params)["changed"]
    assert not reconcile(connection, pool=pool, name="up.img", src=str(src))["changed"]
    # The local file read and the libvirt download agree.
    volume = connection.volume(connection.pool(pool), "up.img")
    manager = VolumeBackend(_Planning(), connection).content
    assert manager.download_hash(volume, "up.img") == manager.volume_hash(volume, "up.img") == checksum[len("sha256:"):]
    # Without src, a matching checksum is unchanged; another one fails.
    assert not reconcile(connection, pool=pool, name="up.img", checksum=checksum)["changed"]
    with pytest.raises(ModuleFailed, match=r"^checksum: volume .* has sha256:"):
        reconcile(connection, pool=pool, name="up.img", checksum="sha256:" + "0" * 64)


def test_upload_that_does_not_verify_is_deleted(system, src):
    """The source changes between plan and upload: the upload does not match
    the checksum planned, so the new volume is deleted and the run fails."""
    connection, pool, path = system
    spec = VolumeSpec(pool=pool, name="race.img", src=str(src), checksum="sha256:" + sha256_file(str(src)))
    plan = VolumeBackend(_Planning(), connection).plan(spec)
    assert plan.changed
    src.write_bytes(os.urandom(256 * 1024))
    with pytest.raises(ValidationError, match=r"^checksum: volume .* after the upload, .*the volume was deleted"):
        for _label, action in plan.actions:
            action()
    libvirt_pool = connection.pool(pool)
    libvirt_pool.refresh(0)
    assert connection.volume(libvirt_pool, "race.img") is None
    assert not os.path.exists(os.path.join(path, "race.img"))


def test_capacity_smaller_than_the_src_image_fails(system, src):
    """Issue 12 settles it: capacity with src is the new volume's size (it
    was refused with src before), never smaller than the image."""
    connection, pool, path = system
    with pytest.raises(ModuleFailed, match=r"^capacity: 1024 bytes is smaller than the image .*src.img \(262144 bytes\)"):
        reconcile(connection, check_mode=True, pool=pool, name="small.img", capacity="1K", src=str(src))
    applied = reconcile(connection, pool=pool, name="grown.img", capacity="1M", src=str(src))
    assert applied["volume"]["capacity"] == 1024 * 1024
    with open(os.path.join(path, "grown.img"), "rb") as handle:
        assert hashlib.sha256(handle.read(256 * 1024)).hexdigest() == sha256_file(str(src))
    assert not reconcile(connection, pool=pool, name="grown.img", capacity="1M", src=str(src))["changed"]


def test_changed_source_fails_unless_replace(system, src):
    """Issue 11, decision 1 (this test asserted that a changed src replaced
    the volume, deleting it first): without replace the run fails naming the
    volume and changes nothing; with replace: true the new content takes the
    volume's place once it verified, keeping the file's owner and mode.
    Issue 12 decides which volumes are compared: an ISO (format iso) on every
    run, an image volume (the guest's disk) only with replace."""
    connection, pool, path = system
    reconcile(connection, pool=pool, name="r.img", src=str(src), format="iso")
    old = sha256_file(os.path.join(path, "r.img"))
    os.chmod(os.path.join(path, "r.img"), 0o640)
    src.write_bytes(os.urandom(128 * 1024))
    message = r"^src: volume {0}/r.img holds other content \({1} bytes\) than .*; replace: true would overwrite it$".format(pool, 256 * 1024)
    for check_mode in (True, False):
        with pytest.raises(ModuleFailed, match=message):
            reconcile(connection, check_mode=check_mode, pool=pool, name="r.img", src=str(src), format="iso")
    assert sha256_file(os.path.join(path, "r.img")) == old
    check = reconcile(connection, check_mode=True, pool=pool, name="r.img", src=str(src), replace=True)
    assert check["diff"]["before"]["content"] == "{0} bytes".format(256 * 1024)
    assert sha256_file(os.path.join(path, "r.img")) == old
    applied = reconcile(connection, pool=pool, name="r.img", src=str(src), replace=True)
    assert applied["actions"] == ["replace volume {0}/r.img from {1}".format(pool, src)]
    assert applied["volume"]["capacity"] == 128 * 1024
    assert sha256_file(os.path.join(path, "r.img")) == sha256_file(str(src))
    assert oct(os.stat(os.path.join(path, "r.img")).st_mode & 0o777) == oct(0o640)
    assert sorted(os.listdir(path)) == ["r.img"]
    assert not reconcile(connection, pool=pool, name="r.img", src=str(src), replace=True)["changed"]


def test_an_image_volume_is_never_hashed_again(system, src):
    """Issue 12: a volume made from src is the guest's disk; a later run with
    another src (same name) checks it exists and changes nothing."""
    connection, pool, path = system
    reconcile(connection, pool=pool, name="disk.img", src=str(src))
    with open(os.path.join(path, "disk.img"), "r+b") as handle:
        handle.write(b"written by the guest")
    again = reconcile(connection, pool=pool, name="disk.img", src=str(src))
    assert not again["changed"] and again["actions"] == []
    with open(os.path.join(path, "disk.img"), "rb") as handle:
        assert handle.read(20) == b"written by the guest"


def test_failed_replacement_keeps_the_old_content(system, src):
    """The upload that replaces a volume does not verify (src changed after
    the plan): the old content stays, the staging volume is gone.  Before
    issue 11 the volume was deleted first, then the new one too."""
    connection, pool, path = system
    reconcile(connection, pool=pool, name="keep.img", src=str(src))
    old = sha256_file(os.path.join(path, "keep.img"))
    src.write_bytes(os.urandom(256 * 1024))
    plan = VolumeBackend(_Planning(), connection).plan(VolumeSpec(pool=pool, name="keep.img", src=str(src), replace=True))
    src.write_bytes(os.urandom(256 * 1024))
    with pytest.raises(ValidationError, match=r"^checksum: volume .* after the upload"):
        for _label, action in plan.actions:
            action()
    assert sha256_file(os.path.join(path, "keep.img")) == old
    libvirt_pool = connection.pool(pool)
    libvirt_pool.refresh(0)
    assert sorted(v.name() for v in libvirt_pool.listAllVolumes(0)) == ["keep.img"]
    assert sorted(os.listdir(path)) == ["keep.img"]


def test_leftover_staging_volume_is_deleted(system, src):
    """A staging volume left by a run that died is removed by the next run."""
    connection, pool, path = system
    with open(os.path.join(path, "s.img.kvmops-upload"), "wb") as handle:
        handle.write(b"partial")
    connection.pool(pool).refresh(0)
    check = reconcile(connection, check_mode=True, pool=pool, name="s.img", src=str(src))
    assert check["actions"][0] == "delete leftover staging volume {0}/s.img.kvmops-upload".format(pool)
    applied = reconcile(connection, pool=pool, name="s.img", src=str(src))
    assert applied["actions"] == check["actions"]
    assert sorted(os.listdir(path)) == ["s.img"]
    assert sha256_file(os.path.join(path, "s.img")) == sha256_file(str(src))


def _domain_xml(name, disks):
    devices = "".join(
        "<disk type='file' device='{0}'><driver name='qemu' type='{1}'/><source file='{2}'/>"
        "<target dev='{3}' bus='{4}'/>{5}</disk>".format(
            device, fmt, source, dev, "sata" if device == "cdrom" else "virtio", "<readonly/>" if device == "cdrom" else "")
        for device, fmt, source, dev in disks)
    return ("<domain type='qemu'><name>{0}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>{1}</devices></domain>").format(name, devices)


@pytest.fixture
def domains(system):
    """Defines domains on the runner's libvirtd; undefines them after."""
    connection = system[0]
    defined = []

    def define(name, disks):
        defined.append(connection.conn.defineXML(_domain_xml(name, disks)))

    yield define
    for domain in defined:
        domain.undefine()


def test_replace_is_refused_while_a_domain_uses_the_volume(system, src, domains):
    """As a CD-ROM, and as the backing file of another domain's disk: the
    message names each domain; nothing changes."""
    connection, pool, path = system
    reconcile(connection, pool=pool, name="used.iso", src=str(src))
    reconcile(connection, pool=pool, name="base.img", src=str(src))
    libvirt_pool = connection.pool(pool)
    libvirt_pool.createXML(
        "<volume><name>overlay.qcow2</name><capacity>{0}</capacity><target><format type='qcow2'/></target>"
        "<backingStore><path>{1}/base.img</path><format type='raw'/></backingStore></volume>".format(256 * 1024, path), 0)
    suffix = uuid.uuid4().hex[:8]
    domains("kvmops-it-unit-volume-cd-" + suffix, [("cdrom", "raw", path + "/used.iso", "sda")])
    domains("kvmops-it-unit-volume-ov-" + suffix, [("disk", "qcow2", path + "/overlay.qcow2", "vda")])
    old = sha256_file(os.path.join(path, "used.iso"))
    src.write_bytes(os.urandom(256 * 1024))
    with pytest.raises(ModuleFailed, match=r"^replace: volume {0}/used.iso is used by domain kvmops-it-unit-volume-cd-{1} \(cdrom sda\); ".format(
            pool, suffix)):
        reconcile(connection, pool=pool, name="used.iso", src=str(src), replace=True)
    with pytest.raises(ModuleFailed, match=r"^replace: volume {0}/base.img is used by domain kvmops-it-unit-volume-ov-{1} "
                                           r"\(backing file of disk vda\); ".format(pool, suffix)):
        reconcile(connection, pool=pool, name="base.img", src=str(src), replace=True)
    assert sha256_file(os.path.join(path, "used.iso")) == old


def test_list_failure_mid_batch_reports_the_applied_items(system):
    """Item 1 fails while it is applied (libvirt cannot make a 100 TiB raw
    file on ext4): item 0 is reported applied, item 1 failed with libvirt's
    reason, item 2 untouched; the task fails naming the item."""
    connection, pool, path = system
    volumes = [dict(name="a.qcow2", capacity="1M"), dict(name="big.raw", capacity="100T", format="raw"),
               dict(name="c.qcow2", capacity="1M")]
    with pytest.raises(ModuleFailed) as info:
        reconcile_list(connection, volumes, pool=pool)
    result = info.value.result
    assert result["msg"].startswith("volumes[1] (big.raw): create volume {0}/big.raw: ".format(pool))
    assert result["changed"]
    assert [(v["name"], v["changed"]) for v in result["volumes"]] == [("a.qcow2", True), ("big.raw", False)]
    assert result["volumes"][0]["volume"]["capacity"] == 1024 * 1024
    assert result["volumes"][1]["failed"] and result["volumes"][1]["actions"] == []
    assert result["actions"] == ["a.qcow2: create volume {0}/a.qcow2".format(pool)]
    assert sorted(os.listdir(path)) == ["a.qcow2"]


# ------------------------------------- image volumes (issue 12): url, unpacking, overlays

@pytest.fixture
def http_dir(tmp_path):
    """A directory served by `python3 -m http.server` on 127.0.0.1; yields (directory, base URL)."""
    served = tmp_path / "www"
    served.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(served), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.1)
        yield served, "http://127.0.0.1:{0}".format(port)
    finally:
        server.terminate()
        server.wait()


def _qcow2(path, size):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size)], check=True)


def _qemu_img_info(path):
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], check=True,
                                     capture_output=True, text=True).stdout)


def test_url_xz_download_unpacked_into_the_pool_and_grown(system, http_dir, tmp_path):
    """A raw image published as .xz: downloaded on the host straight into the
    pool (its checksum is the .xz file's), unpacked on the way in, grown to
    capacity at creation; re-runs change nothing and never download again."""
    connection, pool, path = system
    served, base = http_dir
    raw = os.urandom(300 * 1024)
    (served / "disk.raw.xz").write_bytes(lzma.compress(raw))
    checksum = "sha256:" + sha256_file(str(served / "disk.raw.xz"))
    params = dict(pool=pool, name="fromurl.img", url=base + "/disk.raw.xz", checksum=checksum, capacity="1M")
    check = reconcile(connection, check_mode=True, **params)
    assert check["changed"] and check["diff"]["after"]["content"] == checksum
    assert check["volume"]["capacity"] == 1024 * 1024
    assert os.listdir(path) == []
    applied = reconcile(connection, **params)
    assert applied["actions"] == check["actions"] == ["create volume {0}/fromurl.img from {1}/disk.raw.xz".format(pool, base)]
    assert applied["volume"]["capacity"] == 1024 * 1024
    assert sorted(os.listdir(path)) == ["fromurl.img"]
    with open(os.path.join(path, "fromurl.img"), "rb") as handle:
        assert handle.read(len(raw)) == raw
        assert handle.read() == b"\0" * (1024 * 1024 - len(raw))
    (served / "disk.raw.xz").unlink()  # a re-run must not download again
    assert not reconcile(connection, check_mode=True, **params)["changed"]
    assert not reconcile(connection, **params)["changed"]


def test_url_gz_qcow2_and_an_overlay_in_one_list(system, http_dir, tmp_path):
    """A qcow2 base image from a .gz URL and a copy-on-write overlay on it,
    in one task (the base listed first): check mode predicts both; the
    overlay's backing file is the base volume, made in O(1) (nothing
    copied); re-runs change nothing."""
    connection, pool, path = system
    served, base = http_dir
    image = tmp_path / "base.qcow2"
    _qcow2(image, 64 * 1024 * 1024)
    with open(str(image), "rb") as source, gzip.open(str(served / "base.qcow2.gz"), "wb") as out:
        out.write(source.read())
    checksum = "sha256:" + sha256_file(str(served / "base.qcow2.gz"))
    volumes = [dict(name="base.qcow2", url=base + "/base.qcow2.gz", checksum=checksum),
               dict(name="vm.qcow2", backing_volume=dict(volume="base.qcow2"), capacity="128M")]
    check = reconcile_list(connection, volumes, check_mode=True, pool=pool)
    assert [v["changed"] for v in check["volumes"]] == [True, True]
    assert check["volumes"][1]["actions"] == ["create volume {0}/vm.qcow2 on {0}/base.qcow2".format(pool)]
    assert check["volumes"][1]["volume"]["capacity"] == 128 * 1024 * 1024
    assert os.listdir(path) == []
    applied = reconcile_list(connection, volumes, pool=pool)
    assert applied["actions"] == check["actions"]
    assert applied["volumes"][0]["volume"]["format"] == "qcow2"
    assert applied["volumes"][0]["volume"]["capacity"] == 64 * 1024 * 1024
    overlay = applied["volumes"][1]["volume"]
    assert overlay["format"] == "qcow2" and overlay["capacity"] == 128 * 1024 * 1024
    assert overlay["backing_path"] == os.path.join(path, "base.qcow2")
    info = _qemu_img_info(os.path.join(path, "vm.qcow2"))
    assert info["backing-filename"] == os.path.join(path, "base.qcow2")
    assert info["virtual-size"] == 128 * 1024 * 1024
    assert os.path.getsize(os.path.join(path, "vm.qcow2")) < 1024 * 1024  # an overlay, not a copy
    assert sorted(os.listdir(path)) == ["base.qcow2", "vm.qcow2"]
    again = reconcile_list(connection, volumes, pool=pool)
    assert not again["changed"], again
    # Another backing volume for the existing overlay is refused.
    reconcile(connection, pool=pool, name="other.qcow2", capacity="1M")
    with pytest.raises(ModuleFailed, match=r"^backing_volume: volume .*/vm.qcow2 has backing file .*/base.qcow2, not .*/other.qcow2"):
        reconcile(connection, pool=pool, name="vm.qcow2", backing_volume=dict(volume="other.qcow2"))


def test_url_with_a_wrong_checksum_leaves_nothing(system, http_dir):
    connection, pool, path = system
    served, base = http_dir
    (served / "img.raw.gz").write_bytes(gzip.compress(os.urandom(4096)))
    with pytest.raises(ModuleFailed, match=r"^checksum: .*/img.raw.gz has sha256:[0-9a-f]{64} after the download, not sha256:0{64}"):
        reconcile(connection, pool=pool, name="bad.img", url=base + "/img.raw.gz", checksum="sha256:" + "0" * 64)
    assert os.listdir(path) == []
    with pytest.raises(ModuleFailed, match=r"^url: cannot download .*/missing.raw.*404"):
        reconcile(connection, pool=pool, name="bad.img", url=base + "/missing.raw", checksum="sha256:" + "0" * 64)
    assert os.listdir(path) == []
    with pytest.raises(ModuleFailed, match=r"^checksum: required with url"):
        reconcile(connection, pool=pool, name="bad.img", url=base + "/img.raw.gz")
    with pytest.raises(ModuleFailed, match=r"^backing_volume: volume .*/no-such.qcow2 does not exist"):
        reconcile(connection, pool=pool, name="bad.qcow2", backing_volume=dict(volume="no-such.qcow2"))


# --------------------------------------------- growing a disk in use (issue 13)

def test_grow_the_disk_of_a_running_domain_through_the_domain(system, domains):
    """A running domain (TCG, no OS: QEMU runs, the guest sits in the
    firmware) has the volume as its virtio disk: the volume grows through
    the domain's blockResize, so the running QEMU (the guest's block device)
    has the new size at once; a shrink is still refused; the file grows."""
    connection, pool, path = system
    reconcile(connection, pool=pool, name="run.qcow2", capacity="16M")
    name = "kvmops-it-unit-volume-run-" + uuid.uuid4().hex[:8]
    domains(name, [("disk", "qcow2", path + "/run.qcow2", "vda")])
    domain = connection.conn.lookupByName(name)
    domain.create()
    try:
        check = reconcile(connection, check_mode=True, pool=pool, name="run.qcow2", capacity="32M")
        label = "grow volume {0}/run.qcow2 to 33554432 bytes through running domain {1} (disk vda)".format(pool, name)
        assert check["actions"] == [label]
        assert domain.blockInfo("vda")[0] == 16 * 1024 * 1024
        applied = reconcile(connection, pool=pool, name="run.qcow2", capacity="32M")
        assert applied["actions"] == [label]
        assert domain.blockInfo("vda")[0] == 32 * 1024 * 1024   # what the running QEMU reports to the guest
        assert _qemu_img_info(os.path.join(path, "run.qcow2"))["virtual-size"] == 32 * 1024 * 1024
        assert not reconcile(connection, pool=pool, name="run.qcow2", capacity="32M")["changed"]
        with pytest.raises(ModuleFailed, match=r"^capacity: .* 33554432 bytes; shrinking it to 16777216 bytes is not supported"):
            reconcile(connection, pool=pool, name="run.qcow2", capacity="16M")
        assert domain.blockInfo("vda")[0] == 32 * 1024 * 1024
    finally:
        domain.destroy()


def test_growing_a_base_image_with_overlays_is_refused(system):
    connection, pool, path = system
    reconcile(connection, pool=pool, name="base.qcow2", capacity="16M")
    reconcile(connection, pool=pool, name="child.qcow2", backing_volume=dict(volume="base.qcow2"))
    with pytest.raises(ModuleFailed, match=r"^capacity: volume {0}/base.qcow2 is the backing file of {0}/child.qcow2; growing a base "
                                           r"image that overlays depend on is not supported".format(pool)):
        reconcile(connection, pool=pool, name="base.qcow2", capacity="32M")
    assert _qemu_img_info(os.path.join(path, "base.qcow2"))["virtual-size"] == 16 * 1024 * 1024


def test_compressed_src_is_unpacked_on_the_way_in(system, tmp_path):
    """src ending in .gz: checksum of the .gz file, volume holds the unpacked bytes; re-runs change nothing."""
    connection, pool, path = system
    raw = os.urandom(200 * 1024)
    packed = tmp_path / "img.raw.gz"
    packed.write_bytes(gzip.compress(raw))
    params = dict(pool=pool, name="unpacked.img", src=str(packed), checksum="sha256:" + sha256_file(str(packed)))
    check = reconcile(connection, check_mode=True, **params)
    assert check["changed"] and check["volume"]["capacity"] is None
    applied = reconcile(connection, **params)
    assert applied["volume"]["capacity"] == len(raw)
    with open(os.path.join(path, "unpacked.img"), "rb") as handle:
        assert handle.read() == raw
    assert sorted(os.listdir(path)) == ["unpacked.img"]
    assert not reconcile(connection, **params)["changed"]


def test_sha512_checksum(system, src, http_dir):
    """Debian publishes SHA512SUMS for its cloud images: checksum takes sha512 too, for src and url."""
    connection, pool, path = system
    served, base = http_dir
    digest = hashlib.sha512(src.read_bytes()).hexdigest()
    (served / "img.raw").write_bytes(src.read_bytes())
    for name, source in (("by-src.img", dict(src=str(src))), ("by-url.img", dict(url=base + "/img.raw"))):
        params = dict(pool=pool, name=name, checksum="sha512:" + digest, **source)
        check = reconcile(connection, check_mode=True, **params)
        assert check["diff"]["after"]["content"] == "sha512:" + digest
        assert reconcile(connection, **params)["changed"]
        assert sha256_file(os.path.join(path, name)) == sha256_file(str(src))
        assert not reconcile(connection, **params)["changed"]
    with pytest.raises(ModuleFailed, match=r"^checksum: .*src.img has sha512:{0}, not sha512:0{{128}}".format(digest)):
        reconcile(connection, pool=pool, name="bad.img", src=str(src), checksum="sha512:" + "0" * 128)
    assert sorted(os.listdir(path)) == ["by-src.img", "by-url.img"]
