# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The armed rollback of one bridge change.

Each armed change has an id.  Its backup (the previous content, mode and
owner of every file the change writes, and the live state) and a restore
script are saved first; then a transient systemd timer (systemd-run
--on-active) runs the script unless the change is confirmed, and a
persistent unit runs it at the next boot, before the network backend brings
the interfaces up, should the host restart while the change is unconfirmed.
The live change itself runs as a transient unit too, so a cut SSH
connection cannot kill it half-way.

One lock per bridge (flock on /run/kvmops/bridge/<key>.lock) is shared by the change, the
confirmation and the restore script.  The module holds it from its first
read to its confirmation or rollback; a timer that fires meanwhile waits,
then finds its change no longer pending and does nothing.  When the module
rolls back itself it runs the script in mode `now` (the module holds the
lock), so nobody waits on anybody.

    /var/lib/kvmops/bridge/<key>/id              the id of the pending change
    /var/lib/kvmops/bridge/<key>/files/<n>       previous content of each file
    /var/lib/kvmops/bridge/<key>/restore.sh      restore.sh [timer|now|boot]
    /var/lib/kvmops/bridge/<key>/apply.sh        the live change
    /var/lib/kvmops/bridge/<key>/snapshot.json   the live state before the change
    /run/kvmops/bridge/<key>.lock                the bridge's lock
    /var/lib/kvmops/bridge/<key>.last.json       how the last armed change ended: {id, state, by, time}
    /var/lib/kvmops/bridge/<key>.rollback.log    what the rollbacks did (kept)
    /etc/systemd/system/kvmops-bridge-boot-restore-<key>.service (+ sysinit.target.wants link) while pending

<key> is the bridge's name when it is made of letters, digits, '_', '.'
and '-' only, else "hex:" and its bytes in hex (interface names may hold
quotes, '$' or '\\', which have no place in unit names).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shlex
import shutil
import time
import uuid

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import atomic_write, file_owner
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import converge_script

STATE_DIR = "/var/lib/kvmops/bridge"
LOCK_DIR = "/run/kvmops/bridge"  # a lock needs no persistence; bad input leaves nothing under STATE_DIR
UNIT_DIR = "/etc/systemd/system"
LOCK_TIMEOUT = 300  # a change holds the lock for its pings: up to ~15 s per address
SCRIPT_LOCK_TIMEOUT = 900  # the restore script then rolls back anyway: being reachable comes first
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+\Z")

PENDING, CONFIRMED, ROLLED_BACK, NONE = "pending", "confirmed", "rolled back", "none"


def unit_key(name):
    """The bridge's name as it may appear in a unit or file name."""
    return name if _PLAIN.match(name) else "hex:" + name.encode("utf-8").hex()


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Rollback:
    def __init__(self, run, name, state_dir=None, unit_dir=None, sleep=time.sleep, lock_dir=None):
        state_dir = state_dir or STATE_DIR
        unit_dir = unit_dir or UNIT_DIR
        self.lock_dir = lock_dir or (os.path.join(state_dir, "locks") if state_dir != STATE_DIR else LOCK_DIR)
        self._run = run
        self.name = name
        self.sleep = sleep
        key = unit_key(name)
        self.state_dir = state_dir
        self.dir = os.path.join(state_dir, key)
        self.log = os.path.join(state_dir, key + ".rollback.log")
        self.lock_path = os.path.join(self.lock_dir, key + ".lock")
        self.record_path = os.path.join(state_dir, key + ".last.json")
        self.unit = "kvmops-bridge-rollback-" + key
        self.apply_unit = "kvmops-bridge-apply-" + key
        self.boot_unit = "kvmops-bridge-boot-restore-{0}.service".format(key)
        self.boot_unit_path = os.path.join(unit_dir, self.boot_unit)
        self.boot_link = os.path.join(unit_dir, "sysinit.target.wants", self.boot_unit)

    # -- the lock -------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout=LOCK_TIMEOUT):
        """Hold the bridge's lock; a rollback that is waiting for it runs first."""
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                self._take(fd, deadline)
                if not (self.pending_id() and self._rollback_running()):
                    break
                # The timer fired and its script waits for this lock: let it roll back, then look again.
                fcntl.flock(fd, fcntl.LOCK_UN)
                while self._rollback_running() and time.monotonic() < deadline:
                    self.sleep(0.5)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def _take(self, fd, deadline):
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise KvmError("name: another run (or the rollback) of bridge {0} has held {1} for more than {2} s; "
                               "nothing was changed".format(self.name, self.lock_path, LOCK_TIMEOUT))
            self.sleep(0.2)

    def _rollback_running(self):
        rc, out, _err = self._run(["systemctl", "is-active", self.unit + ".service"])
        return out.strip() in ("active", "activating", "reloading")

    # -- queries (call them holding the lock) ---------------------------------
    def armed(self):
        rc, _out, _err = self._run(["systemctl", "-q", "is-active", self.unit + ".timer"])
        return rc == 0

    def pending_id(self):
        try:
            with open(os.path.join(self.dir, "id"), encoding="ascii") as f:
                return f.read().strip() or "unknown"
        except FileNotFoundError:
            return "unknown" if os.path.isdir(self.dir) else None
        except (IOError, OSError, UnicodeDecodeError):
            return "unknown"

    def last(self):
        """How the last armed change ended: {id, state, by, time}, or None."""
        try:
            with open(self.record_path, encoding="utf-8") as f:
                record = json.load(f)
            return record if isinstance(record, dict) else None
        except (IOError, OSError, ValueError):
            return None

    def status(self):
        """{id, state (pending | confirmed | rolled back | none), by, time} of the bridge's last armed change."""
        pending = self.pending_id()
        if pending:
            return dict(id=pending, state=PENDING, by=None, time=None)
        record = self.last() or {}
        return dict(id=record.get("id"), state=record.get("state") or NONE, by=record.get("by"), time=record.get("time"))

    # -- writes ---------------------------------------------------------------
    def prepare(self, files_before, snapshot, reload_lines, boot_lines=()):
        """Save the backup, write restore.sh and the boot-time unit; nothing live is touched yet.
        Returns the change's id.  The caller holds the lock and has checked nothing is pending."""
        change_id = uuid.uuid4().hex[:16]
        if os.path.isdir(self.dir):
            raise KvmError("name: change {0} of {1} is still pending; nothing was changed".format(self.pending_id(), self.name))
        os.makedirs(os.path.join(self.dir, "files"), mode=0o700)
        q = shlex.quote
        lines = ["#!/bin/sh",
                 "# kvmops.hypervisor.kvm_bridge: rollback of change {0} of bridge {1}, prepared {2}".format(
                     change_id, unit_key(self.name), _now()),
                 "# usage: restore.sh [timer|now|boot]  (now: the caller holds the lock; boot: files only)",
                 "mode=${1:-timer}", "id={0}".format(change_id), "bridge={0}".format(q(self.name)),
                 "exec >>{0} 2>&1".format(q(self.log)),
                 'if [ "$mode" != now ] && command -v flock >/dev/null 2>&1; then',
                 "  mkdir -p {0}".format(q(self.lock_dir)),
                 "  exec 9>>{0}".format(q(self.lock_path)),
                 "  flock -w {0} 9 || echo \"lock {1} not taken after {0} s: rolling back anyway\"".format(
                     SCRIPT_LOCK_TIMEOUT, self.lock_path.replace('"', "")),
                 "fi",
                 'if [ "$(cat {0} 2>/dev/null)" != "$id" ]; then'.format(q(os.path.join(self.dir, "id"))),
                 '  echo "change $id of $bridge is no longer pending ($mode): nothing to roll back $(date -u)"; exit 0',
                 "fi",
                 'echo "rollback of $bridge (change $id, $mode) started $(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"']
        for n, (path, content) in enumerate(sorted(files_before.items())):
            if content is None:
                lines.append("rm -f {0}".format(q(path)))
            else:
                backup = os.path.join(self.dir, "files", str(n))
                atomic_write(backup, content, 0o600, keep=False)
                mode, uid, gid = file_owner(path) or (0o644, 0, 0)
                lines.append("install -D -o {0} -g {1} -m {2:04o} {3} {4}".format(uid, gid, mode, q(backup), q(path)))
        # The backend re-reads the restored files before the live state is put
        # back, too: NetworkManager would otherwise re-create the bridge from the
        # profile it still holds in memory, racing the iproute2 restore.  At boot
        # the files are all it takes: the backend has not brought anything up yet.
        live = list(reload_lines) + converge_script(snapshot, strict=False) + list(reload_lines)
        lines.append('if [ "$mode" != boot ]; then')
        lines += ["  " + line for line in live]
        if boot_lines:
            lines.append("else")
            lines += ["  " + line for line in boot_lines]
        lines.append("fi")
        lines += [
            "printf '{\"id\": \"%s\", \"state\": \"rolled back\", \"by\": \"%s\", \"time\": \"%s\"}\\n' "
            "\"$id\" \"$mode\" \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > " + q(self.record_path + ".tmp")
            + " && mv -f " + q(self.record_path + ".tmp") + " " + q(self.record_path),
            "rm -f {0} {1}".format(q(self.boot_link), q(self.boot_unit_path)),
            "rm -rf {0}".format(q(self.dir)),
            'if [ "$mode" != boot ]; then systemctl reset-failed {0} {1} 2>/dev/null; fi'.format(
                q(self.unit + ".timer"), q(self.unit + ".service")),
            'echo "rollback of $bridge done (change $id) $(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"']
        atomic_write(os.path.join(self.dir, "restore.sh"), "\n".join(lines) + "\n", 0o700, keep=False)
        atomic_write(os.path.join(self.dir, "snapshot.json"), json.dumps(snapshot, indent=1, sort_keys=True) + "\n", 0o600, keep=False)
        self._write_boot_unit()
        atomic_write(os.path.join(self.dir, "id"), change_id + "\n", 0o600, keep=False)  # last: pending from here on
        return change_id

    def _write_boot_unit(self):
        script = os.path.join(self.dir, "restore.sh")
        unit = "\n".join([
            "# kvmops.hypervisor.kvm_bridge: present only while a change of a bridge waits for confirmation",
            "[Unit]",
            "Description=kvmops kvm_bridge: roll back the unconfirmed change of a bridge at boot",
            "DefaultDependencies=no",
            "After=local-fs.target",
            "Before=network-pre.target sysinit.target systemd-networkd.service NetworkManager.service "
            "networking.service network.service netplan.service",
            "Wants=network-pre.target",
            "ConditionPathExists={0}".format(script),
            "",
            "[Service]",
            "Type=oneshot",
            "ExecStart=/bin/sh {0} boot".format(script),
            "",
            "[Install]",
            "WantedBy=sysinit.target",
        ]) + "\n"
        atomic_write(self.boot_unit_path, unit, 0o644, keep=False)
        os.makedirs(os.path.dirname(self.boot_link), exist_ok=True)
        if os.path.lexists(self.boot_link):
            os.unlink(self.boot_link)
        os.symlink(self.boot_unit_path, self.boot_link)

    def _remove_boot_unit(self):
        for path in (self.boot_link, self.boot_unit_path):
            if os.path.lexists(path):
                os.unlink(path)

    def discard(self):
        """Undo prepare() when arming failed: nothing was written or changed."""
        self._remove_boot_unit()
        shutil.rmtree(self.dir, ignore_errors=True)

    def arm(self, timeout):
        self._systemctl_quiet("stop", self.unit + ".timer")
        self._systemctl_quiet("reset-failed", self.unit + ".timer", self.unit + ".service")
        rc, out, err = self._run(["systemd-run", "--quiet", "--unit", self.unit, "--on-active={0}s".format(timeout),
                                  "--timer-property=AccuracySec=1s", "--description",
                                  "kvmops kvm_bridge: roll back {0} unless confirmed".format(unit_key(self.name)),
                                  "/bin/sh", os.path.join(self.dir, "restore.sh"), "timer"])
        if rc != 0:
            self.discard()
            raise KvmError("could not arm the rollback timer {0} (nothing was changed): {1}".format(
                self.unit, (err or out).strip()))

    def apply(self, lines):
        """Run the live change as one transient unit and wait for it; raise when it failed."""
        script = os.path.join(self.dir, "apply.sh")
        log = os.path.join(self.dir, "apply.log")
        atomic_write(script, "\n".join(["#!/bin/sh", "exec >>{0} 2>&1".format(shlex.quote(log)), "set -x"] + list(lines)) + "\n",
                     0o700, keep=False)
        self._systemctl_quiet("reset-failed", self.apply_unit + ".service")
        rc, out, err = self._run(["systemd-run", "--quiet", "--wait", "--collect", "--service-type=oneshot",
                                  "--unit", self.apply_unit, "/bin/sh", script])
        if rc != 0:
            tail = ""
            try:
                with open(log, encoding="utf-8") as f:
                    tail = " | ".join(f.read().strip().splitlines()[-4:])
            except (IOError, OSError):
                tail = (err or out).strip()
            raise KvmError("the live change of {0} failed: {1}".format(self.name, tail))

    def restore_now(self):
        """Disarm the timer and run the restore script in the foreground (as a transient unit).
        The caller holds the lock: the script runs in mode `now` and does not wait for it."""
        self._systemctl_quiet("stop", self.unit + ".timer")
        script = os.path.join(self.dir, "restore.sh")
        rc, out, err = self._run(["systemd-run", "--quiet", "--wait", "--collect", "--service-type=oneshot",
                                  "--unit", self.unit + "-now", "/bin/sh", script, "now"])
        if rc != 0:
            raise KvmError("the rollback of {0} failed too ({1}); see {2}".format(self.name, (err or out).strip(), self.log))

    def confirm(self, change_id):
        """Keep the change: stop the timer, remove the boot-time unit and the backup, record it confirmed."""
        self._systemctl_quiet("stop", self.unit + ".timer")
        self._systemctl_quiet("reset-failed", self.unit + ".timer", self.unit + ".service")
        self._remove_boot_unit()
        atomic_write(self.record_path, json.dumps(dict(id=change_id, state=CONFIRMED, by="confirm", time=_now())) + "\n",
                     0o600, keep=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _systemctl_quiet(self, *args):
        self._run(["systemctl"] + list(args))
