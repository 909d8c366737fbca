#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_snapshot
short_description: Manage snapshots of libvirt domains (create, delete, revert, retention)
version_added: 0.2.0
description:
  - Creates, deletes and reverts to snapshots of a libvirt domain, by name.
  - By default a snapshot is internal (kept inside the domain's qcow2 disks). An internal snapshot of a running or
    paused domain holds its memory too (libvirt runs QEMU's C(savevm)), so a revert resumes the guest where it was;
    one of a shut-off domain holds its disks only.
  - O(disk_only=true) makes an external snapshot instead, the way libvirt does for a running guest without its
    memory; every disk gets a new qcow2 overlay file next to it (named after the disk and the snapshot) that takes
    the guest's writes from then on. Deleting such a snapshot commits the overlay back into its disk. libvirt
    before 9.7 (Debian 12 has 9.0) cannot revert to an external snapshot; the module fails on such a revert,
    naming the snapshot, before it touches anything.
  - An existing snapshot of the same name is left as it is (only its O(description) is updated in place); the
    other options apply when a snapshot is created.
  - "Snapshots this module creates are marked (the last line of their libvirt description reads
    C(managed-by: kvmops.hypervisor.kvm_snapshot); RV(snapshot.description) leaves it out). Retention (O(keep))
    counts and deletes only those, never a snapshot made by hand or by another tool."
  - Every item is checked before the first write (the domain exists, a snapshot to revert to exists or is
    created by an earlier item, the disks and firmware allow the kind of snapshot asked for), so bad input
    changes nothing.
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
options:
  domain:
    description:
      - Name of the domain.
      - A domain that does not exist fails the task for O(state=present) and O(state=current); with
        O(state=absent) its snapshots are absent, and nothing changes.
    type: str
    required: true
  name:
    description:
      - Name of the snapshot. Must not contain C(/).
      - Without O(name) or O(snapshots), the task only applies O(keep) to the domain's snapshots.
    type: str
  state:
    description:
      - V(present) creates the snapshot when the domain has none of that name.
      - V(absent) deletes it (its children are kept and hang from its parent).
      - V(current) reverts the domain to the snapshot, which becomes its current snapshot; the domain ends in the
        snapshot's state (running, paused or shut off). This is unchanged when the snapshot already is the
        domain's current snapshot, the domain is in the snapshot's state, and libvirt reports that it got into
        that state from a snapshot (state reason C(from snapshot)) - that is, nothing has started, stopped,
        paused or resumed it since the last revert. Right after O(state=present) created a snapshot a revert
        still runs once (the domain's state reason is not C(from snapshot)). What a running guest did since the
        revert (it changes all the time) is not looked at; to go back to the snapshot anyway, pause or stop the
        domain first (then it is not as the revert left it). libvirt gives that reason only to a domain the
        revert started or stopped, so a domain that is shut off already and reverted to a snapshot of a shut-off
        domain is reverted again on every run (and reported changed); that is cheap, since nothing runs, and never
        reported unchanged by mistake.
    type: str
    choices: [present, absent, current]
    default: present
  description:
    description:
      - Description of the snapshot (one line). Updated in place on an existing snapshot when it differs.
    type: str
  include_memory:
    description:
      - Whether the snapshot holds the domain's memory (RAM and device state).
      - Left out, an internal snapshot of a running or paused domain holds it and one of a shut-off domain
        does not.
      - V(true) fails when the domain is shut off; V(false) with an internal snapshot of a running domain fails
        too, since libvirt always includes the memory there (use O(disk_only=true)).
    type: bool
  disk_only:
    description:
      - Make an external disk-only snapshot (new qcow2 overlays next to the disks; no memory).
      - Needed for domains with raw disks, and for UEFI domains whose NVRAM is a raw pflash file (libvirt takes no
        internal snapshot of them; the NVRAM is not part of the external snapshot either).
    type: bool
    default: false
  quiesce:
    description:
      - Freeze the guest's file systems through the QEMU guest agent while the snapshot is taken, so that they
        are consistent on disk. Needs O(disk_only=true), a running domain and a guest agent channel
        (C(org.qemu.guest_agent.0)) with the agent running in the guest.
    type: bool
    default: false
  snapshots:
    description:
      - Many snapshots in one run. Each item takes the options O(domain), O(name), O(state), O(description),
        O(include_memory), O(disk_only), O(quiesce); options given at the top level are defaults for every item.
      - Items are applied in order (so one can create a snapshot that the next one reverts to); all are checked
        before the first is applied. The result lists each item.
    type: list
    elements: dict
    suboptions:
      domain:
        description: Domain of this snapshot (default O(domain)).
        type: str
      name:
        description: Name of this snapshot.
        type: str
        required: true
      state:
        description: As O(state) (default O(state)).
        type: str
        choices: [present, absent, current]
      description:
        description: As O(description).
        type: str
      include_memory:
        description: As O(include_memory).
        type: bool
      disk_only:
        description: As O(disk_only).
        type: bool
      quiesce:
        description: As O(quiesce).
        type: bool
  keep:
    description:
      - Retention. The newest O(keep) snapshots made by this module (by creation time; within the same second a
        child counts as newer than its parent) are kept; the older ones made by this module are reported in
        RV(expired), with a warning, and deleted only with O(prune=true).
      - Counted after the task's own snapshots are created or deleted, so a new snapshot is always among the
        kept ones. In the list form it applies once per domain, with the domain's last item.
    type: int
  prune:
    description:
      - With O(keep), delete the snapshots in RV(expired).
    type: bool
    default: false
notes:
  - Reverting to a snapshot discards what the domain did since; a running guest is reset to the moment of the
    snapshot (or shut off, for a snapshot of a shut-off domain).
  - libvirt refuses to undefine a domain that still has snapshots.
  - libvirt 9.0 cannot delete an external snapshot whose parent is internal, nor an internal snapshot while the
    domain writes to the overlay of a later external snapshot (until a revert to an internal one). The module
    refuses such a deletion before it touches anything, and O(keep) leaves such snapshots with a warning; it warns
    too when it creates an external snapshot under an internal one. Keep to one kind per domain.
seealso:
  - module: kvmops.hypervisor.kvm_domain
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: Snapshot a running guest before an upgrade (internal, with its memory)
  kvmops.hypervisor.kvm_snapshot:
    domain: web1
    name: before-upgrade
    description: before the PHP upgrade

- name: Go back to it
  kvmops.hypervisor.kvm_snapshot:
    domain: web1
    name: before-upgrade
    state: current

- name: Disk-only snapshot with the file systems frozen by the guest agent
  kvmops.hypervisor.kvm_snapshot:
    domain: db1
    name: nightly
    disk_only: true
    quiesce: true

- name: A nightly snapshot, keeping the newest 7 made by this module
  kvmops.hypervisor.kvm_snapshot:
    domain: web1
    name: "nightly-{{ now(utc=true, fmt='%Y%m%d') }}"
    keep: 7
    prune: true

- name: Several domains in one task
  kvmops.hypervisor.kvm_snapshot:
    domain: web1
    snapshots:
      - name: base
      - name: base
        domain: web2
      - name: old
        state: absent
"""

RETURN = r"""
snapshot:
  description:
    - The snapshot after the run (in check mode, as the run would leave it; values libvirt has not assigned yet,
      such as the creation time of a new snapshot, are null). Empty when it is absent. Returned by the single
      form (O(name)).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: Snapshot name.
      type: str
      sample: before-upgrade
    domain:
      description: Domain name.
      type: str
      sample: web1
    description:
      description: Description, without this module's mark.
      type: str
      sample: before the PHP upgrade
    state:
      description: State of the domain the snapshot holds (V(running), V(paused), V(shutoff); V(disk-snapshot)
        for an external snapshot of a running domain).
      type: str
      sample: running
    creation_time:
      description: Creation time, in seconds since the epoch.
      type: int
      sample: 1796038695
    created:
      description: Creation time, ISO 8601 in UTC.
      type: str
      sample: "2026-11-30T11:38:15Z"
    parent:
      description: Name of the parent snapshot, null for a root.
      type: str
      sample: null
    current:
      description: Whether it is the domain's current snapshot.
      type: bool
      sample: true
    external:
      description: Whether it is an external snapshot (disk overlays).
      type: bool
      sample: false
    memory:
      description: Whether it holds the domain's memory.
      type: bool
      sample: true
    managed:
      description: Whether this module made it (and so O(keep) may delete it).
      type: bool
      sample: true
expired:
  description:
    - Snapshots made by this module that are older than the newest O(keep), oldest first; deleted when O(prune=true).
      Empty without O(keep).
  returned: always
  type: list
  elements: str
  sample: [nightly-20261101, nightly-20261102]
snapshots:
  description:
    - One entry per item of O(snapshots), in order, with C(name), C(changed), C(actions), C(snapshot) and
      C(expired) as above (and C(diff) in diff mode). When an item fails while it is applied, the entries before it
      and the failed one (C(failed), C(msg)) are still listed.
  returned: when O(snapshots) is given
  type: list
  elements: dict
actions:
  description: The writes the run made (or in check mode would make), in order.
  returned: always
  type: list
  elements: str
  sample: ["create internal with memory snapshot before-upgrade of web1"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._snapshot import SnapshotBackend


def main():
    argument_spec = dict(
        domain=dict(type="str", required=True),
        name=dict(type="str"),
        state=dict(type="str", choices=["present", "absent", "current"], default="present"),
        description=dict(type="str"),
        include_memory=dict(type="bool"),
        disk_only=dict(type="bool", default=False),
        quiesce=dict(type="bool", default=False),
        snapshots=dict(type="list", elements="dict", options=dict(
            domain=dict(type="str"),
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent", "current"]),
            description=dict(type="str"),
            include_memory=dict(type="bool"),
            disk_only=dict(type="bool"),
            quiesce=dict(type="bool"),
        )),
        keep=dict(type="int"),
        prune=dict(type="bool", default=False),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["name", "snapshots"]],
        required_one_of=[["name", "snapshots", "keep"]],
        supports_check_mode=True,
    )
    run(module, SnapshotBackend)


if __name__ == "__main__":
    main()
