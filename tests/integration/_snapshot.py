# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots of everything a module run could change, for "this run left the
host as it was" checks (tests/integration/invalid_inputs/).

A snapshot is plain JSON-able data (dicts, lists, strings, numbers), so two
of them compare with ==, and differences() says where they differ.

On the runner: libvirt_state() (pools with their volumes, networks, domains),
file_tree() (directories the modules could write), libvirt_files() (libvirt's
own config files of our objects), links() (host interfaces).

Running modules: `python _snapshot.py serve [ROOT...]` is a small server that
imports ansible's module_utils, libvirt and lxml once, then forks a child per
request which runs the module as `python -m MODULE ARGS_FILE` would (its own
imports of the collection, its own libvirt connection, its exit code, stdout
and stderr): half the cost of a new interpreter per case.  In a test host
(python3 and the standard library only) it also takes network_state(ROOT...)
before and after each run.  Server is its client.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys

# Objects of this run's tests, in the shared libvirtd.
MINE = "kvmops-it-robust-"
# Other tests' objects (kvmops-it-<target>-..., kvmops-bench-...) come and go
# while this test runs (the engineers share one libvirtd): not compared.
FOREIGN = "kvmops-"
# Values that change on their own: libvirt's view of the pool file system,
# addresses' remaining lifetimes, ip's statistics.
_POOL_VOLATILE = ("capacity", "allocation", "available")
_LINK_VOLATILE = ("valid_life_time", "preferred_life_time", "stats64", "stats", "operstate")
# Carrier flags: the kernel sets them (a new bridge without ports goes from
# UNKNOWN to NO-CARRIER by itself); UP, which a change would set, stays.
_CARRIER_FLAGS = ("NO-CARRIER", "LOWER_UP", "M-DOWN", "DORMANT")


def kept(name, mine=MINE):
    """Whether an object named `name` belongs in the snapshot."""
    return name.startswith(mine) or not name.startswith(FOREIGN)


# ---------------------------------------------------------------- libvirt

def _xml_without(text, tags):
    # imported here: the module server in a test host has no lxml
    from lxml import etree  # pylint: disable=import-outside-toplevel

    root = etree.fromstring(text.encode("utf-8"))
    for tag in tags:
        for element in root.findall(tag):
            root.remove(element)
    return etree.tostring(root, encoding="unicode")


def _inactive_xml(obj, flag):
    import libvirt  # pylint: disable=import-outside-toplevel

    try:
        return obj.XMLDesc(flag)
    except libvirt.libvirtError:
        return obj.XMLDesc(0)


def _volumes(pool):
    import libvirt  # pylint: disable=import-outside-toplevel

    from lxml import etree  # pylint: disable=import-outside-toplevel

    result = {}
    pool.refresh(0)
    for volume in pool.listAllVolumes(0):
        root = etree.fromstring(volume.XMLDesc(0).encode("utf-8"))
        fmt = root.find("target/format")
        # capacity is what the volume was created with; allocation (what the
        # file system holds) may change on its own and is left out.
        result[volume.name()] = dict(
            key=volume.key(),
            path=volume.path(),
            capacity=volume.info()[1],
            physical=volume.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2],
            format=fmt.get("type") if fmt is not None else None,
        )
    return result


def libvirt_state(conn, mine=MINE):
    """Pools (definition, active, autostart, persistent; volumes of our active
    pools), networks and domains (definition, run state, autostart)."""
    import libvirt  # pylint: disable=import-outside-toplevel

    pools = {}
    for pool in conn.listAllStoragePools(0):
        if not kept(pool.name(), mine):
            continue
        active = bool(pool.isActive())
        pools[pool.name()] = dict(
            xml=_xml_without(_inactive_xml(pool, libvirt.VIR_STORAGE_XML_INACTIVE), _POOL_VOLATILE),
            active=active,
            autostart=bool(pool.autostart()),
            persistent=bool(pool.isPersistent()),
            volumes=_volumes(pool) if active and pool.name().startswith(mine) else None,
        )
    networks = {}
    for network in conn.listAllNetworks(0):
        if not kept(network.name(), mine):
            continue
        networks[network.name()] = dict(
            xml=_inactive_xml(network, libvirt.VIR_NETWORK_XML_INACTIVE),
            active=bool(network.isActive()),
            autostart=bool(network.autostart()),
            persistent=bool(network.isPersistent()),
        )
    domains = {}
    for domain in conn.listAllDomains(0):
        if not kept(domain.name(), mine):
            continue
        domains[domain.name()] = dict(
            xml=domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
            state=domain.state()[0],
            autostart=bool(domain.autostart()),
            persistent=bool(domain.isPersistent()),
        )
    return dict(pools=pools, networks=networks, domains=domains)


# ---------------------------------------------------------------- files

def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path, st):
    entry = dict(mode="{0:04o}".format(stat.S_IMODE(st.st_mode)), uid=st.st_uid, gid=st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        entry["type"] = "dir"
    elif stat.S_ISLNK(st.st_mode):
        entry.update(type="link", target=os.readlink(path))
    elif stat.S_ISREG(st.st_mode):
        entry.update(type="file", size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=_sha256(path))
    else:
        entry["type"] = "other"
    return entry


def file_tree(root, match=None):
    """path -> type, mode, owner, group (files: size, mtime, sha256) of `root`
    and everything under it; {} when it does not exist.  With `match`, only
    entries whose base name contains that string (and their directories'
    contents when a directory matches)."""
    result = {}
    if not os.path.lexists(root):
        return result
    result[root] = _entry(root, os.lstat(root))
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            if match is not None and match not in path[len(root):]:
                continue
            result[path] = _entry(path, os.lstat(path))
    return result


# libvirt's own files for our objects (definitions, autostart links, NVRAM).
LIBVIRT_DIRS = (
    "/etc/libvirt/storage",
    "/etc/libvirt/qemu",
    "/var/lib/libvirt/qemu/nvram",
)


def libvirt_files(mine=MINE):
    """Our objects' files under LIBVIRT_DIRS: content, mode, owner.  Not the
    modification time: a definition put back after a failed change is written
    again with the same content."""
    result = {}
    for root in LIBVIRT_DIRS:
        tree = file_tree(root, match=mine)
        tree.pop(root, None)  # the directory itself changes with other tests' objects
        for entry in tree.values():
            entry.pop("mtime_ns", None)
        result.update(tree)
    return result


# ---------------------------------------------------------------- network

def _scrub(value):
    if isinstance(value, dict):
        value = dict(value)
        if isinstance(value.get("flags"), list):
            value["flags"] = [f for f in value["flags"] if f not in _CARRIER_FLAGS]
        return dict((k, _scrub(v)) for k, v in value.items() if k not in _LINK_VOLATILE)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _ip_json(*args):
    proc = subprocess.run(["ip", "-j"] + list(args), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout or "[]")


def links(prefix=None):
    """ip -j addr (interfaces, their flags, MTU, master, addresses) by name;
    with `prefix`, only the interfaces whose name starts with it."""
    result = {}
    for link in _scrub(_ip_json("addr", "show")):
        if prefix is None or link["ifname"].startswith(prefix):
            result[link["ifname"]] = link
    return result


def routes():
    return dict(ipv4=_scrub(_ip_json("-4", "route", "show", "table", "all")),
                ipv6=_scrub(_ip_json("-6", "route", "show", "table", "all")))


def network_state(roots):
    """A test host's network: links, routes and the backends' config trees."""
    files = {}
    for root in roots:
        files.update(file_tree(root))
    return dict(links=links(), routes=routes(), files=files)


# ---------------------------------------------------------------- compare

def differences(before, after, path=""):
    """Readable differences between two snapshots: ["a.b: X -> Y", ...]."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            where = "{0}.{1}".format(path, key) if path else str(key)
            if key not in after:
                found.append("{0}: removed".format(where))
            elif key not in before:
                found.append("{0}: added {1}".format(where, _short(after[key])))
            else:
                found.extend(differences(before[key], after[key], where))
        return found
    if before != after:
        return ["{0}: {1} -> {2}".format(path, _short(before), _short(after))]
    return []


def _short(value, limit=300):
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------- module server

# Imported once by the server, before it forks a child per run: the libraries
# every module imports (the collection's own code is imported by each child).
PRELOAD = ("ansible.module_utils.basic", "libvirt", "lxml.etree")
MODULES = "ansible_collections.kvmops.hypervisor.plugins.modules."


def _child(module, args_path, out_path, err_path, timeout):
    """In the forked child: the module as `python -m MODULE ARGS_FILE` would run it."""
    import runpy  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel
    import traceback  # pylint: disable=import-outside-toplevel

    code = 1
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(timeout)  # a hung module is killed, the server carries on
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.dup2(os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        os.chdir(os.path.dirname(args_path))
        sys.argv = [module, args_path]
        runpy.run_module(MODULES + module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # pylint: disable=broad-except
        # reported on the module's stderr, as python -m would
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # pylint: disable=protected-access


def run_forked(module, args, timeout=300):
    """Run a module of the collection in a forked child: (rc, stdout, stderr).
    `args` is the JSON text of {"ANSIBLE_MODULE_ARGS": {...}}."""
    import tempfile  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory(prefix="kvmops-case-") as tmp:
        args_path, out_path, err_path = (os.path.join(tmp, n) for n in ("args.json", "stdout", "stderr"))
        with open(args_path, "w", encoding="utf-8") as handle:
            handle.write(args)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(module, args_path, out_path, err_path, timeout)
        _pid, status = os.waitpid(pid, 0)
        outputs = []
        for path in (out_path, err_path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                outputs.append(handle.read())
    return (os.waitstatus_to_exitcode(status),) + tuple(outputs)


def serve(roots):
    """One JSON request a line on stdin ({"module": ..., "args": ...}), one
    JSON answer a line on stdout (rc, stdout, stderr; with `roots`, also the
    network_state() before and after the run)."""
    import importlib  # pylint: disable=import-outside-toplevel

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a test host without libvirt-python: its modules do not need it
    for line in sys.stdin:
        request = json.loads(line)
        before = network_state(roots) if roots else None
        rc, out, err = run_forked(request["module"], request["args"])
        after = network_state(roots) if roots else None
        sys.stdout.write(json.dumps(dict(rc=rc, stdout=out, stderr=err, before=before, after=after)) + "\n")
        sys.stdout.flush()


class Server:
    """Client of a `serve` process (local or in a test host): run(module, args dict) -> answer dict."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)  # pylint: disable=consider-using-with

    def run(self, module, args):
        request = dict(module=module, args=json.dumps(dict(ANSIBLE_MODULE_ARGS=args)))
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the module server exited (rc={0})".format(self.proc.wait()))
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.exit("usage: _snapshot.py serve [ROOT...]   (requests on stdin, one JSON object a line)")
    serve(sys.argv[2:])
