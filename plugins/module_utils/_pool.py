# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pools (dir): plan the difference between the desired and the
actual pool, then apply it.  Check mode runs the same plan and skips only
the apply step."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from urllib.parse import urlsplit

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import shown
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, subset_differences, merge_into, to_string

POOL_TYPES = ("dir",)
# libvirt builds pool directories with this mode when the definition has none.
DEFAULT_DIR_MODE = 0o711
# Definition changes under these paths do not need the pool restarted.
_NO_RESTART_PREFIXES = ("pool/target/permissions",)


def parse_mode(field, value):
    """A mode as Ansible's file module takes it: an octal string ('0755') or an int."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(field, "{0!r} is not a mode; expected an octal string such as '0755'".format(value))
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValidationError(field, "{0!r} is not a mode; expected an octal string such as '0755'".format(value))
    if not 0 <= mode <= 0o7777:
        raise ValidationError(field, "{0!r} is out of range; expected 0000 to 7777 (octal)".format(value))
    return mode


def format_mode(mode):
    return None if mode is None else "{0:04o}".format(mode)


def resolve_id(field, value, database):
    """A user or group name, or a numeric id, as an id on the managed host."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return database.getpwnam(text).pw_uid if database is pwd else database.getgrnam(text).gr_gid
    except KeyError:
        raise ValidationError(field, "{0!r}: no such {1} on the managed host".format(
            value, "user" if database is pwd else "group"))


def is_local(uri):
    """True when the libvirt URI names this host, so its paths are ours to stat."""
    host = urlsplit(uri).hostname
    return host in (None, "", "localhost")


class PoolSpec:
    """The desired pool, validated; raises ValidationError naming the field."""

    def __init__(self, name, state="present", type="dir", path=None, mode=None, owner=None, group=None,
                 autostart=True, active=True, purge=False):
        self.name = _validate.name("name", name)
        self.state = state
        if type not in POOL_TYPES:
            raise ValidationError("type", "{0!r} is not supported; expected one of {1}".format(type, ", ".join(POOL_TYPES)))
        self.type = type
        if path is not None:
            # lxml refuses most control characters in the pool's XML (the module crashed), the rest make unusable paths
            path = os.path.normpath(_validate.path("path", path))
            if path.startswith("//"):
                path = "/" + path.lstrip("/")
        self.path = path
        self.mode = parse_mode("mode", mode)
        self.uid = resolve_id("owner", owner, pwd)
        self.gid = resolve_id("group", group, grp)
        self.autostart = autostart
        self.active = active
        self.purge = purge

    @classmethod
    def from_params(cls, params):
        keys = ("name", "state", "type", "path", "mode", "owner", "group", "autostart", "active", "purge")
        return cls(**dict((k, params[k]) for k in keys if params.get(k) is not None))

    def xml(self):
        """Only what the user specified, for subset comparison and for define."""
        root = etree.Element("pool", type=self.type)
        etree.SubElement(root, "name").text = self.name
        target = etree.SubElement(root, "target")
        if self.path is not None:
            etree.SubElement(target, "path").text = self.path
        if (self.mode, self.uid, self.gid) != (None, None, None):
            perms = etree.SubElement(target, "permissions")
            if self.mode is not None:
                etree.SubElement(perms, "mode").text = format_mode(self.mode)
            if self.uid is not None:
                etree.SubElement(perms, "owner").text = str(self.uid)
            if self.gid is not None:
                etree.SubElement(perms, "group").text = str(self.gid)
        return root


class PoolDirectory:
    """The pool's directory on the managed host (local URIs only)."""

    def __init__(self, path, mode, uid, gid):
        self.path = path
        self.mode = mode
        self.uid = uid
        self.gid = gid

    def actual(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ValidationError("path", "{0}: {1}".format(shown(self.path), e.strerror or e))
        if not stat.S_ISDIR(st.st_mode):
            raise ValidationError("path", "{0} exists and is not a directory".format(shown(self.path)))
        return dict(path=self.path, mode=format_mode(stat.S_IMODE(st.st_mode)), owner=st.st_uid, group=st.st_gid)

    def desired(self, actual):
        want = dict(actual or {}, path=self.path)
        if actual is None:
            want["mode"] = format_mode(DEFAULT_DIR_MODE if self.mode is None else self.mode)
            want["owner"] = os.geteuid() if self.uid is None else self.uid
            want["group"] = os.getegid() if self.gid is None else self.gid
        else:
            if self.mode is not None:
                want["mode"] = format_mode(self.mode)
            if self.uid is not None:
                want["owner"] = self.uid
            if self.gid is not None:
                want["group"] = self.gid
        return want

    def apply(self, want):
        try:
            if not os.path.isdir(self.path):
                os.makedirs(self.path)
            os.chown(self.path, want["owner"], want["group"])
            os.chmod(self.path, int(want["mode"], 8))
        except OSError as e:
            raise KvmError("directory {0}: {1}".format(shown(self.path), e.strerror or e))


def _xml_inactive(pool):
    try:
        return pool.XMLDesc(libvirt.VIR_STORAGE_XML_INACTIVE)
    except libvirt.libvirtError as e:
        # Drivers without the flag (libvirt's test driver) return the
        # definition without it.
        if e.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        return pool.XMLDesc(0)


def _permissions(root):
    """(mode, uid, gid) from a pool definition; None where it sets none."""
    values = []
    for tag in ("mode", "owner", "group"):
        text = (root.findtext("target/permissions/{0}".format(tag)) or "").strip()
        if not text or text == "-1":
            values.append(None)
        else:
            values.append(int(text, 8) if tag == "mode" else int(text))
    return tuple(values)


def describe(pool):
    """The `pool` return value of an existing pool."""
    root = parse(pool.XMLDesc(0))
    _state, capacity, allocation, available = pool.info()
    return dict(
        name=pool.name(),
        uuid=pool.UUIDString(),
        type=root.get("type"),
        path=root.findtext("target/path"),
        active=bool(pool.isActive()),
        autostart=bool(pool.autostart()),
        capacity=capacity,
        allocation=allocation,
        available=available,
    )


class PoolBackend(Backend):
    """kvm_pool: one pool per run.  The plan records what differs and queues
    the writes; a write on a pool that an earlier action defines looks the
    pool up when it runs."""

    def specs(self, params):
        return [PoolSpec.from_params(params)]

    def plan(self, spec):
        plan = Plan(spec.name, header="pool {0}".format(spec.name))
        plan.restarted = False
        pool = self.connection.pool(spec.name)
        if spec.state == "absent":
            predicted = self._plan_absent(plan, spec, pool)
        else:
            predicted = self._plan_present(plan, spec, pool)
        plan.result = dict(pool=predicted, restarted=plan.restarted)
        return plan

    def applied(self, spec, plan):
        pool = self.connection.pool(spec.name)
        current = self.connection.call("read pool {0}".format(spec.name), describe, pool) if pool is not None else {}
        return dict(pool=current, restarted=plan.restarted)

    def _call(self, plan, label, func, *args):
        plan.add(label, lambda: self.connection.call(label, func, *args))

    def _later(self, plan, spec, label, method, *args):
        """Queue a call on the pool, which may only exist once earlier actions ran."""
        def apply():
            pool = self.connection.pool(spec.name)
            if pool is None:
                raise KvmError("{0}: pool {1} is gone".format(label, spec.name))
            self.connection.call(label, getattr(pool, method), *args)

        plan.add(label, apply)

    # present ---------------------------------------------------------------

    def _plan_present(self, plan, spec, pool):
        conn = self.connection
        desired = spec.xml()
        if pool is None:
            if spec.path is None:
                raise ValidationError("path", "required to create pool {0}".format(spec.name))
            plan.differ("state", "absent", "present")
            plan.differ("definition", None, to_string(desired))
            self._call(plan, "define pool {0}".format(spec.name), conn.conn.storagePoolDefineXML, to_string(desired), 0)
            current = dict(name=spec.name, uuid=None, type=spec.type, path=spec.path, active=False, autostart=False,
                           capacity=None, allocation=None, available=None)
            was_active = False
            path = spec.path
            created = True
            defined = (spec.mode, spec.uid, spec.gid)
        else:
            actual = parse(conn.call("read pool {0}".format(spec.name), _xml_inactive, pool))
            if actual.get("type") != spec.type:
                raise ValidationError("type", "pool {0} is of type {1}; changing the type of an existing pool is not supported".format(
                    spec.name, actual.get("type")))
            differences = subset_differences(desired, actual)
            for where, want, have in differences:
                plan.differ(where, have, want)
            defined = _permissions(merge_into(desired, actual))
            if differences:
                merged = to_string(merge_into(desired, actual))
                self._call(plan, "redefine pool {0}".format(spec.name), conn.conn.storagePoolDefineXML, merged, 0)
            current = conn.call("read pool {0}".format(spec.name), describe, pool)
            was_active = current["active"]
            path = spec.path or actual.findtext("target/path")
            created = any(where == "pool/target/path" for where, _w, _h in differences)
            needs_restart = any(not where.startswith(_NO_RESTART_PREFIXES) for where, _w, _h in differences)
            if was_active and spec.active and needs_restart:
                plan.restarted = True
                plan.differ("restarted", False, True)
                self._later(plan, spec, "stop pool {0} to apply its new definition".format(spec.name), "destroy")
                was_active = False
        self._plan_directory(plan, spec, path, created, defined)
        if spec.active and not was_active:
            if not plan.restarted:
                plan.differ("active", False, True)
            self._later(plan, spec, "start pool {0}".format(spec.name), "create", 0)
        elif not spec.active and was_active:
            plan.differ("active", True, False)
            self._later(plan, spec, "stop pool {0}".format(spec.name), "destroy")
        if plan.differ("autostart", current["autostart"], spec.autostart):
            self._later(plan, spec, "set autostart of pool {0}".format(spec.name), "setAutostart", int(spec.autostart))
        current.update(path=path, active=spec.active, autostart=spec.autostart)
        return current

    def _plan_directory(self, plan, spec, path, created, defined):
        """The directory gets the permissions of the pool's definition (the
        options given, else what the existing definition says)."""
        if not is_local(self.connection.uri):
            # Not this host's file system: let libvirt build the directory
            # of a new pool (it applies the permissions of the definition).
            if created:
                self._later(plan, spec, "build pool {0}".format(spec.name), "build", 0)
            return
        directory = PoolDirectory(path, *defined)
        have = directory.actual()
        want = directory.desired(have)
        if have is None:
            plan.differ("directory", None, want)
        else:
            for key in ("mode", "owner", "group"):
                plan.differ("directory.{0}".format(key), have[key], want[key])
        if have != want:
            label = "{0} directory {1}".format("create" if have is None else "set permissions of", path)
            plan.add(label, lambda: directory.apply(want))

    # absent ----------------------------------------------------------------

    def _plan_absent(self, plan, spec, pool):
        if pool is None:
            return {}
        conn = self.connection
        current = conn.call("read pool {0}".format(spec.name), describe, pool)
        plan.differ("state", "present", "absent")
        if spec.purge:
            self._plan_purge(plan, spec, pool, current)
        elif current["active"]:
            self._call(plan, "stop pool {0}".format(spec.name), pool.destroy)
        # A transient pool is gone once stopped; only a persistent one is undefined.
        if conn.call("read pool {0}".format(spec.name), pool.isPersistent):
            self._call(plan, "undefine pool {0}".format(spec.name), pool.undefine)
        return {}

    def _plan_purge(self, plan, spec, pool, current):
        local = is_local(self.connection.uri)
        directory_exists = os.path.isdir(current["path"]) if local else True
        if current["active"]:
            # Files put there behind libvirt's back are volumes too.
            self.connection.call("refresh pool {0}".format(spec.name), pool.refresh, 0)
            names = sorted(v.name() for v in self.connection.call("list volumes of pool {0}".format(spec.name), pool.listAllVolumes, 0))
        elif local and directory_exists:
            names = sorted(n for n in os.listdir(current["path"]) if not n.startswith("."))
        else:
            names = []
        if names:
            plan.differ("volumes", names, [])
        if directory_exists:
            plan.differ("directory", current["path"], None)
        if directory_exists and not current["active"]:
            self._call(plan, "start pool {0} to delete its volumes".format(spec.name), pool.create, 0)

        def delete_volumes():
            self.connection.call("refresh pool {0}".format(spec.name), pool.refresh, 0)
            for volume in self.connection.call("list volumes of pool {0}".format(spec.name), pool.listAllVolumes, 0):
                self.connection.call("delete volume {0}".format(volume.name()), volume.delete, 0)

        if directory_exists:
            plan.add("delete volumes of pool {0}".format(spec.name), delete_volumes)
        if directory_exists or current["active"]:
            self._call(plan, "stop pool {0}".format(spec.name), pool.destroy)
        if directory_exists:
            self._call(plan, "delete directory {0}".format(current["path"]), pool.delete, 0)
