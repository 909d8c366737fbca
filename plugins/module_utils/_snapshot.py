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

The pure part (the mark, XML, ordering, the domain's facts) is _snapshot_model.py."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._snapshot_model import (
    ACTIVE_STATES,
    AGENT_CHANNEL,
    MARKER,
    PAUSED,
    RUNNING,
    SHUTOFF,
    STATE_NAMES,
    DomainFacts,
    Snapshot,
    expired,
    newest_first,
    snapshot_xml,
    undeletable,
    version_text,
    with_description,
)

# The first libvirt that reverts to external snapshots.
EXTERNAL_REVERT_VERSION = 9007000
ITEM_KEYS = ("domain", "name", "state", "description", "include_memory", "disk_only", "quiesce")
# The state reasons that say "got here by a revert" (VIR_DOMAIN_{RUNNING,PAUSED,SHUTOFF}_FROM_SNAPSHOT).
_FROM_SNAPSHOT = {RUNNING: 4, PAUSED: 7, SHUTOFF: 7}


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

    def _state(self, spec, dom):
        """(the domain's state name, whether libvirt says it got there from a
        snapshot), as earlier items of a check run would have left it."""
        pending = self._pending.get(spec["domain"])
        if pending and pending["at"] is not None:
            return pending["at"]
        state, reason = self.connection.call("read the state of domain {0}".format(spec["domain"]), dom.state, 0)
        return STATE_NAMES.get(state, str(state)), reason == _FROM_SNAPSHOT.get(state)

    def _note(self, domain, created=None, deleted=None, current=None, at=None):
        if not self.check_mode:
            return
        pending = self._pending.setdefault(domain, dict(created=[], deleted=set(), current=None, at=None))
        if at is not None:
            pending["at"] = at
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
                        spec["name"], spec["domain"], version_text(version)))

    def _domain_info(self, spec, dom):
        xml = self.connection.call("read domain {0}".format(spec["domain"]), dom.XMLDesc, 0)
        state = self.connection.call("read the state of domain {0}".format(spec["domain"]), dom.state, 0)[0]
        return DomainFacts(xml, state)

    def _check_delete(self, spec, dom, snap, known):
        problem = undeletable(self._domain_info(spec, dom), snap, known.get(snap.parent))
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
                    spec["domain"], AGENT_CHANNEL))
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
        state, _from_snapshot = self._state(spec, dom)
        active = state in [STATE_NAMES[code] for code in ACTIVE_STATES]
        if spec["disk_only"]:
            snap_state = "disk-snapshot" if active else "shutoff"
        else:
            snap_state = state if active else "shutoff"
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
                                              self._live(spec["domain"]).snapshotCreateXML, xml, flags))
        for other in snapshots:
            other.current = False
        # Snapshotting a running guest pauses and resumes it: it is no longer "from snapshot".
        self._note(spec["domain"], created=new, at=(state, False) if active else None)
        return new

    def _create_flags(self, spec):
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
            snap = self._live_snapshot(domain, name)[1]
            self.connection.call("delete snapshot {0} of {1}".format(name, domain), snap.delete, 0)
        return delete

    def _live(self, domain):
        """The domain when a plan is applied; gone since the plan read it is
        another client's change (the runner plans again)."""
        dom = self.connection.domain(domain)
        if dom is None:
            raise ConcurrentChangeError("look up domain {0}".format(domain), "domain {0} is gone".format(domain))
        return dom

    def _live_snapshot(self, domain, name):
        """(domain, snapshot) when a plan is applied, as _live."""
        dom = self._live(domain)
        action = "look up snapshot {0} of {1}".format(name, domain)
        try:
            return dom, dom.snapshotLookupByName(name, 0)
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                raise ConcurrentChangeError(action, error)
            raise self.connection.error(action, error)

    def _plan_update(self, plan, spec, dom, snap):
        if spec["description"] is None or spec["description"] == snap.description:
            return snap
        plan.differ("snapshot", dict(description=snap.description), dict(description=spec["description"]))
        name, domain, description = snap.name, spec["domain"], spec["description"]

        def redefine():
            live_dom, live = self._live_snapshot(domain, name)
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
            if live.isCurrent(0):
                flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
            xml = with_description(live.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE), description)
            self.connection.call("update the description of snapshot {0} of {1}".format(name, domain),
                                 live_dom.snapshotCreateXML, xml, flags)

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
        What the guest wrote meanwhile is not looked at.  libvirt gives that
        reason only to a domain the revert started or stopped: a shut-off
        domain reverted to a shut-off snapshot keeps its reason, so it is
        reverted again on the next run (cheap: nothing runs; and never
        unchanged by mistake)."""
        self._check_revert(spec, dom, snap)
        at, from_snapshot = self._state(spec, dom)
        if snap.current and at == snap.state and from_snapshot:
            return snap
        current = next((s.name for s in snapshots if s.current), None)
        plan.differ("current", dict(snapshot=current, domain_state=at, from_snapshot=from_snapshot),
                    dict(snapshot=snap.name, domain_state=snap.state, from_snapshot=True))
        name, domain = snap.name, spec["domain"]

        def revert():
            live, target = self._live_snapshot(domain, name)
            self.connection.call("revert domain {0} to snapshot {1}".format(domain, name), live.revertToSnapshot, target, 0)

        plan.add("revert {0} to snapshot {1} ({2})".format(domain, name, snap.state), revert)
        # libvirt marks the domain "from snapshot" when the revert starts or stops it, not when a shut-off
        # domain stays shut off.
        moved = snap.state != "shutoff" or at != "shutoff"
        self._note(spec["domain"], current=name, at=(snap.state, True if moved else from_snapshot))
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
        why = {name: undeletable(info, by_name[name], by_name.get(by_name[name].parent)) for name in old}
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
