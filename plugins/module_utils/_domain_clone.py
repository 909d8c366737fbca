# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's `clone_from: {domain: NAME}`: a new domain from another one's
definition, its disks cloned into the same pools as `<clone>-<target>.qcow2`
(linked: a qcow2 overlay on the source volume, made in O(1); else a full copy
by libvirt), with a new UUID, new MACs, no SMBIOS identity of the source, no
NVRAM or cloud-init seed of the source.  The source is recorded in the
clone's <metadata>, so a re-run is idempotent by name and a different source
for an existing name is refused.  Imported only by runs that clone."""

from __future__ import annotations

import copy

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse

NAMESPACE = "https://kvmops.github.io/xmlns/hypervisor/clone/1.0"
PREFIX = "kvmopsclone"


def _vir(name, default=0):
    return getattr(libvirt, name, default)


def recorded_source(actual):
    """The source domain an existing domain was cloned from, or None."""
    element = actual.find("metadata/{%s}clone" % NAMESPACE)
    return element.get("from") if element is not None else None


def check_existing(spec, actual):
    """An existing domain given clone_from must be a clone of that source."""
    field = spec["_prefix"] + "clone_from.domain"
    want = spec["clone_from"]["domain"]
    have = recorded_source(actual)
    if have != want:
        raise ValidationError(field, "domain {0!r} exists and is {1}, not a clone of {2!r}".format(
            spec["name"], "a clone of {0!r}".format(have) if have else "not a clone", want))


def prepare(connection, spec, force):
    """Read the source (it must exist and be shut off, unless `force`) and
    return the clone's base definition and the volumes to create:
    (root, [dict(pool, source, name, format, capacity, path, linked)])."""
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
        new_format = "qcow2" if linked else fmt
        name = "{0}-{1}.{2}".format(spec["name"], target, "qcow2" if new_format == "qcow2" else "img")
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
    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.SubElement(root, "metadata")
        root.insert(list(root).index(root.find("name")) + 1, metadata)
    etree.SubElement(metadata, "{%s}clone" % NAMESPACE, nsmap={PREFIX: NAMESPACE},
                     attrib={"from": source_name, "linked": "yes" if linked else "no"})
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
