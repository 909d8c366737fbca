# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's `clone_from`.

`{domain: NAME}`: a new domain from another one's definition, its disks
cloned into the same pools as `<clone>-<target>.qcow2` (linked: a qcow2
overlay on the source volume, made in O(1); else a full copy by libvirt),
with a new UUID, new MACs, no SMBIOS identity of the source, no NVRAM or
cloud-init seed of the source.

`{pool, volume}`: a volume cloned the same way as `<clone>-vda.qcow2`, the
first disk of a domain defined from the options given (_domain_spec puts it
first in `disks`).

The source is recorded in the clone's <metadata>, so a re-run is idempotent
by name and a different source for an existing name is refused.  A clone with
its own `cloud_init` is a new cloud-init instance (instance-id = its name):
cloud-init makes new host keys, and the seed's vendor-data (VENDOR_DATA)
makes a new machine-id once per instance, which cloud-init itself does not.
Imported only by runs that clone."""

from __future__ import annotations

import copy

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _cloudinit
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse

NAMESPACE = "https://kvmops.github.io/xmlns/hypervisor/clone/1.0"
PREFIX = "kvmopsclone"
VENDOR_DATA_FILE = "vendor-data"
# cloud-init's vendor-data in a clone's seed: once per instance (cloud-init-per), the copied machine-id is
# replaced early in the boot (systemd-machine-id-setup: the VM's UUID under KVM, else random); the user's
# own user-data may override or disable it (vendor_data: {enabled: false}).
VENDOR_DATA = (
    "#cloud-config\n"
    "# kvmops.hypervisor: this instance is a clone; give it its own machine-id once.\n"
    "bootcmd:\n"
    "  - [cloud-init-per, instance, kvmops-clone-machine-id, sh, -c,\n"
    "     \"rm -f /etc/machine-id /var/lib/dbus/machine-id && systemd-machine-id-setup\"]\n")


def _vir(name, default=0):
    return getattr(libvirt, name, default)


def describe(clone_from):
    """The source of a clone_from option (or of a clone's record), in words."""
    if clone_from.get("domain") is not None:
        return repr(clone_from["domain"])
    return "volume {0!r} of pool {1!r}".format(clone_from["volume"], clone_from["pool"])


def recorded_source(actual):
    """The source an existing domain was cloned from ({domain} or {pool, volume}), or None."""
    element = actual.find("metadata/{%s}clone" % NAMESPACE)
    if element is None:
        return None
    if element.get("from") is not None:
        return {"domain": element.get("from")}
    return {"pool": element.get("pool"), "volume": element.get("volume")}


def check_existing(spec, actual):
    """An existing domain given clone_from must be a clone of that source."""
    want = dict((k, v) for k, v in spec["clone_from"].items() if v is not None)
    field = spec["_prefix"] + "clone_from" + (".domain" if "domain" in want else "")
    have = recorded_source(actual)
    if have != want:
        raise ValidationError(field, "domain {0!r} exists and is {1}, not a clone of {2}".format(
            spec["name"], "a clone of " + describe(have) if have else "not a clone", describe(want)))
    new_instance(spec)


def new_instance(spec):
    """A clone with its own cloud_init: the seed also carries VENDOR_DATA (a new machine-id)."""
    seed = spec.get("_seed")
    if seed is None or VENDOR_DATA_FILE in seed.files:
        return
    seed.files = dict(seed.files)
    seed.files[VENDOR_DATA_FILE] = VENDOR_DATA.encode("utf-8")
    seed.digest = _cloudinit.digest(seed.files)


def volume_name(clone_name, target, source_format, linked):
    """(name, format) of a clone's volume for the source disk `target`."""
    new_format = "qcow2" if linked else source_format
    return "{0}-{1}.{2}".format(clone_name, target, "qcow2" if new_format == "qcow2" else "img"), new_format


def prepare(connection, spec, force):
    """Read the source (it must exist and be shut off, unless `force`) and
    return the clone's base definition and the volumes to create:
    (root, [dict(pool, source, name, format, capacity, path, linked)])."""
    new_instance(spec)
    if spec["clone_from"].get("domain") is None:
        return _prepare_volume(connection, spec)
    root, volumes = _prepare_domain(connection, spec, force)
    if spec.get("_seed") is not None and spec.get("_seed_pool") is None and volumes:
        spec["_seed_pool"] = volumes[0]["pool"]   # beside the clone's first disk
    return root, volumes


def _prepare_volume(connection, spec):
    """clone_from {pool, volume}: the definition from the options (its first disk the clone's volume)."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import build  # pylint: disable=import-outside-toplevel

    prefix = spec["_prefix"]
    clone = spec["clone_from"]
    if spec.get("memory_mib") is None:
        raise ValidationError(prefix + "memory", "is required to define the new domain {0!r} from "
                              "clone_from.volume".format(spec["name"]))
    pool = connection.pool(clone["pool"])
    if pool is None:
        raise NotFoundError(prefix + "clone_from.pool", "storage pool {0!r} does not exist".format(clone["pool"]))
    source = connection.volume(pool, clone["volume"])
    if source is None:
        raise NotFoundError(prefix + "clone_from.volume", "volume {0!r} does not exist in pool {1!r}".format(
            clone["volume"], clone["pool"]))
    info = parse(connection.call("read volume {0}".format(clone["volume"]), source.XMLDesc, 0))
    fmt_el = info.find("target/format")
    fmt = fmt_el.get("type") if fmt_el is not None else "raw"
    name, new_format = volume_name(spec["name"], "vda", fmt, spec["linked"])
    if connection.volume(pool, name) is not None:
        raise ValidationError(prefix + "clone_from", "volume {0!r} already exists in pool {1!r}; remove it or "
                              "choose another name".format(name, clone["pool"]))
    volumes = [dict(pool=clone["pool"], source=clone["volume"], name=name, format=fmt, new_format=new_format,
                    capacity=int(info.findtext("capacity")), path=info.findtext("target/path"), linked=spec["linked"])]
    root = build(spec, new=True)
    _record(root, {"pool": clone["pool"], "volume": clone["volume"]}, spec["linked"])
    return root, volumes


def _record(root, source, linked):
    """The source in the clone's <metadata>."""
    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.Element("metadata")
        root.insert(list(root).index(root.find("name")) + 1, metadata)
    attrib = {"from": source["domain"]} if "domain" in source else {"pool": source["pool"], "volume": source["volume"]}
    attrib["linked"] = "yes" if linked else "no"
    etree.SubElement(metadata, "{%s}clone" % NAMESPACE, nsmap={PREFIX: NAMESPACE}, attrib=attrib)


def _prepare_domain(connection, spec, force):
    prefix = spec["_prefix"]
    field = prefix + "clone_from.domain"
    source_name = spec["clone_from"]["domain"]
    linked = spec["linked"]
    source = connection.domain(source_name)
    if source is None:
        raise NotFoundError(field, "domain {0!r} does not exist".format(source_name))
    if connection.call("read state of {0}".format(source_name), source.isActive) and not force:
        raise ValidationError(field, "domain {0!r} is running: shut it down first, or set force: true for a "
                              "crash-consistent copy".format(source_name))
    flags = _vir("VIR_DOMAIN_XML_INACTIVE", 2) | _vir("VIR_DOMAIN_XML_SECURE", 1)
    root = parse(connection.call("read definition of {0}".format(source_name), source.XMLDesc, flags))
    root = copy.deepcopy(root)
    root.find("name").text = spec["name"]
    for path in ("uuid", "genid", "sysinfo", "os/nvram", "os/smbios", "metadata"):
        for element in root.findall(path):
            element.getparent().remove(element)
    for mac in root.findall("devices/interface/mac"):
        mac.getparent().remove(mac)
    volumes = []
    for disk in root.findall("devices/disk"):
        source_el = disk.find("source")
        if disk.get("device", "disk") != "disk":
            if source_el is not None and source_el.get("volume") == source_name + "-cidata.iso":
                disk.getparent().remove(disk)  # the source's own seed; cloud_init gives the clone its own
            continue
        target = disk.find("target").get("dev") if disk.find("target") is not None else str(len(volumes))
        volume, pool_name = _source_volume(connection, field, disk, source_el)
        info = parse(connection.call("read volume {0}".format(volume.name()), volume.XMLDesc, 0))
        fmt_el = info.find("target/format")
        fmt = fmt_el.get("type") if fmt_el is not None else "raw"
        name, new_format = volume_name(spec["name"], target, fmt, linked)
        pool = connection.pool(pool_name)
        if connection.volume(pool, name) is not None:
            raise ValidationError(prefix + "clone_from", "volume {0!r} already exists in pool {1!r}; remove it or "
                                  "choose another name".format(name, pool_name))
        volumes.append(dict(pool=pool_name, source=volume.name(), name=name, format=fmt, new_format=new_format,
                            capacity=int(info.findtext("capacity")), path=info.findtext("target/path"), linked=linked))
        for child in list(disk):
            if child.tag in ("source", "driver", "backingStore"):
                disk.remove(child)
        disk.set("type", "volume")
        driver = etree.Element("driver", name="qemu", type=new_format)
        disk.insert(0, driver)
        driver.addnext(etree.Element("source", pool=pool_name, volume=name))
    _record(root, {"domain": source_name}, linked)
    return root, volumes


def _source_volume(connection, field, disk, source_el):
    """(virStorageVol, pool name) of a source disk, which must be a volume of a pool."""
    target = disk.find("target").get("dev") if disk.find("target") is not None else "?"
    if source_el is not None and source_el.get("pool") and source_el.get("volume"):
        pool = connection.pool(source_el.get("pool"))
        volume = connection.volume(pool, source_el.get("volume")) if pool is not None else None
        if volume is not None:
            return volume, source_el.get("pool")
    elif source_el is not None and source_el.get("file"):
        try:
            volume = connection.conn.storageVolLookupByPath(source_el.get("file"))
            return volume, volume.storagePoolLookupByVolume().name()
        except libvirt.libvirtError:
            pass
    raise ValidationError(field, "disk {0} of the source is not a volume of a storage pool; clone_from copies "
                          "pool volumes only".format(target))


def create(connection, volume):
    """Create one clone volume: a qcow2 overlay on the source (linked), or a full copy."""
    pool = connection.pool(volume["pool"])
    if volume["linked"]:
        xml = ("<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>"
               "<target><format type='qcow2'/></target>"
               "<backingStore><path>{path}</path><format type='{format}'/></backingStore></volume>").format(**volume)
        connection.call("create linked clone {0}".format(volume["name"]), pool.createXML, xml, 0)
        return
    xml = ("<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>"
           "<target><format type='{new_format}'/></target></volume>").format(**volume)
    source = connection.volume(pool, volume["source"])
    connection.call("copy {0} to {1}".format(volume["source"], volume["name"]), pool.createXMLFrom, xml, source, 0)
