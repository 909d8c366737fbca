# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What kvm_snapshot reads and writes, without libvirt: the mark on the
snapshots it makes, the snapshot XML, a snapshot as libvirt describes it,
their order (retention), and the facts of a domain's definition that decide
which kind of snapshot libvirt can take or delete (see _snapshot.py).

Snapshots this module creates carry MARKER as the last line of their
description (libvirt snapshots have no <metadata> element, and the domain's
own metadata is rolled back by a revert), so retention (`keep`) only ever
counts and deletes those."""

from __future__ import annotations

import datetime

MARKER = "managed-by: kvmops.hypervisor.kvm_snapshot"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
# virDomainState values (libvirt-python is not imported here).
RUNNING, BLOCKED, PAUSED, SHUTOFF = 1, 2, 3, 5
ACTIVE_STATES = (RUNNING, BLOCKED, PAUSED)
STATE_NAMES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed",
               7: "pmsuspended"}


def stored_description(description):
    """The description libvirt keeps for a snapshot this module makes."""
    return "{0}\n{1}".format(description, MARKER) if description else MARKER


def split_description(stored):
    """(the user's description, whether this module made the snapshot)."""
    stored = stored or ""
    lines = stored.split("\n")
    if lines and lines[-1] == MARKER:
        return "\n".join(lines[:-1]), True
    return stored, False


def _etree():
    # Imported on use: the module fails with missing_required_lib before this when lxml is absent.
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree

    return etree


def snapshot_xml(name, description):
    """The <domainsnapshot> to create.  Whether it holds memory follows from
    the domain's state and the flags (see SnapshotBackend._check_create)."""
    etree = _etree()
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "description").text = stored_description(description)
    return etree.tostring(root, encoding="unicode")


def with_description(xml, description):
    """A snapshot's XML (getXMLDesc) with its user description replaced, the marker kept."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string

    etree = _etree()
    root = parse(xml)
    element = root.find("description")
    _old, managed = split_description(element.text if element is not None else "")
    if element is None:
        element = etree.Element("description")
        root.insert(1, element)
    text = stored_description(description) if managed else description
    if text:
        element.text = text
    else:
        root.remove(element)
    return to_string(root)


class Snapshot:
    """One snapshot as libvirt describes it."""

    def __init__(self, name, description="", managed=False, state=None, creation_time=None, parent=None,
                 current=False, external=False, memory=False):
        self.name = name
        self.description = description
        self.managed = managed
        self.state = state
        self.creation_time = creation_time
        self.parent = parent
        self.current = current
        self.external = external
        self.memory = memory
        self.depth = 0
        # Internal snapshots: {disk target: the file that holds the snapshot}.
        self.files = {}

    @classmethod
    def from_xml(cls, xml, current=False):
        from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

        root = parse(xml)
        description, managed = split_description(root.findtext("description"))
        memory = root.find("memory")
        memory_kind = memory.get("snapshot") if memory is not None else None
        disk_kinds = [disk.get("snapshot") for disk in root.findall("disks/disk")]
        created = root.findtext("creationTime")
        internal = [disk.get("name") for disk in root.findall("disks/disk") if disk.get("snapshot") == "internal"]
        snap = cls(
            name=root.findtext("name"),
            description=description,
            managed=managed,
            state=root.findtext("state"),
            creation_time=int(created) if created else None,
            parent=root.findtext("parent/name"),
            current=current,
            external=memory_kind == "external" or "external" in disk_kinds,
            memory=memory_kind in ("internal", "external"),
        )
        files = _disk_files(root.find("domain"))
        snap.files = {target: files[target] for target in internal if target in files}
        return snap

    def result(self, domain):
        created = None
        if self.creation_time is not None:
            created = datetime.datetime.fromtimestamp(self.creation_time, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return dict(name=self.name, domain=domain, description=self.description, state=self.state,
                    creation_time=self.creation_time, created=created, parent=self.parent, current=self.current,
                    external=self.external, memory=self.memory, managed=self.managed)

    def view(self):
        """What --diff shows of a snapshot."""
        return dict(description=self.description, state=self.state, parent=self.parent, external=self.external,
                    memory=self.memory)


def newest_first(snapshots):
    """Newest first by creation time (whole seconds); within one second a
    child is newer than its parent, then by name."""
    by_name = {snap.name: snap for snap in snapshots}
    for snap in snapshots:
        depth, parent, seen = 0, snap.parent, set()
        while parent in by_name and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = by_name[parent].parent
        snap.depth = depth
    # A snapshot not made yet (check mode) has no creation time: it is the newest.
    return sorted(snapshots, key=lambda s: (s.creation_time if s.creation_time is not None else float("inf"),
                                            s.depth, s.name), reverse=True)


def expired(snapshots, keep):
    """Names of the snapshots this module made that are older than its newest `keep`, oldest first."""
    managed = [snap for snap in newest_first(snapshots) if snap.managed]
    return [snap.name for snap in reversed(managed[keep:])]


class DomainFacts:
    """What the checks need of a domain's definition."""

    def __init__(self, xml, state):
        from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

        root = parse(xml)
        self.state = state
        self.active = state in ACTIVE_STATES
        self.raw_disks = []
        for disk in root.findall("devices/disk"):
            if disk.get("device", "disk") != "disk" or disk.find("readonly") is not None:
                continue
            if disk.get("snapshot") == "no":
                continue
            driver = disk.find("driver")
            kind = driver.get("type") if driver is not None else None
            if kind is not None and kind != "qcow2":
                source = disk.find("source")
                where = None
                if source is not None:
                    where = source.get("file") or source.get("dev") or (
                        "{0}/{1}".format(source.get("pool"), source.get("volume")) if source.get("volume") else None)
                self.raw_disks.append((disk.findtext("target[@dev]") or _target(disk), where, kind))
        loader = root.find("os/loader")
        nvram = root.find("os/nvram")
        self.pflash = None
        if loader is not None and loader.get("type") == "pflash" and (nvram is None or nvram.get("format") != "qcow2"):
            self.pflash = (nvram.text or "").strip() if nvram is not None else loader.text
        self.agent = any(channel.get("name") == AGENT_CHANNEL for channel in root.findall("devices/channel/target"))
        self.files = _disk_files(root)

    def moved(self, snap):
        """[(target, file holding `snap`, file in use now)] of an internal
        snapshot's disks the domain no longer writes to (an external snapshot
        put an overlay on top): libvirt 9.0 cannot delete such a snapshot."""
        return [(target, held, self.files.get(target)) for target, held in sorted(snap.files.items())
                if self.files.get(target) not in (None, held)]


def _disk_files(domain):
    """{target: source file} of a <domain>'s file disks."""
    files = {}
    if domain is None:
        return files
    for disk in domain.findall("devices/disk"):
        source = disk.find("source")
        if source is not None and source.get("file"):
            files[_target(disk)] = source.get("file")
    return files


def _target(disk):
    target = disk.find("target")
    return target.get("dev") if target is not None else "?"


def undeletable(info, snap, parent):
    """Why libvirt 9.0 cannot delete `snap` (whose parent is `parent`) of the
    domain `info` describes, or None."""
    if snap.external and parent is not None and not parent.external:
        return ("snapshot {0} is external and its parent {1} is internal: libvirt cannot delete such a snapshot "
                "(only its metadata: virsh snapshot-delete --metadata)").format(snap.name, parent.name)
    moved = info.moved(snap)
    if moved:
        target, held, now = moved[0]
        return ("snapshot {0} is inside {1} (disk {2}), but the domain writes to {3} since an external snapshot: "
                "libvirt can delete it only while the domain uses that file (revert to an internal snapshot "
                "first)").format(snap.name, held, target, now)
    return None


def version_text(number):
    return "{0}.{1}.{2}".format(number // 1000000, number // 1000 % 1000, number % 1000)
