# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The armed rollback: a backup of the files a change writes, a restore
script that puts back those files and the live addresses, and a transient
systemd timer (systemd-run --on-active) that runs it unless the change is
confirmed.  The live change itself also runs as a transient unit, so a cut
SSH connection cannot kill it half-way.

    /var/lib/kvmops/bridge/<name>/files/<n>      previous content of each file
    /var/lib/kvmops/bridge/<name>/restore.sh      run by the timer (or at once when a check fails)
    /var/lib/kvmops/bridge/<name>/apply.sh        the live change
    /var/lib/kvmops/bridge/<name>/snapshot.json   the live state before the change
    /var/lib/kvmops/bridge/<name>.rollback.log    what the last rollback did (kept)
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import converge_script

STATE_DIR = "/var/lib/kvmops/bridge"


def _write(path, text, mode=0o600):
    tmp = path + ".kvmops-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Rollback:
    def __init__(self, run, name, state_dir=STATE_DIR):
        self._run = run
        self.name = name
        self.dir = os.path.join(state_dir, name)
        self.log = os.path.join(state_dir, name + ".rollback.log")
        self.unit = "kvmops-bridge-rollback-" + name
        self.apply_unit = "kvmops-bridge-apply-" + name

    # -- queries ------------------------------------------------------------
    def armed(self):
        rc, _out, _err = self._run(["systemctl", "-q", "is-active", self.unit + ".timer"])
        return rc == 0

    def pending(self):
        return self.armed() or os.path.isdir(self.dir)

    # -- writes -------------------------------------------------------------
    def prepare(self, files_before, snapshot, reload_lines):
        """Save the backup and write restore.sh; nothing live is touched yet."""
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)  # a stale leftover: no timer is armed for it (checked by the caller)
        os.makedirs(os.path.join(self.dir, "files"), mode=0o700)
        lines = ["#!/bin/sh", "# kvmops.hypervisor.kvm_bridge: rollback of {0}, prepared {1}".format(
            self.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            "exec >>{0} 2>&1".format(shlex.quote(self.log)), "echo \"rollback of {0} started $(date -u)\"".format(self.name)]
        for n, (path, content) in enumerate(sorted(files_before.items())):
            if content is None:
                lines.append("rm -f {0}".format(shlex.quote(path)))
            else:
                backup = os.path.join(self.dir, "files", str(n))
                _write(backup, content, 0o600)
                mode = 0o644
                if os.path.exists(path):
                    mode = os.stat(path).st_mode & 0o7777
                lines.append("install -D -m {0:04o} {1} {2}".format(mode, shlex.quote(backup), shlex.quote(path)))
        # The backend re-reads the restored files before the live state is put
        # back, too: NetworkManager would otherwise re-create the bridge from the
        # profile it still holds in memory, racing the iproute2 restore.
        lines += list(reload_lines)
        lines += converge_script(snapshot, strict=False)
        lines += list(reload_lines)
        lines += ["systemctl reset-failed {0}.timer {0}.service 2>/dev/null".format(self.unit),
                  "rm -rf {0}".format(shlex.quote(self.dir)), "echo \"rollback of {0} done $(date -u)\"".format(self.name)]
        _write(os.path.join(self.dir, "restore.sh"), "\n".join(lines) + "\n", 0o700)
        _write(os.path.join(self.dir, "snapshot.json"), json.dumps(snapshot, indent=1, sort_keys=True) + "\n")

    def arm(self, timeout):
        self._systemctl_quiet("stop", self.unit + ".timer")
        self._systemctl_quiet("reset-failed", self.unit + ".timer", self.unit + ".service")
        rc, out, err = self._run(["systemd-run", "--quiet", "--unit", self.unit, "--on-active={0}s".format(timeout),
                                  "--timer-property=AccuracySec=1s", "--description",
                                  "kvmops kvm_bridge: roll back {0} unless confirmed".format(self.name),
                                  "/bin/sh", os.path.join(self.dir, "restore.sh")])
        if rc != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise KvmError("could not arm the rollback timer {0} (nothing was changed): {1}".format(
                self.unit, (err or out).strip()))

    def apply(self, lines):
        """Run the live change as one transient unit and wait for it; raise when it failed."""
        script = os.path.join(self.dir, "apply.sh")
        log = os.path.join(self.dir, "apply.log")
        _write(script, "\n".join(["#!/bin/sh", "exec >>{0} 2>&1".format(shlex.quote(log)), "set -x"] + list(lines)) + "\n", 0o700)
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
        """Disarm the timer and run the restore script in the foreground (as a transient unit)."""
        self._systemctl_quiet("stop", self.unit + ".timer")
        script = os.path.join(self.dir, "restore.sh")
        rc, out, err = self._run(["systemd-run", "--quiet", "--wait", "--collect", "--service-type=oneshot",
                                  "--unit", self.unit + "-now", "/bin/sh", script])
        self._systemctl_quiet("reset-failed", self.unit + ".timer", self.unit + ".service")
        if rc != 0:
            raise KvmError("the rollback of {0} failed too ({1}); see {2}".format(self.name, (err or out).strip(), self.log))

    def confirm(self):
        """Keep the change: stop the timer, delete the backup."""
        self._systemctl_quiet("stop", self.unit + ".timer")
        self._systemctl_quiet("reset-failed", self.unit + ".timer", self.unit + ".service")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _systemctl_quiet(self, *args):
        self._run(["systemctl"] + list(args))
