# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes: validate every requested volume, plan each one against
libvirt, then apply the plans (skipped in check mode).  Uploads stream a
file on the managed host into the volume through libvirt."""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import is_local
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import name as validate_name, shown
from ansible_collections.kvmops.hypervisor.plugins.module_utils._size import parse_size
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, to_string

FORMATS = ("qcow2", "raw", "iso")
STATES = ("present", "absent")
OPTIONS = ("pool", "name", "state", "capacity", "format", "src", "checksum")
_CHECKSUM = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
# qemu-img rounds qcow2 sizes up to whole 512-byte sectors.
_SECTOR = 512
_CHUNK = 1024 * 1024


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class VolumeSpec:
    """One desired volume, validated.  `prefix` names the item in error
    messages (e.g. "volumes[2]."), so every message names its field."""

    def __init__(self, pool=None, name=None, state="present", capacity=None, format=None, src=None, checksum=None, prefix=""):
        self.prefix = prefix
        if not pool:
            raise ValidationError(self.field("pool"), "required")
        if any(ord(c) < 32 or ord(c) == 127 for c in pool):
            raise ValidationError(self.field("pool"), "{0!r} must not contain control characters".format(pool))
        self.pool = pool
        if not name or not str(name).strip():
            raise ValidationError(self.field("name"), "required")
        validate_name(self.field("name"), name)
        self.name = name
        if state not in STATES:
            raise ValidationError(self.field("state"), "{0!r} is not one of {1}".format(state, ", ".join(STATES)))
        self.state = state
        if format is not None and format not in FORMATS:
            raise ValidationError(self.field("format"), "{0!r} is not one of {1}".format(format, ", ".join(FORMATS)))
        self.format = format
        self.capacity = None if capacity is None else parse_size(self.field("capacity"), capacity)
        if src is not None and capacity is not None:
            raise ValidationError(self.field("capacity"), "cannot be combined with src; an uploaded volume is as large as its source")
        self.src = src
        self.checksum = None
        if checksum is not None:
            match = _CHECKSUM.match(str(checksum).strip())
            if not match:
                raise ValidationError(self.field("checksum"), "{0!r} is not a checksum; expected sha256:<64 hex digits>".format(checksum))
            self.checksum = match.group(1).lower()
        self.src_size = None
        if state == "present" and src is not None:
            if not os.path.exists(src):
                raise NotFoundError(self.field("src"), "{0} does not exist on the managed host".format(shown(src)))
            if not os.path.isfile(src):
                raise ValidationError(self.field("src"), "{0} is not a regular file".format(shown(src)))
            if not os.access(src, os.R_OK):
                raise ValidationError(self.field("src"), "{0} is not readable".format(shown(src)))
            self.src_size = os.path.getsize(src)
            if self.src_size == 0:
                raise ValidationError(self.field("src"), "{0} is empty; a volume needs a capacity greater than 0".format(shown(src)))

    def field(self, name):
        return "{0}{1}".format(self.prefix, name)

    @property
    def label(self):
        return "{0}/{1}".format(self.pool, self.name)

    @classmethod
    def from_params(cls, params, defaults=None, prefix=""):
        """An item of `volumes` (or the top level): unset options take `defaults`."""
        defaults = defaults or {}
        values = dict((key, params.get(key) if params.get(key) is not None else defaults.get(key)) for key in OPTIONS)
        if values["state"] is None:
            values["state"] = "present"
        return cls(prefix=prefix, **values)

    def create_xml(self, capacity):
        root = etree.Element("volume")
        etree.SubElement(root, "name").text = self.name
        etree.SubElement(root, "capacity", unit="bytes").text = str(capacity)
        etree.SubElement(root, "allocation", unit="bytes").text = "0"
        target = etree.SubElement(root, "target")
        etree.SubElement(target, "format", type=self.create_format)
        return to_string(root)

    @property
    def create_format(self):
        if self.format is not None:
            return self.format
        return "raw" if self.src is not None else "qcow2"


def describe(volume):
    """The `volume` return value of an existing volume."""
    root = parse(volume.XMLDesc(0))
    _type, capacity, allocation = volume.info()
    return dict(
        name=volume.name(),
        key=volume.key(),
        path=volume.path(),
        capacity=capacity,
        allocation=allocation,
        format=root.find("target/format").get("type") if root.find("target/format") is not None else None,
    )


class VolumePlan:
    """What one volume needs: the difference (tracker) and the writes."""

    def __init__(self, spec):
        self.spec = spec
        self.tracker = DifferenceTracker()
        self.actions = []
        self.predicted = {}

    @property
    def changed(self):
        return self.tracker.changed

    def result(self, volume_info):
        diff = self.tracker.diff()
        diff["before_header"] = diff["after_header"] = "volume {0}".format(self.spec.label)
        return dict(pool=self.spec.pool, name=self.spec.name, state=self.spec.state, changed=self.changed,
                    volume=volume_info, actions=[label for label, _a in self.actions], diff=diff)


class VolumeManager:
    """Plan every volume first (all validation happens there), then apply."""

    def __init__(self, connection, check_mode=False):
        self.connection = connection
        self.check_mode = check_mode
        self._pools = {}

    def reconcile(self, specs):
        seen = set()
        for spec in specs:
            if (spec.pool, spec.name) in seen:
                raise ValidationError(spec.field("name"), "volume {0} is listed more than once".format(spec.label))
            seen.add((spec.pool, spec.name))
        plans = [self.plan(spec) for spec in specs]
        results = []
        for plan in plans:
            if self.check_mode:
                results.append(plan.result(plan.predicted))
                continue
            for _label, action in plan.actions:
                action()
            volume = self.connection.volume(self._pool(plan.spec), plan.spec.name)
            info = self.connection.call("read volume {0}".format(plan.spec.label), describe, volume) if volume is not None else {}
            results.append(plan.result(info))
        return results

    # look-ups ----------------------------------------------------------------

    def _pool(self, spec):
        if spec.pool not in self._pools:
            pool = self.connection.pool(spec.pool)
            if pool is None:
                raise NotFoundError(spec.field("pool"), "storage pool {0} does not exist".format(spec.pool))
            if not self.connection.call("read pool {0}".format(spec.pool), pool.isActive):
                raise ValidationError(spec.field("pool"), "storage pool {0} is not active".format(spec.pool))
            self._pools[spec.pool] = pool
        return self._pools[spec.pool]

    # plan --------------------------------------------------------------------

    def plan(self, spec):
        plan = VolumePlan(spec)
        pool = self._pool(spec)
        volume = self.connection.volume(pool, spec.name)
        if spec.state == "absent":
            if volume is not None:
                plan.tracker.add("state", "present", "absent")
                plan.actions.append(("delete volume {0}".format(spec.label),
                                     lambda: self.connection.call("delete volume {0}".format(spec.label), volume.delete, 0)))
            return plan
        if volume is None:
            self._plan_create(plan, pool)
        else:
            current = self.connection.call("read volume {0}".format(spec.label), describe, volume)
            plan.predicted = dict(current)
            if spec.src is not None or spec.checksum is not None:
                self._plan_content(plan, pool, volume, current)
            else:
                self._plan_format(plan, current)
            if spec.capacity is not None:
                self._plan_capacity(plan, volume, current)
        return plan

    def _plan_create(self, plan, pool):
        spec = plan.spec
        if spec.src is None:
            if spec.checksum is not None:
                raise ValidationError(spec.field("src"), "required to create volume {0} with a checksum".format(spec.label))
            if spec.capacity is None:
                raise ValidationError(spec.field("capacity"), "required to create volume {0} (or give src)".format(spec.label))
            capacity = spec.capacity
        else:
            self._verify_src(spec)
            capacity = spec.src_size
        plan.tracker.add("state", "absent", "present")
        plan.tracker.add("capacity", None, capacity)
        plan.tracker.add("format", None, spec.create_format)
        if spec.src is not None:
            plan.tracker.add("content", None, "sha256:{0}".format(self._expected_hash(spec)))
        plan.predicted = dict(name=spec.name, key=None, path=None, capacity=capacity, allocation=None, format=spec.create_format)
        xml = spec.create_xml(capacity)
        label = "create volume {0}".format(spec.label)

        def create():
            volume = self.connection.call(label, pool.createXML, xml, 0)
            if spec.src is not None:
                self._upload(spec, pool, volume, created=True)

        plan.actions.append((label + (" from " + spec.src if spec.src else ""), create))

    def _plan_format(self, plan, current):
        spec = plan.spec
        if spec.format is not None and spec.format != current["format"]:
            raise ValidationError(spec.field("format"), "volume {0} is {1}; changing the format of an existing volume is not supported".format(
                spec.label, current["format"]))

    def _plan_capacity(self, plan, volume, current):
        spec = plan.spec
        have = current["capacity"]
        ceiling = spec.capacity
        if current["format"] == "qcow2":
            ceiling = -(-spec.capacity // _SECTOR) * _SECTOR
        if spec.capacity <= have <= ceiling:
            return
        if have > ceiling:
            raise ValidationError(spec.field("capacity"), "volume {0} is {1} bytes; shrinking it to {2} bytes is not supported (grow only)".format(
                spec.label, have, spec.capacity))
        plan.tracker.add("capacity", have, spec.capacity)
        plan.predicted["capacity"] = spec.capacity
        label = "grow volume {0} to {1} bytes".format(spec.label, spec.capacity)
        plan.actions.append((label, lambda: self.connection.call(label, volume.resize, spec.capacity, 0)))

    def _plan_content(self, plan, pool, volume, current):
        """An existing volume with src or checksum: unchanged when its content hashes as expected."""
        spec = plan.spec
        if spec.src is not None:
            physical = self.connection.call("read volume {0}".format(spec.label), volume.infoFlags,
                                            libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
            if physical == spec.src_size:
                have = self.volume_hash(volume, spec.label)
                if have == self._expected_hash(spec):
                    return
            else:
                have = "{0} bytes".format(physical)
            self._verify_src(spec)
            plan.tracker.add("content", "sha256:{0}".format(have) if physical == spec.src_size else have,
                             "sha256:{0}".format(self._expected_hash(spec)))
            plan.predicted.update(capacity=spec.src_size, allocation=None)
            label = "replace volume {0} from {1}".format(spec.label, shown(spec.src))
            xml = spec.create_xml(spec.src_size)

            def replace():
                self.connection.call(label, volume.delete, 0)
                new = self.connection.call(label, pool.createXML, xml, 0)
                self._upload(spec, pool, new, created=True)

            plan.actions.append((label, replace))
            return
        have = self.volume_hash(volume, spec.label)
        if have != spec.checksum:
            raise ValidationError(spec.field("checksum"), "volume {0} has sha256:{1}, not sha256:{2}; give src to replace its content".format(
                spec.label, have, spec.checksum))

    # content -----------------------------------------------------------------

    def _expected_hash(self, spec):
        if spec.checksum is not None:
            return spec.checksum
        if getattr(spec, "_src_hash", None) is None:
            spec._src_hash = sha256_file(spec.src)
        return spec._src_hash

    def _verify_src(self, spec):
        """Before anything is touched: the file to upload must match the checksum."""
        if spec.checksum is None:
            return
        if getattr(spec, "_src_hash", None) is None:
            spec._src_hash = sha256_file(spec.src)
        if spec._src_hash != spec.checksum:
            raise ValidationError(spec.field("checksum"), "{0} has sha256:{1}, not sha256:{2}".format(shown(spec.src), spec._src_hash, spec.checksum))

    def volume_hash(self, volume, label):
        """sha256 of a volume's content: read from its file when libvirt is
        local (about twice as fast), else downloaded through libvirt."""
        if is_local(self.connection.uri):
            path = self.connection.call("read volume {0}".format(label), volume.path)
            if os.path.isfile(path) and os.access(path, os.R_OK):
                return sha256_file(path)
        return self.download_hash(volume, label)

    def download_hash(self, volume, label):
        """sha256 of a volume's content, streamed through libvirt."""
        digest = hashlib.sha256()
        stream = self.connection.call("read volume {0}".format(label), self.connection.conn.newStream, 0)
        try:
            self.connection.call("download volume {0}".format(label), volume.download, stream, 0, 0, 0)
            self.connection.call("download volume {0}".format(label), stream.recvAll, lambda _s, data, _o: digest.update(data), None)
            self.connection.call("download volume {0}".format(label), stream.finish)
        except KvmError:
            _abort(stream)
            raise
        return digest.hexdigest()

    def _upload(self, spec, pool, volume, created):
        """Stream src into the volume, then verify what landed; on any failure
        delete the volume this run created, so nothing is half-created."""
        label = "upload {0} into volume {1}".format(shown(spec.src), spec.label)
        try:
            stream = self.connection.call(label, self.connection.conn.newStream, 0)
            with open(spec.src, "rb") as handle:
                try:
                    self.connection.call(label, volume.upload, stream, 0, spec.src_size, 0)
                    self.connection.call(label, stream.sendAll, lambda _s, nbytes, fh: fh.read(nbytes), handle)
                    self.connection.call(label, stream.finish)
                except KvmError:
                    _abort(stream)
                    raise
            have = self.volume_hash(volume, spec.label)
            if have != self._expected_hash(spec):
                raise ValidationError(spec.field("checksum"), "volume {0} has sha256:{1} after the upload, not sha256:{2}; the volume was deleted".format(
                    spec.label, have, self._expected_hash(spec)))
        except (KvmError, OSError) as e:
            if created:
                try:
                    volume.delete(0)
                except libvirt.libvirtError:
                    pass
            if isinstance(e, OSError):
                raise KvmError("{0}: {1}".format(label, e.strerror or e))
            raise
        # libvirt refreshes the volume's sizes in the background after an upload.
        self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)


def _abort(stream):
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass
