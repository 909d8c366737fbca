#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kvm_host_facts
short_description: Gather what a host offers for KVM virtualization
version_added: 0.1.0
description:
  - Reads C(/proc), C(/sys), C(/dev/kvm) and the C(--version) of the libvirt daemon and of QEMU, and returns
    C(ansible_facts.kvm_host) with whether hardware virtualization is usable (and why not, in words),
    the CPU topology, memory, IOMMU, huge pages, libvirt and QEMU, and the Linux bridges.
  - Works on a host where neither libvirt nor libvirt-python is installed yet. When libvirt-python is
    importable and O(uri) answers, it also counts the storage pools, networks and domains.
  - Changes nothing; C(changed) is always false.
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
  - kvmops.hypervisor.attributes.FACTS
attributes:
  diff_mode:
    support: none
    details: Gathers facts only; there is never anything to diff.
  idempotent:
    support: full
options: {}
notes:
  - libvirt-python and lxml are NOT required by this module; without libvirt-python the libvirt
    counts are null and C(libvirt.python_bindings) is false.
  - O(uri) is only used to count pools, networks and domains.
  - C(virtualization.usable) is true when C(/dev/kvm) can be opened for reading and writing, which is
    what QEMU needs. A host can be usable without a vmx/svm flag in C(/proc/cpuinfo)
    (for example with a paravirtualized KVM such as kvm_pvm).
  - C(iommu_enabled) is true when C(/sys/kernel/iommu_groups) is not empty, that is when the kernel runs
    an IOMMU. A kernel command line asking for one (C(intel_iommu=on)) without working hardware does not count.
  - Bridge addresses come from C(ip -j addr show) when C(ip) is installed; otherwise IPv6 addresses come from
    C(/proc/net/if_inet6) and IPv4 addresses from C(/proc/net/fib_trie) matched against the connected
    routes of C(/proc/net/route) (an address without a connected route is left out).
seealso:
  - name: libvirt connection URIs
    description: The URI formats libvirt accepts.
    link: https://libvirt.org/uri.html
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: Gather the KVM facts of the host
  kvmops.hypervisor.kvm_host_facts:

- name: Stop early when hardware virtualization is not usable
  ansible.builtin.assert:
    that: ansible_facts.kvm_host.virtualization.usable
    fail_msg: "{{ ansible_facts.kvm_host.virtualization.reason }}"

- name: Count the objects of a session libvirtd
  kvmops.hypervisor.kvm_host_facts:
    uri: qemu:///session
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    kvm_host:
      description: What the host offers for KVM.
      returned: always
      type: dict
      contains:
        virtualization:
          description: Hardware virtualization.
          type: dict
          returned: always
          sample:
            cpu_flag: vmx
            kvm_module_loaded: true
            kvm_modules: [kvm, kvm_intel]
            kvm_device: true
            nested: false
            usable: true
            reason: null
          contains:
            cpu_flag:
              description: C(vmx) (Intel VT-x), C(svm) (AMD-V) or null, from the flags in C(/proc/cpuinfo).
              type: str
              returned: always
            kvm_module_loaded:
              description: The kvm module is loaded or built in (C(/sys/module/kvm) or C(/proc/modules)).
              type: bool
              returned: always
            kvm_modules:
              description: The kvm modules found (C(kvm), C(kvm_intel), C(kvm_amd), ...).
              type: list
              elements: str
              returned: always
            kvm_device:
              description: C(/dev/kvm) exists and can be opened for reading and writing.
              type: bool
              returned: always
            nested:
              description:
                - The C(nested) parameter of kvm_intel or kvm_amd (C(Y) or C(1) is true).
                - Null when neither module is loaded.
              type: bool
              returned: always
            usable:
              description: Guests can use KVM acceleration (C(/dev/kvm) can be opened).
              type: bool
              returned: always
            reason:
              description: Why KVM is not usable and what to do about it; null when usable.
              type: str
              returned: always
              sample: "the CPU has no vmx or svm flag: enable VT-x/AMD-V in the firmware ..."
        cpu:
          description:
            - The processor, with the topology as libvirt and lscpu count it
              (cores per socket, threads per core).
            - From C(/sys/devices/system/cpu/*/topology), else C(/proc/cpuinfo).
          type: dict
          returned: always
          sample: {model: "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", count: 80, sockets: 2, cores: 20, threads: 2}
        memory_mib:
          description: MemTotal of C(/proc/meminfo) in MiB.
          type: int
          returned: always
          sample: 64216
        iommu_enabled:
          description: The kernel runs an IOMMU (C(/sys/kernel/iommu_groups) is not empty).
          type: bool
          returned: always
        hugepages:
          description: Huge pages from C(/proc/meminfo).
          type: dict
          returned: always
          sample: {total: 0, free: 0, size_kib: 2048}
        libvirt:
          description:
            - The libvirt daemon (C(libvirtd), else the modular C(virtqemud)).
            - C(daemon_running) is true when such a process is in C(/proc).
            - C(version) comes from C(<daemon> --version), else from libvirt-python.
            - C(pools), C(networks) and C(domains) count active and inactive objects; they are
              null unless C(reachable), and C(error) says why O(uri) did not answer.
          type: dict
          returned: always
          sample:
            installed: true
            daemon: /usr/sbin/libvirtd
            version: 9.0.0
            daemon_running: true
            python_bindings: true
            uri: qemu:///system
            reachable: true
            error: null
            pools: 2
            networks: 1
            domains: 3
        qemu:
          description: The first of C(qemu-system-x86_64), C(qemu-kvm), C(/usr/libexec/qemu-kvm) found, and its version.
          type: dict
          returned: always
          sample: {binary: /usr/bin/qemu-system-x86_64, version: 7.2.22}
        bridges:
          description: Linux bridges (C(/sys/class/net/*/bridge)), their ports (C(brif/)) and addresses (address/prefix).
          type: list
          elements: dict
          returned: always
          sample: [{name: br0, ports: [ens33], addresses: [192.168.1.10/24, "fe80::1/64"]}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts import SBIN_DIRS, HostFactsReader
from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS


def main():
    module = AnsibleModule(argument_spec=dict(CONNECTION_ARGS), supports_check_mode=True)
    reader = HostFactsReader(
        run_command=lambda argv: module.run_command(argv, environ_update=dict(LC_ALL="C")),
        which=lambda name: module.get_bin_path(name, opt_dirs=list(SBIN_DIRS)),
        uri=module.params["uri"],
    )
    try:
        facts = reader.facts()
    except KvmError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, ansible_facts=dict(kvm_host=facts))


if __name__ == "__main__":
    main()
