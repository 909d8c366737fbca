# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disposable test hosts: rootful podman containers booted with systemd and sshd.

Used by the pytest fixtures (tests/integration/conftest.py), by `make demo`
(tests/lab/demo.sh) and by the benchmarks. No pytest dependency.

    host = TestHost(privileged=True).start()
    try:
        host.inventory("/tmp/hosts.ini")
        host.exec(["systemctl", "is-system-running"])
    finally:
        host.remove()

CLI (for shell scripts):

    testhost.py start [--name N] [--image I] [--privileged] [--inventory PATH] [--owner-pid PID]
    testhost.py rm NAME...
    testhost.py gc [--all]     remove leftover test hosts (by label) whose owner process is gone
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / ".cache" / "lab"
LAB_KEY = LAB_DIR / "id_ed25519"
LABEL = "kvmops-testhost"
OWNER_LABEL = "kvmops-testhost.owner-pid"
NAME_PREFIX = "kvmops-th-"
DEFAULT_GROUP = "kvm_hosts"
BOOT_TIMEOUT = float(os.environ.get("KVMOPS_TESTHOST_BOOT_TIMEOUT", "180"))
SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


class TestHostError(RuntimeError):
    """A test host could not be started or used."""


def built_image() -> str:
    """The tag tests/lab/image.sh gives the image it builds (same rule as env.sh)."""
    digest = hashlib.sha256((ROOT / "tests" / "lab" / "image.sh").read_bytes()).hexdigest()
    return "localhost/kvmops-testhost:bookworm-" + digest[:12]


def default_image() -> str:
    return os.environ.get("KVMOPS_TEST_IMAGE") or built_image()


def podman_env() -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / "tests" / "lab" / "containers.conf"))
    return env


def podman(*args, check=True, input=None) -> subprocess.CompletedProcess:  # pylint: disable=redefined-builtin
    proc = subprocess.run(["podman", *args], env=podman_env(), input=input,
                          capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise TestHostError("podman {0} failed (rc={1}): {2}".format(
            " ".join(args), proc.returncode, (proc.stderr or proc.stdout).strip()))
    return proc


def lab_key() -> Path:
    """The lab's SSH key pair, made once (safe when several processes ask at the same time)."""
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    with open(LAB_DIR / ".key.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (LAB_KEY.exists() and LAB_KEY.with_suffix(".pub").exists()):
            for path in (LAB_KEY, LAB_KEY.with_suffix(".pub")):
                if path.exists():
                    path.unlink()
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kvmops-lab",
                            "-f", str(LAB_KEY)], check=True, capture_output=True)
    LAB_KEY.chmod(0o600)
    return LAB_KEY


def new_name() -> str:
    return NAME_PREFIX + secrets.token_hex(4)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TestHost:
    """One disposable test host. start() boots it; remove() deletes it (idempotent)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name=None, image=None, privileged=False, caps=("NET_ADMIN", "NET_RAW"),
                 owner_pid=None, boot_timeout=BOOT_TIMEOUT, devices=()):
        self.name = name or new_name()
        self.image = image or default_image()
        self.privileged = privileged
        self.caps = tuple(caps or ())
        self.devices = tuple(devices or ())  # e.g. /dev/net/tun for guests' tap devices
        self.owner_pid = owner_pid or os.getpid()
        self.boot_timeout = boot_timeout
        self.ip = None

    def __repr__(self):
        return "TestHost({0!r}, ip={1!r})".format(self.name, self.ip)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.remove()

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "TestHost":
        """Boot the host; on any failure (or interrupt) the container is removed again."""
        key = lab_key()
        args = ["run", "-d", "--name", self.name, "--hostname", self.name,
                "--label", LABEL + "=1", "--label", "{0}={1}".format(OWNER_LABEL, self.owner_pid),
                "--systemd=always"]
        if self.privileged:
            args.append("--privileged")
        for cap in self.caps:
            args += ["--cap-add", cap]
        for device in self.devices:
            args += ["--device", device]
        args += [self.image, "/sbin/init"]
        try:
            podman(*args)
            self.ip = self._ip()
            self._wait_for_systemd()
            if self.privileged:
                self._unmount_hostname()
            self.exec(["sh", "-c", "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys"],
                      input=key.with_suffix(".pub").read_text(encoding="utf-8"))
            self._wait_for_sshd()
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Delete the container and its anonymous volumes; nothing happens when it is already gone."""
        proc = podman("rm", "--force", "--volumes", "--time", "0", self.name, check=False)
        if proc.returncode != 0 and self.exists():
            raise TestHostError("could not remove {0}: {1}".format(self.name, proc.stderr.strip()))

    def exists(self) -> bool:
        return podman("container", "exists", self.name, check=False).returncode == 0

    # -- use ---------------------------------------------------------------
    def exec(self, cmd, check=True, input=None) -> subprocess.CompletedProcess:  # pylint: disable=redefined-builtin
        """Run cmd (a list) inside the host with podman exec; text output."""
        args = ["exec"] + (["-i"] if input is not None else []) + [self.name] + list(cmd)
        proc = podman(*args, check=False, input=input)
        if check and proc.returncode != 0:
            raise TestHostError("{0}: {1} failed (rc={2}): {3}".format(
                self.name, shlex.join(cmd), proc.returncode, (proc.stderr or proc.stdout).strip()))
        return proc

    def inventory(self, path, group=DEFAULT_GROUP) -> Path:
        """Write an INI inventory with this host in `group`; returns the path."""
        return write_inventory([self], path, group=group)

    def inventory_line(self) -> str:
        return " ".join([
            self.name,
            "ansible_host=" + self.ip,
            "ansible_user=root",
            "ansible_ssh_private_key_file=" + str(LAB_KEY),
            "ansible_ssh_common_args='{0}'".format(SSH_OPTIONS),
            "ansible_python_interpreter=/usr/bin/python3",
        ])

    # -- internals ---------------------------------------------------------
    def _ip(self) -> str:
        data = json.loads(podman("inspect", "--type", "container", self.name).stdout)[0]
        settings = data.get("NetworkSettings") or {}
        if settings.get("IPAddress"):
            return settings["IPAddress"]
        for net in (settings.get("Networks") or {}).values():
            if net.get("IPAddress"):
                return net["IPAddress"]
        raise TestHostError("{0} has no IP address".format(self.name))

    def _running(self) -> bool:
        state = podman("inspect", "--type", "container", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def _wait_for_systemd(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if state in ("maintenance", "stopping") or not self._running():
                break
            time.sleep(0.3)
        logs = podman("logs", "--tail", "30", self.name, check=False).stdout
        raise TestHostError("{0}: systemd did not come up (state {1!r}) within {2:.0f}s\n{3}".format(
            self.name, state, self.boot_timeout, logs))

    def _wait_for_sshd(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.ip, 22), timeout=5) as sock:
                    sock.settimeout(5)
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.3)
        raise TestHostError("{0}: sshd does not answer on {1}:22 ({2})".format(self.name, self.ip, last))

    def _unmount_hostname(self) -> None:
        # podman bind-mounts /etc/hostname (sometimes more than once); a privileged
        # host may change its hostname only once the image's own file shows through.
        for _attempt in range(10):
            if self.exec(["umount", "/etc/hostname"], check=False).returncode != 0:
                return
        raise TestHostError("{0}: /etc/hostname is still mounted".format(self.name))


def write_inventory(hosts, path, group=DEFAULT_GROUP) -> Path:
    """An INI inventory with every host in `group` (SSH as root with the lab key)."""
    lab_key()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[{0}]".format(group)] + [h.inventory_line() for h in hosts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def playbook_env() -> dict:
    env = podman_env()
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".cache" / "collections"))
    venv_bin = ROOT / ".venv" / "bin"
    if venv_bin.is_dir() and str(venv_bin) not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = str(venv_bin) + os.pathsep + env.get("PATH", "")
    return env


def run_playbook(hosts, playbook, *extra_args, inventory=None, group=DEFAULT_GROUP) -> subprocess.CompletedProcess:
    """ansible-playbook over SSH against `hosts` (a TestHost or a list), cwd = repository root."""
    if isinstance(hosts, TestHost):
        hosts = [hosts]
    if inventory is None:
        inventory = LAB_DIR / "inventories" / "{0}.ini".format(hosts[0].name)
    write_inventory(hosts, inventory, group=group)
    return subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook), *extra_args],
                          cwd=str(ROOT), env=playbook_env(), capture_output=True, text=True, check=False)


def list_hosts() -> list:
    """(name, owner pid) of every container with the test-host label."""
    fmt = '{{.Names}} {{index .Labels "' + OWNER_LABEL + '"}}'
    out = podman("ps", "-a", "--filter", "label={0}=1".format(LABEL), "--format", fmt).stdout
    result = []
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        result.append((parts[0], pid))
    return result


def host_names() -> list:
    """Names of every container with the test-host label."""
    return [name for name, _pid in list_hosts()]


def gc(remove_all=False) -> list:
    """Remove leftover test hosts: those whose owner process is gone (all of them with remove_all)."""
    removed = []
    for name, pid in list_hosts():
        if remove_all or pid is None or not _pid_alive(pid):
            TestHost(name=name).remove()
            removed.append(name)
    return removed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="testhost.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="boot a test host; prints its name and IP")
    start.add_argument("--name")
    start.add_argument("--image")
    start.add_argument("--privileged", action="store_true")
    start.add_argument("--inventory", help="write an INI inventory (group kvm_hosts) to this path")
    start.add_argument("--owner-pid", type=int, default=os.getppid(),
                       help="process that owns the host; gc removes it once that process is gone (default: the caller)")
    rm = sub.add_parser("rm", help="remove test hosts by name")
    rm.add_argument("names", nargs="+")
    collect = sub.add_parser("gc", help="remove leftover test hosts whose owner process has exited")
    collect.add_argument("--all", action="store_true", help="remove every test host, running tests' too")
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            host = TestHost(name=args.name, image=args.image, privileged=args.privileged,
                            owner_pid=args.owner_pid).start()
            if args.inventory:
                host.inventory(args.inventory)
            print(host.name, host.ip)
        elif args.command == "rm":
            for name in args.names:
                TestHost(name=name).remove()
        else:
            for name in gc(remove_all=args.all):
                print("removed", name)
    except TestHostError as exc:
        print("testhost: {0}".format(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
