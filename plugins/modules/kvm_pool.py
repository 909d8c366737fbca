#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_pool
short_description: Manage libvirt storage pools (directory pools)
version_added: 0.1.0
description:
  - Defines, updates, starts, stops and removes a libvirt storage pool of type C(dir).
  - Only the options given are compared, against the inactive definition libvirt returns, so libvirt's own
    defaults (UUID, capacity) never count as changes. A pool whose definition differs (for example O(path)) is
    redefined in place, keeping its UUID; an active pool is restarted when the change needs it, and the result
    says so in RV(restarted).
  - The pool directory is created with O(mode), O(owner) and O(group) and its permissions are kept as given.
  - Removing a pool never deletes its directory or volumes unless O(purge=true).
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
options:
  name:
    description:
      - Name of the pool. Must not contain C(/).
    type: str
    required: true
  state:
    description:
      - V(present) defines the pool (and its directory); V(absent) undefines it.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Pool type. Only directory pools are supported.
    type: str
    choices: [dir]
    default: dir
  path:
    description:
      - Absolute path of the pool directory. Required to create a pool; when given for an existing pool whose
        path differs, the pool is redefined with the new path (the old directory is kept).
    type: path
  mode:
    description:
      - Permissions of the pool directory, as an octal string such as V('0755') (or an integer, as the
        M(ansible.builtin.file) module takes it). A new directory without O(mode) gets libvirt's default V(0711).
    type: raw
  owner:
    description:
      - Owner of the pool directory, a user name or a numeric uid on the managed host.
    type: str
  group:
    description:
      - Group of the pool directory, a group name or a numeric gid on the managed host.
    type: str
  autostart:
    description:
      - Whether libvirt starts the pool when libvirtd starts.
    type: bool
    default: true
  active:
    description:
      - Whether the pool is started.
    type: bool
    default: true
  purge:
    description:
      - With O(state=absent), also delete every volume of the pool and the pool directory.
      - By default removing a pool keeps its directory and volumes.
    type: bool
    default: false
notes:
  - The directory checks (existence, permissions) read the managed host's file system, so they apply to local
    URIs. With a remote URI the directory of a new pool is built by libvirt.
seealso:
  - module: kvmops.hypervisor.kvm_volume
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: ISO pool, as the tutorial's /data_kvm/iso
  kvmops.hypervisor.kvm_pool:
    name: iso
    path: /data_kvm/iso
    mode: "0755"

- name: Image store owned by qemu
  kvmops.hypervisor.kvm_pool:
    name: store
    path: /data_kvm/store
    owner: root
    group: root
    mode: "0711"
    autostart: true

- name: Remove a pool, keep its directory and volumes
  kvmops.hypervisor.kvm_pool:
    name: old
    state: absent

- name: Remove a pool with its volumes and directory
  kvmops.hypervisor.kvm_pool:
    name: scratch
    state: absent
    purge: true
"""

RETURN = r"""
pool:
  description:
    - The pool after the run (in check mode, as the run would leave it; values libvirt has not assigned yet are
      null). Empty when the pool is absent.
  returned: always
  type: dict
  contains:
    name:
      description: Pool name.
      type: str
      sample: iso
    uuid:
      description: Pool UUID.
      type: str
      sample: 6f1c1a0c-0e4b-4b8e-9d55-3c1b8f0b6f1e
    type:
      description: Pool type.
      type: str
      sample: dir
    path:
      description: Pool directory.
      type: str
      sample: /data_kvm/iso
    active:
      description: Whether the pool is started.
      type: bool
      sample: true
    autostart:
      description: Whether the pool starts with libvirtd.
      type: bool
      sample: true
    capacity:
      description: Size of the file system holding the pool, in bytes (0 while inactive).
      type: int
      sample: 270553174016
    allocation:
      description: Bytes allocated on that file system.
      type: int
      sample: 25010958336
    available:
      description: Bytes free on that file system.
      type: int
      sample: 245542215680
restarted:
  description: Whether an active pool was (or in check mode would be) restarted to apply a new definition.
  returned: always
  type: bool
  sample: false
actions:
  description: The writes the run made (or in check mode would make), in order.
  returned: always
  type: list
  elements: str
  sample: ["define pool iso", "create directory /data_kvm/iso", "start pool iso", "set autostart of pool iso"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import PoolBackend


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        type=dict(type="str", choices=["dir"], default="dir"),
        path=dict(type="path"),
        mode=dict(type="raw"),
        owner=dict(type="str"),
        group=dict(type="str"),
        autostart=dict(type="bool", default=True),
        active=dict(type="bool", default=True),
        purge=dict(type="bool", default=False),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run(module, PoolBackend)


if __name__ == "__main__":
    main()
