# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes (kvm_volume): every requested volume is validated and
planned before any is touched; the runner (_module.run) then plans and
applies each in turn.  Content (hashes, uploads) is in _volume_content."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

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
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume_image import (
    compression,
    open_source,
    shown_url,
    virtual_size,
    write_image,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume_users import VolumeUsers
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, to_string

FORMATS = ("qcow2", "raw", "iso")
STATES = ("present", "absent")
OPTIONS = ("pool", "name", "state", "capacity", "format", "src", "checksum", "replace", "url", "url_username", "url_password",
           "validate_certs", "backing_volume")
# Seconds a download may stall before it fails.
URL_TIMEOUT = 60
_CHECKSUM = re.compile(r"^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$")
# qemu-img rounds qcow2 sizes up to whole 512-byte sectors.
_SECTOR = 512

__all__ = ["VolumeBackend", "VolumeSpec", "describe", "sha256_file"]


class VolumeSpec:
    """One desired volume, validated.  `prefix` names the item in error
    messages (e.g. "volumes[2]."), so every message names its field."""

    def __init__(self, pool=None, name=None, state="present", capacity=None, format=None, src=None, checksum=None, replace=False,
                 url=None, url_username=None, url_password=None, validate_certs=True, backing_volume=None, prefix=""):
        self.prefix = prefix
        self.replace = bool(replace)
        self.url = url
        self.url_username = url_username
        self.url_password = url_password
        self.validate_certs = True if validate_certs is None else bool(validate_certs)
        self.timeout = URL_TIMEOUT
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
        if sum(value is not None for value in (src, url, backing_volume)) > 1:
            raise ValidationError(self.field("src"), "src, url and backing_volume are mutually exclusive")
        self.src = src
        if url is not None:
            _validate.text(self.field("url"), url)
            if urlsplit(url).scheme not in ("http", "https", "ftp", "file"):
                raise ValidationError(self.field("url"), "{0} is not an http, https, ftp or file URL".format(shown(shown_url(url))))
            if checksum is None:
                raise ValidationError(self.field("checksum"), "required with url (sha256:<64 hex digits> or sha512:<128 hex digits> "
                                      "of the file as published)")
        self.backing = None
        if backing_volume is not None:
            if not isinstance(backing_volume, dict) or set(backing_volume) - {"pool", "volume"} or not backing_volume.get("volume"):
                raise ValidationError(self.field("backing_volume"), "expected {pool: <pool>, volume: <volume>} (pool defaults to this one's)")
            self.backing = (_validate.name(self.field("backing_volume.pool"), backing_volume.get("pool") or pool),
                            _validate.name(self.field("backing_volume.volume"), backing_volume["volume"]))
            if format not in (None, "qcow2"):
                raise ValidationError(self.field("format"), "an overlay on backing_volume is qcow2, not {0}".format(format))
            if self.backing == (pool, name):
                raise ValidationError(self.field("backing_volume"), "volume {0} cannot back itself".format(pool + "/" + name))
        self.checksum = None
        # The algorithm of `checksum`; a volume's content is compared with the same one.
        self.algorithm = "sha256"
        if checksum is not None:
            match = _CHECKSUM.match(str(checksum).strip())
            if not match:
                raise ValidationError(self.field("checksum"), "{0!r} is not a checksum; expected sha256:<64 hex digits> "
                                      "(or sha512:<128 hex digits>)".format(checksum))
            self.algorithm, self.checksum = match.group(1).lower().split(":")
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

    @property
    def image(self):
        """Created from an image (src, url or backing_volume): the guest's disk from then on."""
        return self.src is not None or self.url is not None or self.backing is not None

    @property
    def source(self):
        return shown(self.src) if self.src is not None else shown_url(self.url)

    @property
    def unpacks(self):
        """Written through the pool's directory (a URL, a compressed file) rather than a libvirt upload stream."""
        return self.url is not None or compression(self.src or "") is not None

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
        return "raw" if self.src is not None or self.url is not None else "qcow2"


def describe(volume):
    """The `volume` return value of an existing volume."""
    root = parse(volume.XMLDesc(0))
    _type, capacity, allocation = volume.info()
    result = dict(
        name=volume.name(),
        key=volume.key(),
        path=volume.path(),
        capacity=capacity,
        allocation=allocation,
        format=root.find("target/format").get("type") if root.find("target/format") is not None else None,
    )
    backing = root.findtext("backingStore/path")
    if backing:
        result["backing_path"] = backing
    return result


class VolumeBackend(Backend):
    """kvm_volume: one volume (`name`) or many (`volumes`)."""

    list_key = "volumes"

    def __init__(self, module, connection=None):
        super().__init__(module, connection)
        self._pools = {}
        # (pool, name) -> the volume an earlier item of this run creates, as
        # planned: an overlay's backing volume may be listed before it.
        self._planned = {}
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

    def _pool(self, spec, name=None, field="pool"):
        name = name or spec.pool
        if name not in self._pools:
            pool = self.connection.pool(name)
            if pool is None:
                raise NotFoundError(spec.field(field), "storage pool {0} does not exist".format(name))
            if not self.connection.call("read pool {0}".format(name), pool.isActive):
                raise ValidationError(spec.field(field), "storage pool {0} is not active".format(name))
            self._pools[name] = pool
        return self._pools[name]

    def _backing(self, spec):
        """(path, format, capacity) of the volume an overlay is made on; an
        earlier item of this run may create it (then its path is unknown in
        check mode)."""
        pool_name, name = spec.backing
        pool = self._pool(spec, pool_name, "backing_volume.pool")
        volume = self.connection.volume(pool, name)
        if volume is None:
            planned = self._planned.get((pool_name, name))
            if planned is None:
                raise NotFoundError(spec.field("backing_volume"), "volume {0}/{1} does not exist".format(pool_name, name))
            return planned.get("path"), planned.get("format"), planned["capacity"]
        info = self.connection.call("read volume {0}/{1}".format(pool_name, name), describe, volume)
        return info["path"], info["format"], info["capacity"]

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
            self._planned.pop((spec.pool, spec.name), None)
            return plan
        self._plan_leftover(plan, spec, pool)
        if volume is None:
            predicted = self._plan_create(plan, spec, pool)
        else:
            predicted = self.connection.call("read volume {0}".format(spec.label), describe, volume)
            if spec.checksum is not None and spec.src is None and spec.url is None:
                self._plan_checksum(spec, volume)
            elif spec.image and (spec.replace or self._is_iso(spec, predicted)):
                self._plan_content(plan, spec, pool, volume, predicted)
            elif spec.image:
                self._plan_image(spec, predicted)
            else:
                self._plan_format(spec, predicted)
            if spec.capacity is not None:
                self._plan_capacity(plan, spec, volume, predicted)
        self._planned[(spec.pool, spec.name)] = predicted
        plan.result = self._item(spec, predicted)
        return plan

    @staticmethod
    def _is_iso(spec, current):
        """A read-only image (an installation ISO) is compared by its content on every run."""
        return (spec.format or current["format"]) == "iso"

    def _plan_create(self, plan, spec, pool):
        if spec.src is None and spec.url is None:
            if spec.checksum is not None:
                raise ValidationError(spec.field("src"), "required to create volume {0} with a checksum".format(spec.label))
        capacity = spec.capacity
        expected = None
        if spec.backing is not None:
            backing_path, backing_format, backing_capacity = self._backing(spec)
            capacity = max(capacity or 0, backing_capacity or 0)
        elif spec.src is not None:
            self._verify_src(spec)
            if not compression(spec.src):
                size = virtual_size(spec.src)
                if capacity is not None and capacity < size:
                    raise ValidationError(spec.field("capacity"), "{0} bytes is smaller than the image {1} ({2} bytes)".format(
                        capacity, shown(spec.src), size))
                capacity = max(capacity or 0, size)
            # else: the unpacked size is known once it is unpacked (check mode predicts the asked capacity only)
            expected = self._expected_hash(spec)
        elif spec.url is not None:
            expected = spec.checksum
        elif capacity is None:
            raise ValidationError(spec.field("capacity"), "required to create volume {0} (or give src, url or backing_volume)".format(
                spec.label))
        plan.differ("state", "absent", "present")
        plan.differ("capacity", None, capacity)
        fmt = "qcow2" if spec.backing is not None else spec.create_format
        plan.differ("format", None, fmt)
        predicted = dict(name=spec.name, key=None, path=None, capacity=capacity, allocation=None, format=fmt)
        label = "create volume {0}".format(spec.label)
        if expected is not None:
            plan.differ("content", None, "{0}:{1}".format(spec.algorithm, expected))
        if spec.backing is not None:
            plan.differ("backing_volume", None, "{0}/{1}".format(*spec.backing))
            predicted["backing_path"] = backing_path
            plan.add("{0} on {1}/{2}".format(label, *spec.backing), lambda: self._create_overlay(spec, pool, label))
            return predicted
        if spec.src is None and spec.url is None:
            xml = spec.create_xml(capacity)
            plan.add(label, lambda: self.connection.call(label, pool.createXML, xml, 0))
            return predicted
        directory = local_directory(self.connection, pool)
        if directory is None:
            if spec.unpacks or spec.capacity is not None:
                raise ValidationError(spec.field("url" if spec.url is not None else "src"),
                                      "an image from a URL, a compressed image or one grown with capacity is written through the "
                                      "pool's directory: it needs a directory pool on this host (a local URI)")
            xml = spec.create_xml(capacity)

            def create():
                volume = self.connection.call(label, pool.createXML, xml, 0)
                self._upload(spec, pool, volume, expected)

            plan.add(label + " from " + spec.source, create)
            return predicted
        plan.add(label + " from " + spec.source, lambda: self._stage(spec, pool, directory, expected, replace=False))
        return predicted

    def _create_overlay(self, spec, pool, label):
        """A qcow2 volume whose backing file is the base volume: O(1), nothing copied."""
        backing_path, backing_format, backing_capacity = self._backing(spec)
        root = etree.Element("volume")
        etree.SubElement(root, "name").text = spec.name
        etree.SubElement(root, "capacity", unit="bytes").text = str(max(spec.capacity or 0, backing_capacity))
        etree.SubElement(root, "allocation", unit="bytes").text = "0"
        etree.SubElement(etree.SubElement(root, "target"), "format", type="qcow2")
        store = etree.SubElement(root, "backingStore")
        etree.SubElement(store, "path").text = backing_path
        etree.SubElement(store, "format", type=backing_format or "raw")
        self.connection.call(label, pool.createXML, to_string(root), 0)

    def _plan_image(self, spec, current):
        """An existing volume made from an image is the guest's disk: never
        hashed against its source again; its format and backing volume must
        be the asked ones.  A src that does not match its own checksum is
        still bad input."""
        if spec.src is not None:
            self._verify_src(spec)
        if spec.backing is not None:
            backing_path = self._backing(spec)[0]
            if current.get("backing_path") != backing_path:
                raise ValidationError(spec.field("backing_volume"), "volume {0} has backing file {1}, not {2}/{3}; changing it is not supported".format(
                    spec.label, shown(current.get("backing_path") or "(none)"), *spec.backing))
            if current["format"] != "qcow2":
                raise ValidationError(spec.field("backing_volume"), "volume {0} is {1}, not a qcow2 overlay".format(spec.label, current["format"]))
            return
        if spec.format is not None and spec.format != current["format"] and not spec.unpacks:
            self._plan_format(spec, current)

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
            if spec.image:
                return  # at least the asked capacity: the guest's disk may have grown since
            raise ValidationError(spec.field("capacity"), "volume {0} is {1} bytes; shrinking it to {2} bytes is not supported (grow only)".format(
                spec.label, have, spec.capacity))
        plan.differ("capacity", have, spec.capacity)
        current["capacity"] = spec.capacity
        label = "grow volume {0} to {1} bytes".format(spec.label, spec.capacity)
        path = current.get("path")
        overlays = self.users.overlays(path) if path else []
        users = self.users.of(path, spec.pool, spec.name)
        bases = [user for user in users if user["backing"]]
        if overlays or bases:
            raise ValidationError(spec.field("capacity"), "volume {0} is the backing file of {1}; growing a base image that overlays "
                                  "depend on is not supported".format(spec.label, ", ".join(
                                      overlays + ["domain {0} ({1})".format(shown(u["domain"]), u["how"]) for u in bases])))
        running = [user for user in users if user["active"]]
        if running:
            # QEMU has the file open: grow it through the domain, so the guest sees the new size at once.
            user = running[0]
            label = "{0} through running domain {1} (disk {2})".format(label, shown(user["domain"]), user["dev"])
            plan.add(label, lambda: self._block_resize(user, spec.capacity, label))
            return
        plan.add(label, lambda: self.connection.call(label, volume.resize, spec.capacity, 0))

    def _block_resize(self, user, capacity, label):
        domain = self.connection.domain(user["domain"])
        if domain is None:
            raise ConcurrentChangeError(label, "domain {0} is gone".format(user["domain"]))
        self.connection.call(label, domain.blockResize, user["dev"], capacity, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

    def _plan_checksum(self, spec, volume):
        """checksum without src: the volume's content must have it."""
        have = self.content.volume_hash(volume, spec.label, spec.algorithm)
        if have != spec.checksum:
            raise ValidationError(spec.field("checksum"), "volume {0} has {3}:{1}, not {3}:{2}; give src to replace its content".format(
                spec.label, have, spec.checksum, spec.algorithm))

    def _plan_content(self, plan, spec, pool, volume, current):
        """An ISO volume (or any with replace): unchanged when its content hashes as expected."""
        if spec.url is not None or spec.unpacks:
            raise ValidationError(spec.field("url" if spec.url is not None else "src"),
                                  "volume {0} exists; only an uncompressed src is compared with it and replaced".format(spec.label))
        physical = self.connection.call("read volume {0}".format(spec.label), volume.infoFlags,
                                        libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
        if physical == spec.src_size:
            have = self.content.volume_hash(volume, spec.label, spec.algorithm)
            if have == self._expected_hash(spec):
                return
        else:
            have = "{0} bytes".format(physical)
        self._verify_src(spec)
        expected = self._expected_hash(spec)
        if not spec.replace:
            raise ValidationError(spec.field("src"), "volume {0} holds other content ({1}) than {2} ({4}:{3}); "
                                  "replace: true would overwrite it".format(
                                      spec.label, "{0}:{1}".format(spec.algorithm, have) if physical == spec.src_size else have,
                                      shown(spec.src), expected, spec.algorithm))
        self._refuse_in_use(spec, current["path"])
        directory = local_directory(self.connection, pool)
        if directory is None:
            raise ValidationError(spec.field("replace"), "volume {0} can only be replaced in a directory pool on this host "
                                  "(a local URI): the new content is staged beside it and renamed into place".format(spec.label))
        plan.differ("content", "{0}:{1}".format(spec.algorithm, have) if physical == spec.src_size else have,
                    "{0}:{1}".format(spec.algorithm, expected))
        current.update(capacity=spec.src_size, allocation=None)
        label = "replace volume {0} from {1}".format(spec.label, shown(spec.src))
        plan.add(label, lambda: self._stage(spec, pool, directory, expected, replace=True))

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
                spec.label, ", ".join("domain {0} ({1})".format(shown(user["domain"]), user["how"]) for user in users)))

    # content -----------------------------------------------------------------

    def _expected_hash(self, spec):
        return spec.checksum if spec.checksum is not None else self.content.file_hash(spec.src, spec.algorithm)

    def _verify_src(self, spec):
        """Before anything is touched: the file to upload must match the checksum."""
        if spec.checksum is None:
            return
        have = self.content.file_hash(spec.src, spec.algorithm)
        if have != spec.checksum:
            raise ValidationError(spec.field("checksum"), "{0} has {3}:{1}, not {3}:{2}".format(
                shown(spec.src), have, spec.checksum, spec.algorithm))

    def _fill(self, spec, staged, staged_path, expected, label):
        """Put the image into the staging volume and verify it: a plain src
        through a libvirt upload stream (then its content hashed), a URL or a
        compressed file written through the pool's directory (hashed as read)."""
        if not spec.unpacks:
            self.content.upload(label, staged, spec.src, spec.src_size)
            have = self.content.volume_hash(staged, spec.label, spec.algorithm)
        else:
            source = open_source(spec, label)
            try:
                have = write_image(source, staged_path, compression(spec.src or urlsplit(spec.url).path), label, spec.algorithm)
            finally:
                source.close()
        if have != expected:
            raise ValidationError(spec.field("checksum"), "{0} has {4}:{1} after the {2}, not {4}:{3}; the volume was deleted".format(
                "volume " + spec.label if not spec.unpacks else spec.source, have, "upload" if not spec.unpacks else "download",
                expected, spec.algorithm))

    def _grow_staged(self, spec, pool, label):
        """capacity larger than the image: the staged volume grows before it takes its place."""
        self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)
        staged = self.connection.volume(pool, staging_name(spec.name))
        if staged is None:
            raise KvmError("{0}: the staging volume is gone".format(label))
        have = self.connection.call(label, staged.info)[1]
        if spec.capacity is None or spec.capacity == have:
            return
        if spec.capacity < have:
            raise ValidationError(spec.field("capacity"), "{0} bytes is smaller than the image {1} ({2} bytes); the volume was deleted".format(
                spec.capacity, spec.source, have))
        self.connection.call("grow volume {0} to {1} bytes".format(spec.label, spec.capacity), staged.resize, spec.capacity, 0)

    def _stage(self, spec, pool, directory, expected, replace):
        """Write the image into a staging volume beside the target, verify
        its sha256, then rename its file to the target's (atomic in one
        directory) and refresh the pool.  Until the rename the target is
        untouched; a failure deletes the staging volume."""
        label = "{0} {1} into volume {2}".format("download" if spec.url else "upload", spec.source, spec.label)
        target = os.path.join(directory, spec.name)
        with PoolLock(directory, label):
            self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)
            if (self.connection.volume(pool, spec.name) is not None or os.path.lexists(target)) != replace:
                raise ConcurrentChangeError(label, "volume {0} was {1} meanwhile".format(spec.label, "deleted" if replace else "created"))
            self._delete_if_present(pool, staging_name(spec.name), label)
            size = spec.src_size if spec.src is not None and not spec.unpacks else 0
            staged = self.connection.call(label, pool.createXML, spec.create_xml(size, staging_name(spec.name)), 0)
            staged_path = self.connection.call(label, staged.path)
            swapped = False
            try:
                self._fill(spec, staged, staged_path, expected, label)
                self._grow_staged(spec, pool, label)
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
                    self._discard(pool, spec)
            self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)

    def _discard(self, pool, spec):
        """Delete the staging volume after a failure (best effort: a lost
        connection leaves it to the next run)."""
        try:
            pool.refresh(0)
            staged = pool.storageVolLookupByName(staging_name(spec.name))
            staged.delete(0)
        except libvirt.libvirtError:
            pass

    def _upload(self, spec, pool, volume, expected):
        """Remote pools: stream src into the new volume, then verify what
        landed; on any failure delete the volume this run created."""
        label = "upload {0} into volume {1}".format(shown(spec.src), spec.label)
        try:
            self.content.upload(label, volume, spec.src, spec.src_size)
            have = self.content.volume_hash(volume, spec.label, spec.algorithm)
            if have != expected:
                raise ValidationError(spec.field("checksum"), "volume {0} has {3}:{1} after the upload, not {3}:{2}; the volume was deleted".format(
                    spec.label, have, expected, spec.algorithm))
        except (KvmError, OSError):
            try:
                volume.delete(0)
            except libvirt.libvirtError:
                pass
            raise
        # libvirt refreshes the volume's sizes in the background after an upload.
        self.connection.call("refresh pool {0}".format(spec.pool), pool.refresh, 0)
