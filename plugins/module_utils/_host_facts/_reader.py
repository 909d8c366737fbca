# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_host_facts behind main(): one collector per fact group, each reading
through a Host (files under a root, commands through the module):

- _hardware: virtualization, CPU, memory, huge pages, IOMMU
- _virt:     libvirt (daemon, unit, bindings, counts, objects) and QEMU
- _bridges:  Linux bridges and their addresses
- _system:   OS, host names, systemd
- _software: packages and sshd's effective settings

HostFactsReader puts them together; HostFactsBackend runs it under
_module.run without a libvirt connection (needs_libvirt = False): libvirt-
python is used when it is importable and never required.  Cheap reads come
first: the OS, the hostname and the default systemd target are files and
symlinks, not subprocesses; the packages take one dpkg-query or rpm call.
(Here, not in the package's __init__.py: ansible-test 2.16 wants that empty.)"""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts import _bridges, _hardware, _software, _system, _virt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts._host import SBIN_DIRS, Host
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan

__all__ = ["SBIN_DIRS", "HostFactsBackend", "HostFactsReader"]


def _importable_libvirt():
    from ansible_collections.kvmops.hypervisor.plugins.module_utils import _libvirt

    return _libvirt.libvirt


class HostFactsReader(Host):
    """Collect the `kvm_host` facts.

    root, run_command, which: see Host.
    uri:         libvirt URI to count pools, networks and domains on.
    libvirt:     the libvirt-python module, or None when it is not importable
                 (default: whatever _libvirt imported).
    packages:    package names to look up (one dpkg-query or rpm -q call).
    objects:     also list the pools (with volumes), networks and domains.
    sshd:        also read sshd's effective settings (sshd -T).
    """

    def __init__(self, root="/", run_command=None, which=None, uri="qemu:///system", libvirt="auto",
                 packages=(), objects=False, sshd=False):
        super().__init__(root, run_command, which)
        self.uri = uri
        self.libvirt = _importable_libvirt() if libvirt == "auto" else libvirt
        self.packages = list(packages or [])
        self.objects = objects
        self.want_sshd = sshd

    def facts(self):
        cpuinfo = self.read("/proc/cpuinfo") or ""
        memory_mib, hugepages = _hardware.memory(self)
        manager, packages = _software.package_facts(self, self.packages)
        hostname, hostname_static = _system.hostnames(self)
        return dict(
            virtualization=_hardware.virtualization(self, cpuinfo),
            cpu=_hardware.cpu(self, cpuinfo),
            memory_mib=memory_mib,
            iommu_enabled=_hardware.iommu_enabled(self),
            hugepages=hugepages,
            # the libvirt connection first: it may socket-activate libvirtd,
            # which the service state below then sees as it is
            libvirt=_virt.libvirt_facts(self, self.libvirt, self.uri, self.objects),
            qemu=_virt.qemu(self),
            bridges=_bridges.bridges(self),
            os=_system.os_release(self),
            hostname=hostname,
            hostname_static=hostname_static,
            systemd=_system.systemd(self),
            package_manager=manager,
            packages=packages,
            sshd=_software.sshd(self) if self.want_sshd else None,
        )

    def systemd(self):
        return _system.systemd(self)

    def addresses(self):
        return _bridges.addresses(self)


class HostFactsBackend(Backend):
    """kvm_host_facts under _module.run: one plan that only reads, whose
    result is ansible_facts.kvm_host; no libvirt connection of the runner's."""

    needs_libvirt = False

    def specs(self, params):
        return [params]

    def plan(self, spec):
        module = self.module
        reader = HostFactsReader(
            run_command=lambda argv: module.run_command(argv, environ_update=dict(LC_ALL="C"), expand_user_and_vars=False),
            which=lambda name: module.get_bin_path(name, opt_dirs=list(SBIN_DIRS)),
            uri=spec["uri"],
            packages=spec["packages"],
            objects=spec["objects"],
            sshd=spec["sshd"],
        )
        plan = Plan("kvm_host")
        plan.result = dict(ansible_facts=dict(kvm_host=reader.facts()))
        return plan
