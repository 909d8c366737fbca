# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes (kvm_volume): every requested volume is validated and
planned before any is touched; the runner (_module.run) then plans and
applies each in turn.  Content (hashes, uploads) is in _volume_content."""

from __future__ import annotations

import os
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._size import parse_size
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import shown
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume_content import (
    Content,
    PoolLock,
    local_directory,
    sha256_file,
    staging_name,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume_users import VolumeUsers
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, to_string

FORMATS = ("qcow2", "raw", "iso")
STATES = ("present", "absent")
OPTIONS = ("pool", "name", "state", "capacity", "format", "src", "checksum", "replace")
_CHECKSUM = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
# qemu-img rounds qcow2 sizes up to whole 512-byte sectors.
_SECTOR = 512

__all__ = ["VolumeBackend", "VolumeSpec", "describe", "sha256_file"]


class VolumeSpec:
    """One desired volume, validated.  `prefix` names the item in error
    messages (e.g. "volumes[2]."), so every message names its field."""

    def __init__(self, pool=None, name=None, state="present", capacity=None, format=None, src=None, checksum=None, replace=False,
                 prefix=""):
        self.prefix = prefix
        self.replace = bool(replace)
        if not pool:
            raise ValidationError(self.field("pool"), "required")
        self.pool = _validate.name(self.field("pool"), pool)
        if not name or not str(name).strip():
            raise ValidationError(self.field("name"), "required")
        self.name = _validate.name(self.field("name"), name)
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

    def create_xml(self, capacity, name=None):
        root = etree.Element("volume")
        etree.SubElement(root, "name").text = name or self.name
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


class VolumeBackend(Backend):
    """kvm_volume: one volume (`name`) or many (`volumes`)."""

    list_key = "volumes"

    def __init__(self, module, connection=None):
        super().__init__(module, connection)
        self._pools = {}
        self.content = Content(connection)
        self.users = VolumeUsers(connection)

    def specs(self, params):
        if params.get("volumes") is None:
            return [VolumeSpec.from_params(params)]
        defaults = dict((key, params.get(key)) for key in OPTIONS)
        specs = [VolumeSpec.from_params(item, defaults, prefix="volumes[{0}].".format(index))
                 for index, item in enumerate(params["volumes"])]
        seen = set()
        for spec in specs:
            if (spec.pool, spec.name) in seen:
                raise ValidationError(spec.field("name"), "volume {0} is listed more than once".format(spec.label))
            seen.add((spec.pool, spec.name))
        # Every item planned (read only) before the first write, so that a
        # bad item fails the task with nothing touched.
        for spec in specs:
            self.plan(spec)
        return specs

    def _item(self, spec, volume):
        if self.params.get("volumes") is None:
            return dict(volume=volume)
        return dict(pool=spec.pool, state=spec.state, volume=volume)

    def applied(self, spec, plan):
        volume = self.connection.volume(self._pool(spec), spec.name)
        info = self.connection.call("read volume {0}".format(spec.label), describe, volume) if volume is not None else {}
        return self._item(spec, info)

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
        plan = Plan(spec.name, header="volume {0}".format(spec.label))
        plan.result = self._item(spec, {})
        pool = self._pool(spec)
        volume = self.connection.volume(pool, spec.name)
        if spec.state == "absent":
            if volume is not None:
                plan.differ("state", "present", "absent")
                label = "delete volume {0}".format(spec.label)
                plan.add(label, lambda: self.connection.call(label, volume.delete, 0))
            return plan
        self._plan_leftover(plan, spec, pool)
        if volume is None:
            predicted = self._plan_create(plan, spec, pool)
        else:
            predicted = self.connection.call("read volume {0}".format(spec.label), describe, volume)
            if spec.src is not None or spec.checksum is not None:
                self._plan_content(plan, spec, pool, volume, predicted)
            else:
                self._plan_format(spec, predicted)
            if spec.capacity is not None:
                self._plan_capacity(plan, spec, volume, predicted)
        plan.result = self._item(spec, predicted)
        return plan

    def _plan_create(self, plan, spec, pool):
        if spec.src is None:
            if spec.checksum is not None:
                raise ValidationError(spec.field("src"), "required to create volume {0} with a checksum".format(spec.label))
            if spec.capacity is None:
                raise ValidationError(spec.field("capacity"), "required to create volume {0} (or give src)".format(spec.label))
            capacity = spec.capacity
        else:
            self._verify_src(spec)
            capacity = spec.src_size
        plan.differ("state", "absent", "present")
        plan.differ("capacity", None, capacity)
        plan.differ("format", None, spec.create_format)
        expected = None
        if spec.src is not None:
            expected = self._expected_hash(spec)
            plan.differ("content", None, "sha256:{0}".format(expected))
        xml = spec.create_xml(capacity)
        label = "create volume {0}".format(spec.label)
        directory = local_directory(self.connection, pool) if spec.src is not None else None
        if directory is not None:
            plan.add(label + " from " + shown(spec.src), lambda: self._stage(spec, pool, directory, expected, replace=False))
        else:
            def create():
                volume = self.connection.call(label, pool.createXML, xml, 0)
                if spec.src is not None:
                    self._upload(spec, pool, volume, expected)

            plan.add(label + (" from " + shown(spec.src) if spec.src else ""), create)
        return dict(name=spec.name, key=None, path=None, capacity=capacity, allocation=None, format=spec.create_format)

    @staticmethod
    def _plan_format(spec, current):
        if spec.format is not None and spec.format != current["format"]:
            raise ValidationError(spec.field("format"), "volume {0} is {1}; changing the format of an existing volume is not supported".format(
                spec.label, current["format"]))

    def _plan_capacity(self, plan, spec, volume, current):
        have = current["capacity"]
        ceiling = spec.capacity
        if current["format"] == "qcow2":
            ceiling = -(-spec.capacity // _SECTOR) * _SECTOR
        if spec.capacity <= have <= ceiling:
            return
        if have > ceiling:
            raise ValidationError(spec.field("capacity"), "volume {0} is {1} bytes; shrinking it to {2} bytes is not supported (grow only)".format(
                spec.label, have, spec.capacity))
        plan.differ("capacity", have, spec.capacity)
        current["capacity"] = spec.capacity
        label = "grow volume {0} to {1} bytes".format(spec.label, spec.capacity)
        plan.add(label, lambda: self.connection.call(label, volume.resize, spec.capacity, 0))

    def _plan_content(self, plan, spec, pool, volume, current):
        """An existing volume with src or checksum: unchanged when its content hashes as expected."""
        if spec.src is not None:
            physical = self.connection.call("read volume {0}".format(spec.label), volume.infoFlags,
                                            libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
            if physical == spec.src_size:
                have = self.content.volume_hash(volume, spec.label)
                if have == self._expected_hash(spec):
                    return
            else:
                have = "{0} bytes".format(physical)
            self._verify_src(spec)
            expected = self._expected_hash(spec)
            if not spec.replace:
                raise ValidationError(spec.field("src"), "volume {0} holds other content ({1}) than {2} (sha256:{3}); "
                                      "replace: true would overwrite it".format(
                                          spec.label, "sha256:{0}".format(have) if physical == spec.src_size else have,
                                          shown(spec.src), expected))
            self._refuse_in_use(spec, current["path"])
            directory = local_directory(self.connection, pool)
            if directory is None:
                raise ValidationError(spec.field("replace"), "volume {0} can only be replaced in a directory pool on this host "
                                      "(a local URI): the new content is staged beside it and renamed into place".format(spec.label))
            plan.differ("content", "sha256:{0}".format(have) if physical == spec.src_size else have, "sha256:{0}".format(expected))
            current.update(capacity=spec.src_size, allocation=None)
            label = "replace volume {0} from {1}".format(spec.label, shown(spec.src))
            plan.add(label, lambda: self._stage(spec, pool, directory, expected, replace=True))
            return
        have = self.content.volume_hash(volume, spec.label)
        if have != spec.checksum:
            raise ValidationError(spec.field("checksum"), "volume {0} has sha256:{1}, not sha256:{2}; give src to replace its content".format(
                spec.label, have, spec.checksum))

    def _plan_leftover(self, plan, spec, pool):
        """A staging volume of a run that died (libvirtd lost mid-upload) is deleted."""
        name = staging_name(spec.name)
        if self.connection.volume(pool, name) is None:
            return
        directory = local_directory(self.connection, pool)
        plan.differ("leftover", name, None)
        label = "delete leftover staging volume {0}/{1}".format(spec.pool, name)
        plan.add(label, lambda: self._delete_staging(spec, pool, directory, label))

    def _delete_staging(self, spec, pool, directory, label):
        if directory is None:
            self._delete_if_present(pool, staging_name(spec.name), label)
            return
        with PoolLock(directory, label):
            self._delete_if_present(pool, staging_name(spec.name), label)

    def _delete_if_present(self, pool, name, label):
        self.connection.call("refresh pool {0}".format(pool.name()), pool.refresh, 0)
        volume = self.connection.volume(pool, name)
        if volume is not None:
            self.connection.call(label, volume.delete, 0)

    def _refuse_in_use(self, spec, path):
        users = self.users.of(path, spec.pool, spec.name)
        if users:
            raise ValidationError(spec.field("replace"), "volume {0} is used by {1}; a volume a domain uses is never replaced".format(
                spec.label, ", ".join("domain {0} ({1})".format(shown(domain), how) for domain, how in users)))

    # content -----------------------------------------------------------------

    def _expected_hash(self, spec):
        return spec.checksum if spec.checksum is not None else self.content.file_hash(spec.src)

    def _verify_src(self, spec):
        """Before anything is touched: the file to upload must match the checksum."""
        if spec.checksum is None:
            return
        have = self.content.file_hash(spec.src)
        if have != spec.checksum:
            raise ValidationError(spec.field("checksum"), "{0} has sha256:{1}, not sha256:{2}".format(shown(spec.src), have, spec.checksum))

    def _stage(self, spec, pool, directory, expected, replace):
        """Upload src into a staging volume beside the target, verify its
        sha256, then rename its file to the target's (atomic in one
        directory) and refresh the pool.  Until the rename the target is
        untouched; a failure deletes the staging volume."""
        label = "upload {0} into volume {1}".format(shown(spec.src), spec.label)
        target = os.path.join(directory, spec.name)
        with PoolLock(directory, label):
            self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)
            if (self.connection.volume(pool, spec.name) is not None or os.path.lexists(target)) != replace:
                raise ConcurrentChangeError(label, "volume {0} was {1} meanwhile".format(spec.label, "deleted" if replace else "created"))
            self._delete_if_present(pool, staging_name(spec.name), label)
            staged = self.connection.call(label, pool.createXML, spec.create_xml(spec.src_size, staging_name(spec.name)), 0)
            staged_path = self.connection.call(label, staged.path)
            swapped = False
            try:
                self.content.upload(label, staged, spec.src, spec.src_size)
                have = self.content.volume_hash(staged, spec.label)
                if have != expected:
                    raise ValidationError(spec.field("checksum"), "volume {0} has sha256:{1} after the upload, not sha256:{2}; the volume was deleted".format(
                        spec.label, have, expected))
                try:
                    if replace:
                        self._refuse_in_use(spec, target)
                        st = os.stat(target)
                        os.chown(staged_path, st.st_uid, st.st_gid)
                        os.chmod(staged_path, st.st_mode & 0o7777)
                        os.rename(staged_path, target)
                    else:
                        os.link(staged_path, target)
                        os.unlink(staged_path)
                except FileExistsError:
                    raise ConcurrentChangeError(label, "volume {0} was created meanwhile".format(spec.label))
                except OSError as e:
                    raise KvmError("{0}: {1}".format(label, e.strerror or e))
                swapped = True
            finally:
                if not swapped:
                    try:
                        staged.delete(0)
                    except libvirt.libvirtError:
                        pass
            self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)

    def _upload(self, spec, pool, volume, expected):
        """Stream src into the volume, then verify that what landed has the
        planned sha256; on any failure delete the volume this run created, so
        nothing is half-created."""
        label = "upload {0} into volume {1}".format(shown(spec.src), spec.label)
        try:
            self.content.upload(label, volume, spec.src, spec.src_size)
            have = self.content.volume_hash(volume, spec.label)
            if have != expected:
                raise ValidationError(spec.field("checksum"), "volume {0} has sha256:{1} after the upload, not sha256:{2}; the volume was deleted".format(
                    spec.label, have, expected))
        except (KvmError, OSError):
            try:
                volume.delete(0)
            except libvirt.libvirtError:
                pass
            raise
        # libvirt refreshes the volume's sizes in the background after an upload.
        self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)
