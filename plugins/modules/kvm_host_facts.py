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
  - Also the cheap reads a role needs instead of C(ansible.builtin.setup) and a few commands, all from files
    and symlinks (no subprocess) - the OS (C(os-release)), the hostname, the default systemd target, whether the
    libvirt daemon's unit is enabled and active - and, with O(packages), which packages are installed
    (one C(dpkg-query) or C(rpm -q) run), and with O(sshd), sshd's effective settings (one C(sshd -T) run).
  - Works on a host where neither libvirt nor libvirt-python is installed yet. When libvirt-python is
    importable and O(uri) answers, it also counts the storage pools, networks and domains, and with
    O(objects) lists them.
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
options:
  packages:
    description:
      - Package names to look up in the package database (C(dpkg-query) on Debian and Ubuntu, else C(rpm)).
      - The result is in C(packages); a name the package manager does not know is reported as not installed.
    type: list
    elements: str
    default: []
  objects:
    description:
      - Also list the storage pools (with their volumes), the networks and the domains in C(libvirt.objects).
      - Volumes are libvirt's own list of an active pool; the pool is not refreshed.
      - Each domain comes with its snapshots (name, creation time, state, parent, whether it is the current one).
    type: bool
    default: false
  sshd:
    description:
      - Also read sshd's effective settings with C(sshd -T -C user=root,host=localhost,addr=127.0.0.1) into C(sshd)
        (needs root, as C(sshd -T) reads the host keys).
      - This is what sshd_config, its C(Include) files and C(Match) blocks amount to, which reading the file cannot tell.
    type: bool
    default: false
notes:
  - libvirt-python and lxml are NOT required by this module; without libvirt-python the libvirt
    counts are null and C(libvirt.python_bindings) is false.
  - O(uri) is only used to count (and with O(objects) list) pools, networks and domains.
  - C(libvirt.service.active) is true when a daemon process runs in the cgroup of its systemd unit
    (C(/proc/PID/cgroup)); a daemon started by hand counts as C(daemon_running) only.
  - C(libvirt.service.enabled) is true when a C(.wants/) or C(.requires/) directory under C(/etc/systemd/system)
    links to the unit (what C(systemctl enable) makes) and the unit is not masked.
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

- name: Which packages are installed, the pools, networks and domains, and sshd's effective settings
  kvmops.hypervisor.kvm_host_facts:
    packages: [qemu-system-x86, libvirt-daemon-system]
    objects: true
    sshd: true
  become: true

- name: Show sshd's effective UseDNS
  ansible.builtin.debug:
    msg: "UseDNS {{ ansible_facts.kvm_host.sshd.effective.usedns | default('unknown') }}"

- name: Show the OS, the default target and the libvirt daemon's unit
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.kvm_host.os.distribution }} {{ ansible_facts.kvm_host.os.version }}
      ({{ ansible_facts.kvm_host.os.family }}), {{ ansible_facts.kvm_host.systemd.default_target }},
      libvirtd enabled {{ ansible_facts.kvm_host.libvirt.service.enabled }}
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
            - C(service) is the daemon's systemd unit (C(name), C(enabled), C(active)); null when no daemon is installed.
            - C(objects) is null unless O(objects) is true and O(uri) answers. Then C(objects.pools) lists each pool
              (C(name), C(type), C(path), C(active), C(autostart), C(volumes) of an active pool with C(name),
              C(capacity) and C(allocation) in bytes), C(objects.networks) each network (C(name), C(active),
              C(autostart), C(bridge)) and C(objects.domains) each domain (C(name), C(state) such as
              C(running) or C(shutoff), C(autostart), C(vcpus), C(memory_mib), C(virt_type), C(snapshots)), sorted by name.
            - C(snapshots) lists a domain's snapshots, oldest first, with the names M(kvmops.hypervisor.kvm_snapshot)
              returns - C(name), C(creation_time) (seconds since the epoch), C(created) (ISO 8601, UTC), C(state) (the
              domain's state the snapshot holds, for example V(running) or V(shutoff); V(disk-snapshot) for an external
              disk-only one), C(parent) (null for a root) and C(current).
          type: dict
          returned: always
          sample:
            installed: true
            daemon: /usr/sbin/libvirtd
            version: 9.0.0
            daemon_running: true
            service: {name: libvirtd.service, enabled: true, active: true}
            python_bindings: true
            uri: qemu:///system
            reachable: true
            error: null
            pools: 2
            networks: 1
            domains: 1
            objects:
              pools:
                - {name: iso, type: dir, path: /data_kvm/iso, active: true, autostart: true, volumes: []}
                - name: store
                  type: dir
                  path: /data_kvm/store
                  active: true
                  autostart: true
                  volumes: [{name: centos7.qcow2, capacity: 21474836480, allocation: 200704}]
              networks: [{name: default, active: true, autostart: true, bridge: virbr0}]
              domains:
                - {name: centos7, state: running, autostart: true, vcpus: 4, memory_mib: 2048, virt_type: kvm,
                   snapshots: [{name: before-upgrade, creation_time: 1796038695, created: "2026-11-30T11:38:15Z",
                                state: running, parent: null, current: true}]}
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
        os:
          description:
            - The operating system from C(/etc/os-release) (else C(/usr/lib/os-release)).
            - C(distribution) and C(family) are named as M(ansible.builtin.setup) names C(distribution) and
              C(os_family) (C(Debian), C(Ubuntu), C(CentOS), C(RedHat), C(Fedora), ...; families C(Debian),
              C(RedHat), C(Suse), ...). An unknown ID takes its family from C(ID_LIKE).
            - C(major_version) is C(VERSION_ID) up to the first dot; null when os-release has no C(VERSION_ID).
          type: dict
          returned: always
          sample: {family: Debian, distribution: Debian, version: "12", major_version: "12", codename: bookworm,
                   id: debian, id_like: []}
        hostname:
          description: The kernel's hostname (C(/proc/sys/kernel/hostname)), what C(hostname) prints.
          type: str
          returned: always
          sample: KVM
        hostname_static:
          description: The static hostname, the first line of C(/etc/hostname); null when the file is missing or empty.
          type: str
          returned: always
          sample: KVM
        systemd:
          description:
            - C(running) is true when systemd runs as the init system (C(/run/systemd/system) exists).
            - C(default_target) is what C(systemctl get-default) prints, read from the C(default.target) symlink
              in systemd's unit directories (C(/etc/systemd/system) first); null when there is none.
          type: dict
          returned: always
          sample: {running: true, default_target: graphical.target}
        package_manager:
          description: C(dpkg) or C(rpm), the database O(packages) were looked up in; null when O(packages) is empty or neither is there.
          type: str
          returned: always
          sample: dpkg
        packages:
          description:
            - For each name in O(packages), whether it is installed and its version (null when not installed).
            - Empty when O(packages) is empty.
          type: dict
          returned: always
          sample:
            qemu-system-x86: {installed: true, version: "1:7.2+dfsg-7+deb12u18"}
            virt-manager: {installed: false, version: null}
        sshd:
          description:
            - Null unless O(sshd) is true.
            - C(binary) is the sshd found (null when sshd is not installed); C(effective) maps each keyword C(sshd -T)
              prints (lower case) to its value, or to the list of its values for keywords printed more than once;
              C(error) says why C(effective) is null.
          type: dict
          returned: always
          sample:
            binary: /usr/sbin/sshd
            effective: {usedns: "no", port: "22", permitrootlogin: without-password, hostkey: [/etc/ssh/ssh_host_rsa_key, /etc/ssh/ssh_host_ed25519_key]}
            error: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts._reader import HostFactsBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_ARGS,
            packages=dict(type="list", elements="str", default=[]),
            objects=dict(type="bool", default=False),
            sshd=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run(module, HostFactsBackend)


if __name__ == "__main__":
    main()
