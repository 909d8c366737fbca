# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running an invalid-input case: the module server (_snapshot.py), the checks of
how a module failed, and the snapshots of libvirt and the host around each case:
on the runner (Runner) and inside a podman test host for kvm_bridge (HostRunner)."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    COUNTS,
    HERE,
    IF_PREFIX,
    ROOT,
    WORK,
    snap,
)


# ---------------------------------------------------------------- running a case

def _module_env():
    env = dict(os.environ)
    collections_path = str(ROOT / ".cache" / "collections")
    if collections_path not in env.get("PYTHONPATH", "").split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (collections_path, env.get("PYTHONPATH")) if p)
    return env


def _parse(stdout):
    try:
        return json.loads(stdout)
    except ValueError:
        return None


def local_server():
    """The module server on the runner (venv python, the collection on PYTHONPATH)."""
    return snap.Server([sys.executable, str(HERE.parent / "_snapshot.py"), "serve"], env=_module_env())


def run_module(server, module, args, check_mode=False):
    """Run a module (a real run unless check_mode); (answer, result or None)."""
    answer = server.run(module, dict(args, _ansible_check_mode=check_mode))
    return answer, _parse(answer["stdout"])


def failure_problems(case_, stdout, stderr, result):
    """What is wrong with how the module failed; [] when it failed as it should."""
    if result is None:
        return ["output is not one JSON result (a traceback?): {0!r} {1!r}".format(stdout[-2000:], stderr[-2000:])]
    problems = []
    msg = result.get("msg")
    if result.get("failed") is not True:
        problems.append("did not fail: {0}".format(json.dumps(dict((k, v) for k, v in result.items() if k != "invocation"))[:1500]))
    if not isinstance(msg, str) or not msg.strip():
        problems.append("no msg")
        return problems
    if len(msg.strip().splitlines()) != 1:
        problems.append("msg is more than one line: {0!r}".format(msg))
    for marker in ("Traceback", "MODULE FAILURE"):
        if marker in msg or marker in stderr:
            problems.append("{0} in the output: {1!r} {2!r}".format(marker, msg, stderr[-2000:]))
    if "exception" in result:
        problems.append("exception in the result: {0!r}".format(result["exception"][-1000:]))
    if result.get("changed"):
        problems.append("changed is true")
    missing = [f for f in case_.fields if f not in msg]
    if missing and msg.startswith("Failed to log to syslog (embedded null character)") and "\\x00" in repr(case_.args):
        missing = []  # ansible-core >= 2.21 refuses a NUL in any argument before the module runs
    if missing:
        problems.append("msg does not name {0}: {1!r}".format(", ".join(missing), msg))
    return problems


class Runner:
    """Runs cases on the runner with a snapshot of libvirt and the files around each."""

    def __init__(self, conn, server):
        self.conn = conn
        self.server = server

    def snapshot(self):
        return dict(libvirt=snap.libvirt_state(self.conn), work=snap.file_tree(WORK), config=snap.libvirt_files(),
                    links=snap.links(IF_PREFIX))

    def check(self, case_):
        before = self.snapshot()
        answer, result = run_module(self.server, case_.module, case_.args)
        after = self.snapshot()
        COUNTS[case_.module] += 1
        return _report(case_, failure_problems(case_, answer["stdout"], answer["stderr"], result), snap.differences(before, after))


def _report(case_, problems, changes):
    problems = list(problems) + ["changed on the host: {0}".format(c) for c in changes]
    return "{0} {1!r}:\n  {2}".format(case_.module, case_.args, "\n  ".join(problems)) if problems else None


def _payload():
    """A tar of what running the module needs in the test host: ansible's
    module_utils (as AnsiballZ would ship them), the collection's plugins,
    and _snapshot.py."""
    import ansible.module_utils  # pylint: disable=import-outside-toplevel

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(source, name):
            tar.add(str(source), arcname=name, filter=lambda info: None if "__pycache__" in info.name else info)
        stub = tarfile.TarInfo("ansible/__init__.py")
        tar.addfile(stub, io.BytesIO(b""))
        add(Path(ansible.module_utils.__file__).parent, "ansible/module_utils")
        for part in ("modules", "module_utils"):
            add(ROOT / "plugins" / part, "ansible_collections/kvmops/hypervisor/plugins/" + part)
        add(HERE.parent / "_snapshot.py", "_snapshot.py")
    return buf.getvalue()


class HostRunner:
    """Runs kvm_bridge cases inside a test host, where the module server takes the snapshots."""

    def __init__(self, server):
        self.server = server

    def check(self, case_):
        answer = self.server.run(case_.module, dict(case_.args, _ansible_check_mode=False))
        COUNTS[case_.module] += 1
        result = _parse(answer["stdout"])
        return _report(case_, failure_problems(case_, answer["stdout"], answer["stderr"], result),
                       snap.differences(answer["before"], answer["after"]))
