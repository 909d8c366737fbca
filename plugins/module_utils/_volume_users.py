# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which domains use a volume: as a disk or a CD-ROM (by file or by
pool/volume), or as a backing file somewhere in a disk's chain."""

from __future__ import annotations

import os
import struct

from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import is_local
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

_QCOW2_MAGIC = b"QFI\xfb"
# A chain longer than this is a loop or a mistake; stop following it.
_MAX_DEPTH = 16


def qcow2_backing(path):
    """The backing file named in a local qcow2 header (absolute), or None."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
            if len(header) < 20 or header[:4] != _QCOW2_MAGIC:
                return None
            offset, size = struct.unpack(">QI", header[8:20])
            if not offset or not size or size > 4096:
                return None
            handle.seek(offset)
            name = handle.read(size).decode("utf-8", "replace")
    except OSError:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(path), name))


class VolumeUsers:
    """Domains' disks, read once per question."""

    def __init__(self, connection):
        self.connection = connection

    def _backing(self, path):
        if is_local(self.connection.uri) and os.path.isfile(path):
            return qcow2_backing(path)
        try:
            volume = self.connection.conn.storageVolLookupByPath(path)
            root = parse(volume.XMLDesc(0))
        except libvirt.libvirtError:
            return None
        return root.findtext("backingStore/path")

    def _source(self, source):
        """(path, pool, volume) of a disk's <source>."""
        path = source.get("file") or source.get("dev")
        pool, volume = source.get("pool"), source.get("volume")
        if path is None and pool and volume:
            try:
                path = self.connection.conn.storagePoolLookupByName(pool).storageVolLookupByName(volume).path()
            except libvirt.libvirtError:
                path = None
        return path, pool, volume

    def _chain(self, disk):
        """[(path, pool, volume, depth)] of a disk: its source, then its backing files."""
        source = disk.find("source")
        if source is None:
            return []
        path, pool, volume = self._source(source)
        chain = [(path, pool, volume, 0)]
        # The live definition lists the chain libvirt opened.
        store = disk.find("backingStore")
        while store is not None and store.find("source") is not None:
            chain.append(self._source(store.find("source")) + (len(chain),))
            store = store.find("backingStore")
        seen = set(p for p, _pool, _vol, _d in chain if p)
        path = chain[-1][0]
        while path and len(chain) < _MAX_DEPTH:
            path = self._backing(path)
            if not path or path in seen:
                break
            seen.add(path)
            chain.append((path, None, None, len(chain)))
        return chain

    def of(self, path, pool, name):
        """The domains that use the volume (pool, name) whose file is `path`:
        [{domain, how, dev, backing, active}], one per domain (`backing`: the
        volume is in a disk's backing chain, not the disk itself)."""
        users = []
        for domain in self.connection.call("list domains", self.connection.conn.listAllDomains, 0):
            try:
                active = bool(domain.isActive())
                xmls = [domain.XMLDesc(0)]
                if active and domain.isPersistent():
                    xmls.append(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue  # undefined since it was listed: it uses nothing
                raise self.connection.error("read domain {0}".format(domain.name()), e)
            found = self._find(xmls, path, pool, name)
            if found:
                kind, dev, depth = found
                users.append(dict(domain=domain.name(), dev=dev, backing=depth > 0, active=active,
                                  how="{0} {1}".format(kind, dev) if depth == 0 else "backing file of {0} {1}".format(kind, dev)))
        return users

    def _find(self, xmls, path, pool, name):
        """(device kind, target dev, depth in the chain) of the first disk using the volume, or None."""
        for xml in xmls:
            for disk in parse(xml).findall("devices/disk"):
                target = disk.find("target")
                dev = target.get("dev") if target is not None else "?"
                for link_path, link_pool, link_volume, depth in self._chain(disk):
                    if (path and link_path == path) or (link_pool, link_volume) == (pool, name):
                        return disk.get("device") or "disk", dev, depth
        return None

    def overlays(self, path):
        """Volumes of the active pools whose backing file is `path` (by pool/volume)."""
        found = []
        for pool in self.connection.call("list pools", self.connection.conn.listAllStoragePools,
                                         libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            try:
                volumes = pool.listAllVolumes(0)
            except libvirt.libvirtError:
                continue  # stopped or removed meanwhile
            for volume in volumes:
                try:
                    if self._backing(volume.path()) == path:
                        found.append("{0}/{1}".format(pool.name(), volume.name()))
                except libvirt.libvirtError:
                    continue
        return found
