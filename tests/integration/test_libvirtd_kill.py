# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirtd killed (SIGKILL) while a write is in flight: the run fails with
one clear line, nothing is half-written, and a re-run converges (issue 11,
item 11).

The runner's libvirtd (qemu:///system, started by tests/lab/libvirtd.sh) is
killed once per case and started again the same way at once; other test
sessions share it, so the outage is kept to about a second (printed).  The
modules run as their own processes (main() with an arguments file), so only
the libvirt connection dies with libvirtd.

1. During a domain define: kvm_domain's call to virConnect.defineXML is held
   at its start by a hook in the module's process (the real call follows; the
   hook only tells the test when the define is about to go out).  The test
   freezes libvirtd (SIGSTOP), lets the define go (the request is written to
   libvirtd's socket and never answered), then kills libvirtd.  The run fails
   with "lost the connection to libvirtd ... while domain <name>: define".  After
   the restart no domain of that name and no temporary definition file
   (<name>.xml.new) exist; the re-run defines it, the next changes nothing.
2. During an upload stream: kvm_volume replaces a volume (replace: true) from
   a 512 MiB file; libvirtd is killed once the staging volume holds 32 MiB.
   The run fails with "lost the connection"; the volume still holds its old
   content (sha256) under its name.  The re-run deletes the leftover staging
   volume, uploads again and verifies; afterwards the pool holds only the
   volume, with the new content's sha256; the next run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
PREFIX = "kvmops-it-kill-"
DOMAIN = PREFIX + "vm"
POOL = PREFIX + "pool"
WORK = Path("/var/tmp/kvmops-it-kill")
POOL_DIR = WORK / "pool"
VOLUME = "disk.img"
STAGING = VOLUME + ".kvmops-upload"
UPLOAD_SIZE = 512 * 1024 * 1024
KILL_AT = 32 * 1024 * 1024
LIBVIRT_ETC = Path("/etc/libvirt/qemu")

# Runs one module's main() with an arguments file; with a hook path, holds
# virConnect.defineXML at its start until the test says go, then makes the
# real call.
RUNNER = r"""
import importlib, os, sys, time
import libvirt
module, args, hook = sys.argv[1:4]
if hook != "-":
    real = libvirt.virConnect.defineXML
    def defineXML(self, xml):
        open(hook + ".ready", "w").close()
        while not os.path.exists(hook + ".go"):
            time.sleep(0.01)
        return real(self, xml)
    libvirt.virConnect.defineXML = defineXML
sys.argv = [module, args]
importlib.import_module("ansible_collections.kvmops.hypervisor.plugins.modules." + module).main()
"""


def _virsh(*args, check=True):
    return subprocess.run(["virsh", "-q", "-c", URI] + list(args), capture_output=True, text=True, check=check)


def _sha256(path):
    digest = hashlib.sha256()
    with open(str(path), "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class Module:
    """A module run as its own process."""

    def __init__(self, tmp_path, module, args, hook=None):
        self.args_file = tmp_path / "{0}-{1}.json".format(module, time.monotonic_ns())
        self.args_file.write_text(json.dumps(dict(ANSIBLE_MODULE_ARGS=args)))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", RUNNER, module, str(self.args_file), str(hook) if hook else "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout=300):
        out, err = self.proc.communicate(timeout=timeout)
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError("no JSON from the module (rc {0}): {1} {2}".format(self.proc.returncode, out, err))


def run(tmp_path, module, **args):
    return Module(tmp_path, module, dict(args, uri=URI)).result()


def _libvirtd_pid():
    pids = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True, check=False).stdout.split()
    assert len(pids) == 1, "expected one libvirtd on the runner, found {0}".format(pids)
    return int(pids[0])


def _gone(pid):
    """True once the process has exited (a zombie not yet reaped counts as gone)."""
    try:
        with open("/proc/{0}/stat".format(pid)) as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _kill_and_restart(pid):
    """SIGKILL that libvirtd, then start it as tests/lab/libvirtd.sh does
    (`libvirtd -d` where PID 1 is not systemd; the script itself skips that
    while pgrep still lists the unreaped zombie); the outage in seconds."""
    start = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while not _gone(pid):
        time.sleep(0.01)
    if subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, check=False).stdout.split() == [str(pid).encode()]:
        subprocess.run(["libvirtd", "-d"], check=True, capture_output=True)
    subprocess.run([str(ROOT / "tests" / "lab" / "libvirtd.sh")], check=True, capture_output=True)
    outage = time.monotonic() - start
    print("libvirtd outage: {0:.2f} s".format(outage))
    return outage


@pytest.fixture(name="libvirtd")
def libvirtd_fixture():
    """libvirtd answers before the case and after it, whatever happened."""
    subprocess.run([str(ROOT / "tests" / "lab" / "libvirtd.sh")], check=True, capture_output=True)
    yield
    subprocess.run([str(ROOT / "tests" / "lab" / "libvirtd.sh")], check=True, capture_output=True)


def _remove_domain():
    if _virsh("dominfo", DOMAIN, check=False).returncode == 0:
        _virsh("destroy", DOMAIN, check=False)
        _virsh("undefine", DOMAIN, check=False)


def _remove_pool():
    if _virsh("pool-info", POOL, check=False).returncode == 0:
        _virsh("pool-destroy", POOL, check=False)
        _virsh("pool-undefine", POOL, check=False)
    subprocess.run(["rm", "-rf", str(WORK)], check=True)


def test_killed_during_a_domain_define(libvirtd, tmp_path):  # pylint: disable=unused-argument
    _remove_domain()
    args = dict(name=DOMAIN, state="present", memory=64, vcpus=1, virt_type="qemu", uri=URI)
    hook = tmp_path / "define"
    try:
        module = Module(tmp_path, "kvm_domain", args, hook=hook)
        deadline = time.monotonic() + 120
        while not Path(str(hook) + ".ready").exists():
            assert module.proc.poll() is None, module.result()
            assert time.monotonic() < deadline, "kvm_domain never reached its define"
            time.sleep(0.02)
        pid = _libvirtd_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            Path(str(hook) + ".go").touch()
            time.sleep(0.3)  # the define request is written to the frozen daemon's socket
        finally:
            outage = _kill_and_restart(pid)
        result = module.result()
        assert result.get("failed"), result
        assert result["msg"].startswith("lost the connection to libvirtd (qemu:///system) while domain {0}: define: ".format(DOMAIN)), result["msg"]
        assert outage < 10
        # Nothing half-written: no domain, no temporary definition file.
        assert _virsh("dominfo", DOMAIN, check=False).returncode != 0
        assert not [p.name for p in LIBVIRT_ETC.glob(DOMAIN + ".xml*")]
        # The re-run converges; the next one changes nothing.
        again = run(tmp_path, "kvm_domain", **args)
        assert again["changed"] and not again.get("failed"), again
        assert _virsh("domstate", DOMAIN).stdout.strip() == "shut off"
        assert [p.name for p in LIBVIRT_ETC.glob(DOMAIN + ".xml*")] == [DOMAIN + ".xml"]
        third = run(tmp_path, "kvm_domain", **args)
        assert not third["changed"], third
    finally:
        _remove_domain()


def test_killed_during_an_upload_stream(libvirtd, tmp_path):  # pylint: disable=unused-argument
    _remove_pool()
    POOL_DIR.mkdir(parents=True)
    old_src, new_src = WORK / "old.img", WORK / "new.img"
    old_src.write_bytes(os.urandom(64 * 1024))
    with open(str(new_src), "wb") as handle:
        handle.write(os.urandom(1024 * 1024))
        handle.truncate(UPLOAD_SIZE)
    try:
        _virsh("pool-define-as", POOL, "dir", "--target", str(POOL_DIR))
        _virsh("pool-start", POOL)
        _virsh("pool-autostart", POOL)
        first = run(tmp_path, "kvm_volume", pool=POOL, name=VOLUME, src=str(old_src))
        assert first["changed"] and not first.get("failed"), first
        old = _sha256(POOL_DIR / VOLUME)
        assert old == _sha256(old_src)

        args = dict(pool=POOL, name=VOLUME, src=str(new_src), replace=True, uri=URI)
        module = Module(tmp_path, "kvm_volume", args)
        deadline = time.monotonic() + 120
        staging = POOL_DIR / STAGING
        while not (staging.exists() and staging.stat().st_blocks * 512 >= KILL_AT):
            assert module.proc.poll() is None, module.result()
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.01)
        outage = _kill_and_restart(_libvirtd_pid())
        result = module.result()
        assert result.get("failed"), result
        assert result["msg"].startswith("lost the connection to libvirtd (qemu:///system) while upload"), result["msg"]
        assert outage < 10
        # The volume still holds its old content under its name.
        assert _sha256(POOL_DIR / VOLUME) == old
        left = staging.exists()
        print("staging volume left by the killed run: {0}".format(left))

        again = run(tmp_path, "kvm_volume", **args)
        assert again["changed"] and not again.get("failed"), again
        assert ("delete leftover staging volume {0}/{1}".format(POOL, STAGING) in again["actions"]) == left, again["actions"]
        if staging.exists():
            pytest.fail("staging volume left after the re-run: {0}".format(again))
        assert sorted(os.listdir(str(POOL_DIR))) == [VOLUME]
        assert _virsh("vol-list", "--pool", POOL).stdout.split()[0::2] == [VOLUME]
        assert _sha256(POOL_DIR / VOLUME) == _sha256(new_src)
        assert again["volume"]["capacity"] == UPLOAD_SIZE
        third = run(tmp_path, "kvm_volume", **args)
        assert not third["changed"], third
    finally:
        _remove_pool()
