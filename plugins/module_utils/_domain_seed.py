# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's `cloud_init`: the NoCloud seed volume `<domain>-cidata.iso`
(built by _cloudinit from the option) in `cloud_init.pool` (default: the
pool of the domain's first disk), compared by the files inside it, rebuilt
only when they change, and attached read-only as a CD-ROM on a bus stock
cloud kernels see: IDE on the i440fx machine (pc), SATA on q35, which has no
IDE.  Imported only by runs that use `cloud_init`."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _cloudinit
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt

SEED_SUFFIX = _cloudinit.SEED_SUFFIX
_CHUNK = 256 * 1024


def validate(spec):
    """The Seed of `spec["cloud_init"]`, with the pool it goes into when
    known now (cloud_init.pool, else the pool of the first disk given)."""
    prefix = spec["_prefix"]
    seed = _cloudinit.validate(spec["cloud_init"], spec["name"], prefix + "cloud_init")
    _cloudinit.require_pycdlib()
    pool = seed.pool
    if pool is None:
        first = next((d for d in spec.get("disks") or [] if d["device"] == "disk"), None)
        if first is not None:
            if first.get("pool") is None:
                raise ValidationError(prefix + "cloud_init.pool", "is required: the first disk is a path, not a pool volume")
            pool = first["pool"]
    spec["_seed"] = seed
    spec["_seed_pool"] = pool
    return seed


def pool_of_first_disk(actual):
    """The pool of the first disk of a definition, or None."""
    for disk in actual.findall("devices/disk"):
        if disk.get("device", "disk") == "disk":
            source = disk.find("source")
            return source.get("pool") if source is not None else None
    return None


def bus_for(machine):
    """The CD-ROM bus stock cloud kernels see on `machine` (None: libvirt's default, pc)."""
    return "sata" if machine and "q35" in machine else "ide"


def seed_disk(spec, machine):
    """The seed's CD-ROM as a disk of the `disks` list (target assigned later)."""
    return {"pool": spec["_seed_pool"], "volume": volume_name(spec["name"]), "path": None, "device": "cdrom",
            "bus": bus_for(machine), "format": "raw", "target": None, "_field": spec["_prefix"] + "cloud_init"}


def volume_name(domain):
    return _cloudinit.seed_volume_name(domain)


def is_seed(disk_element, domain):
    source = disk_element.find("source")
    return source is not None and source.get("volume") == volume_name(domain)


def read(connection, pool_name, name):
    """(volume or None, its bytes or None)."""
    pool = connection.pool(pool_name)
    if pool is None:
        raise NotFoundError("cloud_init.pool", "storage pool {0!r} does not exist".format(pool_name))
    volume = connection.volume(pool, name)
    if volume is None:
        return None, None
    stream = connection.conn.newStream(0)
    chunks = []
    try:
        connection.call("download {0}".format(name), volume.download, stream, 0, 0, 0)
        while True:
            chunk = stream.recv(_CHUNK)
            if chunk in (-2, None) or not chunk:
                break
            chunks.append(chunk)
        stream.finish()
    except libvirt.libvirtError as e:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        raise connection.error("download {0}".format(name), e)
    return volume, b"".join(chunks)


def changed_files(data, files):
    """The names of the seed's files that differ from what `data` (the
    existing volume's bytes) holds; every name when it is not a seed."""
    found = _cloudinit.read_iso(data) if data is not None else None
    if found is None or found[0].lower() != _cloudinit.SEED_LABEL:
        return sorted(files)
    existing = found[1]
    return sorted(name for name in set(files) | set(existing) if files.get(name) != existing.get(name))


def write(connection, pool_name, name, files, old=None):
    """Build the ISO and store it as volume `name` (replacing `old`)."""
    image = _cloudinit.build_iso(files)
    pool = connection.pool(pool_name)
    if old is not None:
        connection.call("delete the old seed {0}".format(name), old.delete, 0)
    xml = ("<volume><name>{0}</name><capacity unit='bytes'>{1}</capacity>"
           "<target><format type='raw'/></target></volume>").format(name, len(image))
    volume = connection.call("create {0}".format(name), pool.createXML, xml, 0)
    stream = connection.conn.newStream(0)
    try:
        connection.call("upload {0}".format(name), volume.upload, stream, 0, len(image), 0)
        for start in range(0, len(image), _CHUNK):
            stream.send(image[start:start + _CHUNK])
        stream.finish()
    except libvirt.libvirtError as e:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        raise connection.error("upload {0}".format(name), e)
