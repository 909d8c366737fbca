# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_snapshot's back end: domain snapshots (create, delete, revert, retention).

What libvirt 9.0 (Debian 12) does, and so what this back end checks before
it writes anything:

- internal snapshots (the default) need every writable disk in qcow2; a raw
  disk is refused ("internal snapshot for disk vdb unsupported for storage
  type raw"), so the plan names the disk and its file first;
- an internal snapshot of a running or paused guest always holds its memory
  (QEMU's savevm); a disk-only snapshot of a running guest must be external;
- a guest booting UEFI from pflash (NVRAM in a raw file) gets no internal
  snapshot at all ("internal snapshots of a VM with pflash based firmware are
  not supported"; libvirt 9.0 ignores <nvram format='qcow2'>): only external
  disk-only snapshots, which leave the NVRAM out;
- external snapshots can be created and deleted (deleting commits the
  overlay back, unless an internal snapshot is its parent) but not reverted
  to before libvirt 9.7.

Snapshots this module creates carry MARKER as the last line of their
description (libvirt snapshots have no <metadata> element, and the domain's
own metadata is rolled back by a revert), so retention (`keep`) only ever
counts and deletes those."""

from __future__ import annotations

import datetime

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan

MARKER = "managed-by: kvmops.hypervisor.kvm_snapshot"
# The first libvirt that reverts to external snapshots.
EXTERNAL_REVERT_VERSION = 9007000
ITEM_KEYS = ("domain", "name", "state", "description", "include_memory", "disk_only", "quiesce")
_AGENT_CHANNEL = "org.qemu.guest_agent.0"
# virDomainState values and the reasons that say "got here by a revert".
_RUNNING, _PAUSED, _SHUTOFF = 1, 3, 5
_FROM_SNAPSHOT = {_RUNNING: 4, _PAUSED: 7, _SHUTOFF: 7}
_STATE_NAMES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed",
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


class _Domain:
    """What the checks need of a domain's definition."""

    def __init__(self, xml, state):
        from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

        root = parse(xml)
        self.state = state
        self.active = state in (_RUNNING, _PAUSED, 2)
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
        self.agent = any(channel.get("name") == _AGENT_CHANNEL for channel in root.findall("devices/channel/target"))
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


class SnapshotBackend(Backend):
    """Snapshots of libvirt domains; `snapshots` is the list form."""

    list_key = "snapshots"

    def __init__(self, module, connection=None):
        super().__init__(module, connection)
        # Check mode only: what earlier items of this run would have done, per domain.
        self._pending = {}

    # ---- input -------------------------------------------------------------

    def specs(self, params):
        items = params.get("snapshots")
        if items is None:
            if params.get("name") is None and params.get("keep") is None:
                raise ValidationError("name", "is required (or snapshots, or keep for retention alone)")
            raw = [dict(name=params.get("name"))] if params.get("name") is not None else [dict()]
            prefixes = [""]
        else:
            if not items and params.get("keep") is None:
                raise ValidationError("snapshots", "must name at least one snapshot")
            raw = items
            prefixes = ["snapshots[{0}].".format(index) for index in range(len(items))]
        specs = []
        # Types, choices and unknown keys are the argument spec's business (suboptions of `snapshots`).
        for prefix, item in zip(prefixes, raw):
            specs.append(self._spec(prefix, item, params))
        if params.get("keep") is not None:
            if params["keep"] < 1:
                raise ValidationError("keep", "must be 1 or more, got {0}".format(params["keep"]))
            last = {}
            for spec in specs:
                last[spec["domain"]] = spec
            for spec in last.values():
                spec["retain"] = True
        elif params.get("prune"):
            raise ValidationError("prune", "needs keep (how many of the newest snapshots to keep)")
        self._preflight(specs)
        return specs

    def _spec(self, prefix, item, params):
        # An item's option left out (None) takes the top-level one.
        spec = {key: item[key] if item.get(key) is not None else params.get(key) for key in ITEM_KEYS}
        spec["state"] = spec["state"] or "present"
        spec["disk_only"] = bool(spec["disk_only"])
        spec["quiesce"] = bool(spec["quiesce"])
        spec["field"] = prefix
        spec["retain"] = False
        spec["keep"] = params.get("keep")
        spec["prune"] = bool(params.get("prune"))
        spec["domain_field"] = prefix + "domain" if item.get("domain") is not None else "domain"
        _validate.name(spec["domain_field"], spec["domain"])
        if spec["name"] is not None or prefix:
            _validate.name(prefix + "name", spec["name"])
        if spec["description"] is not None:
            _validate.text(prefix + "description", spec["description"])
            if MARKER in spec["description"]:
                raise ValidationError(prefix + "description", "must not contain {0!r} (this module's mark)".format(MARKER))
        if spec["quiesce"] and not spec["disk_only"]:
            raise ValidationError(prefix + "quiesce", "needs disk_only: true (libvirt quiesces only disk-only snapshots)")
        if spec["disk_only"] and spec["include_memory"]:
            raise ValidationError(prefix + "include_memory", "a disk_only snapshot holds no memory state")
        return spec

    # ---- reading -----------------------------------------------------------

    def _dom(self, spec, required=True):
        dom = self.connection.domain(spec["domain"])
        if dom is None and required:
            raise NotFoundError(spec["domain_field"],
                                "domain {0} does not exist".format(_validate.shown(spec["domain"])))
        return dom

    def _snapshots(self, dom):
        found = []
        for snap in self.connection.call("list the snapshots of {0}".format(dom.name()), dom.listAllSnapshots, 0):
            xml = self.connection.call("read snapshot {0}".format(snap.getName()), snap.getXMLDesc, 0)
            found.append(Snapshot.from_xml(xml, current=bool(snap.isCurrent(0))))
        return newest_first(found)

    def _predicted(self, domain, snapshots):
        """`snapshots` as earlier items of a check run would have left them."""
        pending = self._pending.get(domain)
        if not pending:
            return snapshots
        result = [snap for snap in snapshots if snap.name not in pending["deleted"]]
        result.extend(pending["created"])
        if pending["current"] is not None:
            for snap in result:
                snap.current = snap.name == pending["current"]
        return newest_first(result)

    def _note(self, domain, created=None, deleted=None, current=None):
        if not self.check_mode:
            return
        pending = self._pending.setdefault(domain, dict(created=[], deleted=set(), current=None))
        if created is not None:
            pending["created"].append(created)
            pending["current"] = created.name
        if deleted is not None:
            pending["deleted"].add(deleted)
            pending["created"] = [snap for snap in pending["created"] if snap.name != deleted]
        if current is not None:
            pending["current"] = current

    # ---- checks before any write -------------------------------------------

    def _preflight(self, specs):
        """The read-only checks of every item, before the first write: what
        earlier items create or delete counts for later ones."""
        names = {}
        for spec in specs:
            dom = self._dom(spec, required=spec["state"] != "absent")
            if dom is None:
                continue
            if spec["domain"] not in names:
                names[spec["domain"]] = {snap.name: snap for snap in self._snapshots(dom)}
            known = names[spec["domain"]]
            if spec["name"] is None:
                continue
            if spec["state"] == "absent":
                if spec["name"] in known:
                    self._check_delete(spec, dom, known.pop(spec["name"]), known)
            elif spec["state"] == "current":
                self._check_revert(spec, dom, known.get(spec["name"]))
            elif spec["name"] not in known:
                self._check_create(spec, dom)
                known[spec["name"]] = Snapshot(spec["name"], external=spec["disk_only"])

    def _check_revert(self, spec, dom, snap):
        if snap is None:
            raise NotFoundError(spec["field"] + "name", "domain {0} has no snapshot {1} to revert to".format(
                spec["domain"], _validate.shown(spec["name"])))
        if snap.external:
            version = self.connection.call("read libvirt's version", self.connection.conn.getLibVersion)
            if version < EXTERNAL_REVERT_VERSION:
                raise ValidationError(spec["field"] + "name", (
                    "snapshot {0} of domain {1} is external (disk-only); libvirt {2} cannot revert to external "
                    "snapshots (libvirt 9.7 and later can); delete it or revert by hand").format(
                        spec["name"], spec["domain"], _version(version)))

    def _domain_info(self, spec, dom):
        return _Domain(self.connection.call("read domain {0}".format(spec["domain"]), dom.XMLDesc, 0),
                       self.connection.call("read the state of domain {0}".format(spec["domain"]), dom.state, 0)[0])

    def _check_delete(self, spec, dom, snap, known):
        problem = _undeletable(self._domain_info(spec, dom), snap, known.get(snap.parent))
        if problem:
            raise ValidationError(spec["field"] + "name", problem)

    def _check_create(self, spec, dom):
        info = self._domain_info(spec, dom)
        field = spec["field"]
        if spec["quiesce"]:
            if not info.active:
                raise ValidationError(field + "quiesce", "domain {0} is not running: only a running guest's agent "
                                                         "can quiesce its file systems".format(spec["domain"]))
            if not info.agent:
                raise ValidationError(field + "quiesce", "domain {0} has no guest agent channel ({1})".format(
                    spec["domain"], _AGENT_CHANNEL))
        if spec["disk_only"]:
            return
        if spec["include_memory"] is True and not info.active:
            raise ValidationError(field + "include_memory", "domain {0} is shut off: it has no memory state to "
                                                            "include".format(spec["domain"]))
        if spec["include_memory"] is False and info.active:
            raise ValidationError(field + "include_memory", (
                "an internal snapshot of running domain {0} always includes its memory (libvirt runs QEMU's "
                "savevm); set disk_only: true for an external disk-only snapshot, or shut the domain off").format(
                    spec["domain"]))
        if info.pflash is not None:
            raise ValidationError(field + "disk_only", (
                "domain {0} boots UEFI firmware from pflash (NVRAM {1}): libvirt cannot take internal snapshots of "
                "it; set disk_only: true for an external snapshot of its disks (the NVRAM is not included)").format(
                    spec["domain"], info.pflash))
        if info.raw_disks:
            target, where, kind = info.raw_disks[0]
            raise ValidationError(field + "disk_only", (
                "disk {0} ({1}) of domain {2} is {3}: internal snapshots need qcow2 disks; set disk_only: true for "
                "an external snapshot, or mark the disk snapshot='no'").format(target, where, spec["domain"], kind))

    # ---- plan --------------------------------------------------------------

    def plan(self, spec):
        domain = spec["domain"]
        plan = Plan(spec["name"] if spec["name"] is not None else domain,
                    header="{0} snapshot {1}".format(domain, spec["name"]) if spec["name"] else "{0} snapshots".format(domain))
        dom = self._dom(spec, required=spec["state"] != "absent")
        if dom is None:
            plan.result = dict(snapshot={}, expired=[])
            return plan
        snapshots = self._predicted(domain, self._snapshots(dom))
        by_name = {snap.name: snap for snap in snapshots}
        snap = by_name.get(spec["name"]) if spec["name"] is not None else None
        after = created = None
        if spec["name"] is None:
            pass
        elif spec["state"] == "absent":
            after = self._plan_absent(plan, spec, dom, snap, by_name)
            snapshots = [s for s in snapshots if s.name != spec["name"]]
        elif snap is None:
            after = self._plan_create(plan, spec, dom, snapshots)
            snapshots = newest_first(snapshots + [after])
            created = after.name
        elif spec["state"] == "current":
            after = self._plan_revert(plan, spec, dom, snap, snapshots)
        else:
            after = self._plan_update(plan, spec, dom, snap)
        if spec["name"] is not None:
            plan.result["snapshot"] = after.result(domain) if after is not None else {}
        plan.result["expired"] = self._plan_retention(plan, spec, dom, snapshots, created) if spec["retain"] else []
        return plan

    def _plan_create(self, plan, spec, dom, snapshots):
        self._check_create(spec, dom)
        state = self.connection.call("read the state of domain {0}".format(spec["domain"]), dom.state, 0)[0]
        active = state in (_RUNNING, _PAUSED, 2)
        if spec["disk_only"]:
            snap_state = "disk-snapshot" if active else "shutoff"
        else:
            snap_state = _STATE_NAMES.get(state, "running") if active else "shutoff"
        current = next((s for s in snapshots if s.current), None)
        if spec["disk_only"] and current is not None and not current.external:
            plan.warnings.append(
                "external snapshot {0} of {1} hangs from internal snapshot {2}: libvirt cannot delete an external "
                "snapshot whose parent is internal (only its metadata, virsh snapshot-delete --metadata)".format(
                    spec["name"], spec["domain"], current.name))
        current = current.name if current is not None else None
        new = Snapshot(spec["name"], spec["description"] or "", managed=True, state=snap_state, parent=current,
                       current=True, external=spec["disk_only"], memory=active and not spec["disk_only"])
        plan.differ("snapshot", None, new.view())
        kind = "external disk-only" if spec["disk_only"] else ("internal with memory" if new.memory else "internal")
        xml = snapshot_xml(spec["name"], spec["description"])
        flags = self._create_flags(spec)
        plan.add("create {0} snapshot {1} of {2}".format(kind, spec["name"], spec["domain"]),
                 lambda: self.connection.call("create snapshot {0} of {1}".format(spec["name"], spec["domain"]),
                                              self._dom(spec).snapshotCreateXML, xml, flags))
        for other in snapshots:
            other.current = False
        self._note(spec["domain"], created=new)
        return new

    def _create_flags(self, spec):
        import libvirt

        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        if spec["disk_only"]:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
        if spec["quiesce"]:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
        return flags

    def _plan_absent(self, plan, spec, dom, snap, by_name):
        if snap is None:
            return None
        self._check_delete(spec, dom, snap, by_name)
        plan.differ("snapshot", snap.view(), None)
        plan.add("delete snapshot {0} of {1}".format(snap.name, spec["domain"]), self._deleter(spec["domain"], snap.name))
        self._note(spec["domain"], deleted=snap.name)
        return None

    def _deleter(self, domain, name):
        def delete():
            dom = self.connection.domain(domain)
            snap = self.connection.call("look up snapshot {0} of {1}".format(name, domain), dom.snapshotLookupByName, name, 0)
            self.connection.call("delete snapshot {0} of {1}".format(name, domain), snap.delete, 0)
        return delete

    def _plan_update(self, plan, spec, dom, snap):
        if spec["description"] is None or spec["description"] == snap.description:
            return snap
        plan.differ("snapshot", dict(description=snap.description), dict(description=spec["description"]))
        name, domain, description = snap.name, spec["domain"], spec["description"]

        def redefine():
            import libvirt

            live = self.connection.call("look up snapshot {0} of {1}".format(name, domain),
                                        self._dom(spec).snapshotLookupByName, name, 0)
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
            if live.isCurrent(0):
                flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
            xml = with_description(live.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE), description)
            self.connection.call("update the description of snapshot {0} of {1}".format(name, domain),
                                 self._dom(spec).snapshotCreateXML, xml, flags)

        plan.add("update the description of snapshot {0} of {1}".format(name, domain), redefine)
        updated = Snapshot(**{key: getattr(snap, key) for key in (
            "name", "managed", "state", "creation_time", "parent", "current", "external", "memory")})
        updated.description = description
        return updated

    def _plan_revert(self, plan, spec, dom, snap, snapshots):
        """Unchanged when `snap` is the domain's current snapshot, the domain
        is in the snapshot's state (running, paused, shut off) and libvirt
        says it got there from a snapshot (the state reason "from snapshot":
        nothing has started, stopped, paused or resumed it since the revert).
        What the guest wrote meanwhile is not looked at."""
        self._check_revert(spec, dom, snap)
        state, reason = self.connection.call("read the state of domain {0}".format(spec["domain"]), dom.state, 0)
        pending = self._pending.get(spec["domain"])
        if pending and pending["current"] is not None:
            # An earlier item of this check run creates or reverts: the domain is not "from snapshot" any more.
            reason = None
        at = _STATE_NAMES.get(state, str(state))
        at_snapshot = snap.current and at == snap.state and reason == _FROM_SNAPSHOT.get(state)
        if at_snapshot:
            return snap
        current = next((s.name for s in snapshots if s.current), None)
        plan.differ("current", dict(snapshot=current, domain_state=at, from_snapshot=reason == _FROM_SNAPSHOT.get(state)),
                    dict(snapshot=snap.name, domain_state=snap.state, from_snapshot=True))
        name, domain = snap.name, spec["domain"]

        def revert():
            live = self._dom(spec)
            target = self.connection.call("look up snapshot {0} of {1}".format(name, domain),
                                          live.snapshotLookupByName, name, 0)
            self.connection.call("revert domain {0} to snapshot {1}".format(domain, name), live.revertToSnapshot, target, 0)

        plan.add("revert {0} to snapshot {1} ({2})".format(domain, name, snap.state), revert)
        self._note(spec["domain"], current=name)
        reverted = Snapshot(**{key: getattr(snap, key) for key in (
            "name", "description", "managed", "state", "creation_time", "parent", "external", "memory")})
        reverted.current = True
        return reverted

    def _plan_retention(self, plan, spec, dom, snapshots, created):
        """Delete (with prune) what `keep` expires among `snapshots`, the
        domain's snapshots once this item's own change is made (`created`:
        the snapshot it creates, if any)."""
        old = expired(snapshots, spec["keep"])
        if not old:
            return []
        by_name = {snap.name: snap for snap in snapshots}
        info = self._domain_info(spec, dom)
        why = {name: _undeletable(info, by_name[name], by_name.get(by_name[name].parent)) for name in old}
        stuck = [name for name in old if why[name]]
        for name in stuck:
            plan.warnings.append("cannot prune {0}: {1}".format(name, why[name]))
        if not spec["prune"]:
            plan.warnings.append("{0} snapshot(s) of {1} made by this module are older than the newest {2}: {3} "
                                 "(prune: true deletes them)".format(len(old), spec["domain"], spec["keep"], ", ".join(old)))
            return old
        managed = [snap.name for snap in reversed(snapshots) if snap.managed]
        gone = [name for name in old if name not in stuck]
        plan.differ("managed_snapshots", [name for name in managed if name != created],
                    [name for name in managed if name not in gone])
        for name in gone:
            plan.add("delete snapshot {0} of {1} (keep {2})".format(name, spec["domain"], spec["keep"]),
                     self._deleter(spec["domain"], name))
            self._note(spec["domain"], deleted=name)
        return old

    def applied(self, spec, plan):
        result = dict(plan.result)
        if spec["name"] is None or spec["state"] == "absent":
            return result
        dom = self._dom(spec)
        for snap in self._snapshots(dom):
            if snap.name == spec["name"]:
                result["snapshot"] = snap.result(spec["domain"])
        return result


def _undeletable(info, snap, parent):
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


def _version(number):
    return "{0}.{1}.{2}".format(number // 1000000, number // 1000 % 1000, number % 1000)
