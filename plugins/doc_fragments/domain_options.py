# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-domain options of kvm_domain, written once.

kvm_domain takes them twice: at the top level (the single form, and the
defaults of the O(domains) items) and as the suboptions of every O(domains)
item.  _ITEM holds them at indentation 0; DOCUMENTATION places them at both
levels, so ansible-doc renders both and validate-modules compares both with
the argument spec (plugins/modules/kvm_domain.py, _DOMAIN)."""

from __future__ import annotations

_ITEM = r"""
state:
  description:
    - V(present) defines (or updates) the domain and leaves its run state alone.
    - V(running) also starts it (or resumes it when paused).
    - V(paused) also starts it paused, or suspends it.
    - V(shutdown) asks the guest to shut down (ACPI) and waits up to O(shutdown_timeout) seconds for it to be shut
      off; with O(force=true) it is destroyed after that time, without it the task fails.
    - V(destroyed) powers the domain off at once.
    - V(absent) powers it off and undefines it; storage and NVRAM are kept unless O(remove_storage) / O(remove_nvram).
    - Defaults to V(running) (not declared as a default so that it can be a default for O(domains) items).
  type: str
  choices: [present, running, shutdown, destroyed, paused, absent]
vcpus:
  description:
    - Number of virtual CPUs (1 or more). A new domain gets 1 when not given.
  type: int
memory:
  description:
    - Memory, in MiB as a bare number, or a size string such as V(512M) or V(2G).
    - Required to define a new domain from structured options.
  type: str
virt_type:
  description:
    - Hypervisor type. V(qemu) is software emulation (TCG), V(kvm) needs C(/dev/kvm).
    - A new domain gets V(kvm) when not given; an existing domain's type is only compared when given.
  type: str
  choices: [kvm, qemu]
machine:
  description:
    - Machine type, for example V(pc) or V(q35). An alias matches the versioned machine libvirt expands it to
      (V(pc) matches C(pc-i440fx-7.2)).
  type: str
cpu_mode:
  description:
    - CPU mode of the C(<cpu>) element.
  type: str
  choices: [host-passthrough, host-model, maximum, custom]
firmware:
  description:
    - Firmware, selected automatically by libvirt (C(<os firmware=...>)). V(efi) needs OVMF on the host.
  type: str
  choices: [bios, efi]
disks:
  description:
    - The disks of the domain (with O(cdrom), the complete list of disk devices).
    - Each item is either O(disks[].pool) and O(disks[].volume), or O(disks[].path).
  type: list
  elements: dict
  suboptions:
    pool:
      description: Storage pool of the volume; must exist.
      type: str
    volume:
      description: Volume name in O(disks[].pool); must exist. Its format is used when O(disks[].format) is not given.
      type: str
    path:
      description: Absolute path of an image file on the host; must exist.
      type: str
    bus:
      description: Disk bus. Defaults to V(virtio) for disks and V(sata) for CD-ROMs.
      type: str
      choices: [virtio, sata, scsi, ide, usb]
    device:
      description: Device kind. Defaults to V(disk).
      type: str
      choices: [disk, cdrom]
    format:
      description: Image format of the driver, for example V(qcow2) or V(raw).
      type: str
    target:
      description: Target device name, for example V(vda). Assigned in order per bus (vda, vdb, sda...) when not given.
      type: str
cdrom:
  description:
    - Shortcut for one CD-ROM drive holding an ISO image, added after O(disks).
    - Either an absolute path on the host, or a dict with C(pool) and C(volume) (and optionally C(bus), C(target)).
  type: raw
boot:
  description:
    - Boot order, for example V([cdrom, hd]).
  type: list
  elements: str
  choices: [hd, cdrom, network, fd]
interfaces:
  description:
    - The network interfaces of the domain (the complete list).
    - Each item has exactly one of O(interfaces[].network) or O(interfaces[].bridge).
  type: list
  elements: dict
  suboptions:
    network:
      description: libvirt network to attach to; must exist.
      type: str
    bridge:
      description: Host bridge to attach to; must exist on the host.
      type: str
    model:
      description: NIC model. Defaults to V(virtio).
      type: str
    mac:
      description:
        - MAC address. When not given, libvirt assigns one and it is kept across runs.
        - An interface with a MAC is matched by it; the others by position.
      type: str
graphics:
  description:
    - Graphical console. V(none) removes graphics devices.
  type: str
  choices: [vnc, spice, none]
graphics_password:
  description:
    - Password of the graphical console (libvirt's C(passwd) of C(<graphics>), virt-install's C(--graphics password=)).
      Needs O(graphics=vnc) or O(graphics=spice). VNC clients use only its first 8 characters.
    - When not given, an existing password is left alone; an empty string removes it.
    - A change of the password is detected, but its old and new values are never returned; the C(--diff) output
      (also the new definition in it) shows C(********) in their place.
  type: str
graphics_listen:
  description:
    - Address the graphical console listens on, for example V(127.0.0.1) or V(0.0.0.0) (every address; give
      O(graphics_password) then). When not given, libvirt's default (C(vnc_listen) / C(spice_listen) in
      C(qemu.conf)) applies to a new domain and an existing one is left alone.
    - Needs O(graphics=vnc) or O(graphics=spice).
  type: str
autostart:
  description:
    - Start the domain when libvirtd starts. Left alone when not given.
  type: bool
xml:
  description:
    - A whole domain definition, compared by subset with the inactive XML and merged into it.
    - Mutually exclusive with the structured options (O(vcpus), O(memory), O(disks), ...) of the same item.
    - Its C(<name>) must equal the domain's name (O(name), or O(domains[].name) in an item).
    - A C(passwd) in it (a console password) is compared and kept like O(graphics_password) and masked in
      the results, but Ansible logs O(xml) on the managed host (syslog) as it logs every option that is not
      C(no_log); prefer O(graphics_password).
  type: str
shutdown_timeout:
  description:
    - Seconds to wait for a graceful shutdown with O(state=shutdown). Defaults to V(60).
  type: int
force:
  description:
    - With O(state=shutdown), destroy the domain when it is still running after O(shutdown_timeout).
      Defaults to V(false).
  type: bool
remove_storage:
  description:
    - With O(state=absent), also delete the volumes or image files of the domain's disks (not its CD-ROM media).
      Defaults to V(false).
  type: bool
remove_nvram:
  description:
    - With O(state=absent), also delete the UEFI NVRAM file. Without it the NVRAM is kept (and the domain can
      still be undefined). Defaults to V(false).
  type: bool
"""


def _indent(text, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else line for line in text.strip("\n").split("\n"))


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  domains:
    description:
      - A list of domains, each taking the same options as the single form.
      - Options given at the top level are defaults for every item; an item's own value wins.
        For an item with O(domains[].xml), structured options of the top level do not apply.
      - Results come back per item in RV(domains).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the domain. Must not contain C(/).
        type: str
        required: true
""" + _indent(_ITEM, 6) + "\n" + _indent(_ITEM, 2) + "\n"
