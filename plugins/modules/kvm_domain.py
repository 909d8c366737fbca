#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_domain
short_description: Define, update, start, stop and remove libvirt domains (virtual machines)
version_added: 0.1.0
description:
  - Manages the persistent definition, the autostart flag and the run state of libvirt domains.
  - Idempotent by subset comparison; only what you specify is compared against the inactive XML libvirt returns,
    so what libvirt assigned (UUID, MAC addresses, PCI addresses, controllers) never counts as a change and is kept
    when the definition is updated.
  - Disks, interfaces and graphics, when given, are the whole list of that kind of device; devices of that kind not
    listed are removed from the definition (their storage is never deleted by an update).
  - Disks are matched by target device name, interfaces by MAC address when O(interfaces[].mac) is given,
    else by position.
  - A definition change of a running domain is written to the persistent definition only; the module then returns
    RV(restart_required=true).
  - Many domains can be reconciled in one task, over one connection, with O(domains). Every item is validated
    (including that referenced pools, volumes, networks and bridges exist) before any domain is touched.
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
  - kvmops.hypervisor.domain_options
author:
  - kvmops contributors (@kvmops)
options:
  name:
    description:
      - Name of the domain. Must not contain C(/).
      - Required unless O(domains) is given; mutually exclusive with O(domains).
    type: str
notes:
  - Disks use C(<disk type='volume'>) for pool volumes, so the definition keeps referring to the pool.
"""

EXAMPLES = r"""
- name: A TCG guest booting from an ISO, running, started at boot
  kvmops.hypervisor.kvm_domain:
    name: web1
    virt_type: qemu
    vcpus: 2
    memory: 2G
    disks:
      - pool: store
        volume: web1.qcow2
    cdrom:
      pool: iso
      volume: debian-12.iso
    boot: [cdrom, hd]
    interfaces:
      - network: default
    graphics: vnc
    graphics_listen: 0.0.0.0
    graphics_password: "{{ vault_web1_vnc_password }}"
    autostart: true

- name: Shut it down, destroying it when it does not react within 30 s
  kvmops.hypervisor.kvm_domain:
    name: web1
    state: shutdown
    shutdown_timeout: 30
    force: true

- name: Twenty guests in one task, one connection
  kvmops.hypervisor.kvm_domain:
    state: running
    virt_type: qemu
    memory: 512
    interfaces:
      - network: default
    domains: "{{ range(1, 21) | map('string') | map('regex_replace', '^', 'node') | map('community.general.dict_kv', 'name') | list }}"

- name: Remove a guest and its disk images
  kvmops.hypervisor.kvm_domain:
    name: web1
    state: absent
    remove_storage: true
"""

RETURN = r"""
domain:
  description:
    - The domain after the run (predicted in check mode); null when it is absent. Single form only.
  returned: success, without O(domains)
  type: dict
  contains:
    name: {description: Name., type: str, returned: always}
    uuid: {description: UUID (null for a domain a check-mode run would create)., type: str, returned: always}
    state: {description: "Run state: running, paused, shutoff or shutting-down.", type: str, returned: always}
    autostart: {description: Autostart flag., type: bool, returned: always}
    vcpus: {description: Virtual CPUs., type: int, returned: always}
    memory_mib: {description: Memory in MiB., type: int, returned: always}
    virt_type: {description: Domain type (kvm or qemu)., type: str, returned: always}
    machine: {description: Machine type as libvirt stores it., type: str, returned: always}
    boot: {description: Boot order., type: list, elements: str, returned: always}
    disks:
      description: Disks with device, type, target, bus, format, path, pool, volume.
      type: list
      elements: dict
      returned: always
    interfaces:
      description: Interfaces with type, network, bridge, model and mac.
      type: list
      elements: dict
      returned: always
    graphics: {description: Graphics types., type: list, elements: str, returned: always}
  sample:
    name: web1
    uuid: 634305cb-7596-4954-96af-d6a29af0f89b
    state: running
    autostart: true
    vcpus: 2
    memory_mib: 2048
    interfaces: [{type: network, network: default, bridge: null, model: virtio, mac: "52:54:00:9c:7f:33"}]
restart_required:
  description:
    - True when the persistent definition of an active domain changed; the running domain keeps its old
      configuration until it is restarted. With O(domains), true when it is true for any item.
  returned: success
  type: bool
domains:
  description: One result per O(domains) item, in order.
  returned: success, with O(domains)
  type: list
  elements: dict
  contains:
    name: {description: Domain name., type: str, returned: always}
    changed: {description: Whether this domain changed (would change in check mode)., type: bool, returned: always}
    domain: {description: As RV(domain)., type: dict, returned: always}
    restart_required: {description: As RV(restart_required)., type: bool, returned: always}
    diff: {description: Before and after of what differs for this domain., type: dict, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain import reconcile as reconcile_domains
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain import secret_values
from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run

_DISK = dict(
    pool=dict(type="str"),
    volume=dict(type="str"),
    path=dict(type="str"),
    bus=dict(type="str", choices=["virtio", "sata", "scsi", "ide", "usb"]),
    device=dict(type="str", choices=["disk", "cdrom"]),
    format=dict(type="str"),
    target=dict(type="str"),
)
_INTERFACE = dict(
    network=dict(type="str"),
    bridge=dict(type="str"),
    model=dict(type="str"),
    mac=dict(type="str"),
)
_STRUCTURED = ("vcpus", "memory", "virt_type", "machine", "cpu_mode", "firmware",
               "disks", "cdrom", "boot", "interfaces", "graphics", "graphics_password", "graphics_listen")
_DOMAIN = dict(
    state=dict(type="str", choices=["present", "running", "shutdown", "destroyed", "paused", "absent"]),
    vcpus=dict(type="int"),
    memory=dict(type="str"),
    virt_type=dict(type="str", choices=["kvm", "qemu"]),
    machine=dict(type="str"),
    cpu_mode=dict(type="str", choices=["host-passthrough", "host-model", "maximum", "custom"]),
    firmware=dict(type="str", choices=["bios", "efi"]),
    disks=dict(type="list", elements="dict", options=_DISK),
    cdrom=dict(type="raw"),
    boot=dict(type="list", elements="str", choices=["hd", "cdrom", "network", "fd"]),
    interfaces=dict(type="list", elements="dict", options=_INTERFACE),
    graphics=dict(type="str", choices=["vnc", "spice", "none"]),
    graphics_password=dict(type="str", no_log=True),
    graphics_listen=dict(type="str"),
    autostart=dict(type="bool"),
    xml=dict(type="str"),
    shutdown_timeout=dict(type="int"),
    force=dict(type="bool"),
    remove_storage=dict(type="bool"),
    remove_nvram=dict(type="bool"),
)


def main():
    argument_spec = dict(CONNECTION_ARGS, name=dict(type="str"), **_DOMAIN)
    # xml vs. structured options inside an item is checked by the back end, which names the item (domains[3].xml).
    argument_spec["domains"] = dict(type="list", elements="dict", options=dict(_DOMAIN, name=dict(type="str", required=True)))
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("name", "domains")] + [("xml", key) for key in _STRUCTURED],
        required_one_of=[("name", "domains")],
        supports_check_mode=True,
    )
    # graphics_password is no_log; a passwd inside `xml` must not be echoed in the invocation either.
    module.no_log_values.update(secret_values(module.params))

    def reconcile(connection):
        result = reconcile_domains(connection, module.params, module.check_mode)
        if not module._diff:
            result.pop("diff", None)
        return result

    run(module, reconcile)


if __name__ == "__main__":
    main()
