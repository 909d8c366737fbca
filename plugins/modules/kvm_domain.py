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
author:
  - kvmops contributors (@kvmops)
options:
  name:
    description:
      - Name of the domain. Must not be blank, V(.) or V(..), and must not contain C(/) or control characters
        (libvirt names files after domains).
      - Required unless O(domains) is given; mutually exclusive with O(domains).
    type: str
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
        description: Name of the domain.
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, running, shutdown, destroyed, paused, absent]
      vcpus:
        description: As O(vcpus).
        type: int
      memory:
        description: As O(memory).
        type: str
      virt_type:
        description: As O(virt_type).
        type: str
        choices: [kvm, qemu]
      machine:
        description: As O(machine).
        type: str
      cpu_mode:
        description: As O(cpu_mode).
        type: str
        choices: [host-passthrough, host-model, maximum, custom]
      firmware:
        description: As O(firmware).
        type: str
        choices: [bios, efi]
      secure_boot:
        description: As O(secure_boot).
        type: bool
      tpm:
        description: As O(tpm).
        type: bool
      disks:
        description: As O(disks).
        type: list
        elements: dict
        suboptions:
          pool:
            description: As O(disks[].pool).
            type: str
          volume:
            description: As O(disks[].volume).
            type: str
          path:
            description: As O(disks[].path).
            type: str
          bus:
            description: As O(disks[].bus).
            type: str
            choices: [virtio, sata, scsi, ide, usb]
          device:
            description: As O(disks[].device).
            type: str
            choices: [disk, cdrom]
          format:
            description: As O(disks[].format).
            type: str
          target:
            description: As O(disks[].target).
            type: str
      cdrom:
        description: As O(cdrom).
        type: raw
      boot:
        description: As O(boot).
        type: list
        elements: str
        choices: [hd, cdrom, network, fd]
      interfaces:
        description: As O(interfaces).
        type: list
        elements: dict
        suboptions:
          type:
            description: As O(interfaces[].type).
            type: str
            choices: [network, bridge, direct]
          network:
            description: As O(interfaces[].network).
            type: str
          bridge:
            description: As O(interfaces[].bridge).
            type: str
          dev:
            description: As O(interfaces[].dev).
            type: str
          mode:
            description: As O(interfaces[].mode).
            type: str
            choices: [bridge, vepa, private, passthrough]
          portgroup:
            description: As O(interfaces[].portgroup).
            type: str
          model:
            description: As O(interfaces[].model).
            type: str
          mac:
            description: As O(interfaces[].mac).
            type: str
          mtu:
            description: As O(interfaces[].mtu).
            type: int
      graphics:
        description: As O(graphics).
        type: str
        choices: [vnc, spice, none]
      graphics_password:
        description: As O(graphics_password).
        type: str
      graphics_listen:
        description: As O(graphics_listen).
        type: str
      autostart:
        description: As O(autostart).
        type: bool
      xml:
        description: As O(xml). Mutually exclusive with the structured options of the same item.
        type: str
      shutdown_timeout:
        description: As O(shutdown_timeout).
        type: int
      force:
        description: As O(force).
        type: bool
      remove_storage:
        description: As O(remove_storage).
        type: bool
      remove_nvram:
        description: As O(remove_nvram).
        type: bool
      remove_tpm:
        description: As O(remove_tpm).
        type: bool
      tags:
        description: As O(tags).
        type: list
        elements: str
      guest_agent:
        description: As O(guest_agent).
        type: bool
      address_source:
        description: As O(address_source).
        type: list
        elements: str
        choices: [agent, lease, arp]
      wait_for:
        description: As O(wait_for).
        type: str
        choices: [ip, agent]
      wait_timeout:
        description: As O(wait_timeout).
        type: int
      clone_from:
        description: As O(clone_from).
        type: dict
        suboptions:
          domain:
            description: As O(clone_from.domain).
            type: str
          pool:
            description: As O(clone_from.pool).
            type: str
          volume:
            description: As O(clone_from.volume).
            type: str
      linked:
        description: As O(linked).
        type: bool
      cloud_init:
        description: As O(cloud_init).
        type: dict
        suboptions:
          user_data:
            description: As O(cloud_init.user_data).
            type: raw
          meta_data:
            description: As O(cloud_init.meta_data).
            type: dict
          network_config:
            description: As O(cloud_init.network_config).
            type: dict
          pool:
            description: As O(cloud_init.pool).
            type: str
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
      - At most the limit libvirt reports for the machine type (for example 255 for C(pc-i440fx)); checked before anything
        is changed.
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
      - A new machine type must be one libvirt offers for the guest's architecture and O(virt_type); checked before
        anything is changed.
    type: str
  cpu_mode:
    description:
      - CPU mode of the C(<cpu>) element.
    type: str
    choices: [host-passthrough, host-model, maximum, custom]
  firmware:
    description:
      - Firmware, selected automatically by libvirt (C(<os firmware=...>)) from the firmware descriptors QEMU's
        firmware packages install.
      - V(efi) needs UEFI firmware on the host (package C(ovmf) on Debian and Ubuntu, C(edk2-ovmf) on EL and Fedora);
        a host without it fails before anything is changed, naming the package. The NVRAM (UEFI variables) lives
        in a file of its own, kept across updates and O(state=absent) unless O(remove_nvram).
    type: str
    choices: [bios, efi]
  secure_boot:
    description:
      - With O(firmware=efi), a firmware with Secure Boot enabled and Microsoft's keys enrolled
        (V(true), libvirt's firmware features C(secure-boot) and C(enrolled-keys)), or one without Secure Boot (V(false)).
      - Needs O(firmware=efi) and a q35 machine (O(machine=q35), or an existing domain on q35); SMM is turned on with it.
      - A new domain with O(firmware=efi) and without this option gets V(false) (Debian's firmware descriptors
        offer a Secure Boot firmware first; it is never chosen by accident); so does an existing BIOS domain given
        O(firmware=efi). An existing UEFI domain is compared only when it is given.
      - Changing it on an existing domain changes the firmware and its variables template, so the NVRAM is reset (made
        again from the new template at the next start). The old NVRAM file is kept beside it, renamed to
        C(<file>.<timestamp>.bak), and the run warns. Only a shut-off domain is changed; with a running one the task
        fails before anything is changed (shut it off first).
    type: bool
  tpm:
    description:
      - V(true) gives the domain an emulated TPM 2.0 (C(swtpm), CRB interface), as Windows 11 and measured boot need;
        the host needs the packages C(swtpm) and C(swtpm-tools) (checked before anything is changed).
      - V(false) removes the TPM device from the definition. Its state (C(/var/lib/libvirt/swtpm/<uuid>)) is kept, as
        it is across updates and O(state=absent), unless O(remove_tpm).
      - Compared only when given; a change of a running domain needs a restart (RV(restart_required)).
    type: bool
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
        description:
          - Target device name, for example V(vda). Assigned in order per bus (vda, vdb, sda...) when not given.
          - C(vd), C(sd), C(hd), C(xvd) or C(ubd) followed by 1 to 6 letters, as libvirt parses it.
        type: str
  cdrom:
    description:
      - Shortcut for one CD-ROM drive holding an ISO image, added after O(disks).
      - Either an absolute path on the host, or a dict with C(pool) and C(volume) (and optionally C(bus), C(target)),
        all strings.
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
      - Each item is exactly one of O(interfaces[].network), O(interfaces[].bridge) or O(interfaces[].dev)
        (O(interfaces[].type=direct)).
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - Interface type. Follows from which of O(interfaces[].network), O(interfaces[].bridge) or
            O(interfaces[].dev) is given; when given it must agree with it.
          - V(direct) attaches the guest straight to a host interface with macvtap (libvirt's
            C(<interface type='direct'>)); it needs O(interfaces[].dev).
        type: str
        choices: [network, bridge, direct]
      network:
        description: libvirt network to attach to; must exist.
        type: str
      bridge:
        description:
          - Host bridge to attach to; must exist on the host.
          - An interface name as the kernel takes it (1 to 15 bytes, no C(/), C(:) or white space, not V(.) or V(..)).
        type: str
      dev:
        description:
          - With O(interfaces[].type=direct), the host interface the guest's macvtap device is put on (its parent);
            must exist on the host. An interface name as for O(interfaces[].bridge).
          - The host itself cannot reach the guest through its own parent interface (a macvtap property); other
            hosts on the wire, and other guests in mode V(bridge), can.
        type: str
      mode:
        description:
          - macvtap mode of a O(interfaces[].type=direct) interface. When not given, libvirt's default (V(vepa)) applies
            to a new interface and an existing one is left alone.
        type: str
        choices: [bridge, vepa, private, passthrough]
      portgroup:
        description:
          - Port group of the libvirt network O(interfaces[].network); the network must have it.
        type: str
      mtu:
        description:
          - MTU of the guest's interface (libvirt's C(<mtu size>)), 68 to 65535. Left alone when not given.
          - libvirt 9 refuses it on a O(interfaces[].type=direct) interface ("not supported yet"); the task then fails
            naming this option. A macvtap device takes its parent's MTU.
        type: int
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
        Needs O(graphics=vnc) or O(graphics=spice). A VNC password has at most 8 characters.
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
      - Mutually exclusive with the structured options (O(vcpus), O(memory), O(disks), ...).
      - Its C(<name>) must equal O(name).
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
        With O(clone_from), clone a running source (crash-consistent). Defaults to V(false).
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
  remove_tpm:
    description:
      - With O(state=absent), also delete the state of the domain's emulated TPM (C(/var/lib/libvirt/swtpm/<uuid>)).
        Without it the state is kept (libvirt would delete it). Defaults to V(false).
      - Only the state of a TPM in the definition is deleted; after O(tpm=false) the old state stays.
    type: bool
  tags:
    description:
      - Tags of the guest, a list of strings, stored in the domain's libvirt C(<metadata>) under the collection's own
        XML namespace C(https://kvmops.github.io/xmlns/hypervisor/guest/1.0) (element C(kvmops:guest/tags/tag)), where the
        P(kvmops.hypervisor.guests#inventory) inventory plugin groups by them.
      - Changed live on a running guest (no restart). V([]) removes them; left alone when not given.
    type: list
    elements: str
  guest_agent:
    description:
      - The virtio-serial channel C(org.qemu.guest_agent.0) that qemu-guest-agent in the guest talks on.
      - A new domain defined from structured options gets it unless V(false); an existing domain is changed only when
        this is given (a definition change, so RV(restart_required) when it runs).
    type: bool
  address_source:
    description:
      - Where the C(addresses) of a running guest's RV(domain.interfaces) come from, asked in this order; per interface, the
        first source that knows an address wins. V(agent) is qemu-guest-agent in the guest, V(lease) the DHCP leases
        of libvirt's networks (interfaces on a libvirt network only), V(arp) the host's ARP table.
      - Defaults to V([agent, lease]).
    type: list
    elements: str
    choices: [agent, lease, arp]
  wait_for:
    description:
      - After the run, wait until the guest has an IP address (V(ip), from O(address_source)) or its guest agent
        answers (V(agent)), polling once a second for up to O(wait_timeout) seconds. Needs O(state=running).
      - With O(domains), every guest is waited for together after all of them were started, against one deadline.
      - Skipped in check mode. A timeout fails the task naming the guest and what it last saw.
    type: str
    choices: [ip, agent]
  wait_timeout:
    description:
      - Seconds O(wait_for) waits. With O(domains), the longest given applies to all. Defaults to V(300).
    type: int
  clone_from:
    description:
      - Define a new domain as a clone, of another domain (O(clone_from.domain)) or of one volume
        (O(clone_from.pool) and O(clone_from.volume)). Only used to create the domain; an existing domain must be a clone
        of the same source (recorded in its C(<metadata>)), else the task fails naming O(clone_from) and changes
        nothing; its disks are never cloned again, so a re-run is idempotent by name.
      - From a domain, the options given are written over the source's definition. Each disk of the source (a volume of
        a storage pool) is cloned into the same pool as C(<name>-<target>.qcow2) (C(.img) for a full copy of a raw
        disk). The source must be shut off, unless O(force=true) (a crash-consistent copy of a running guest).
      - From a volume, the domain is defined from the options given (O(memory) is required), with the cloned volume
        C(<name>-vda.qcow2) (in the same pool) as its first disk, before the disks of O(disks).
      - The clone gets a new UUID and new MAC addresses, and neither the source's SMBIOS identity, NVRAM, tags nor
        cloud-init seed. With O(cloud_init) it gets its own seed C(<name>-cidata.iso), whose C(instance-id) (default
        the clone's name) differs from the source's, so cloud-init runs as on a new instance (host name, new SSH host
        keys); the seed of a clone also carries cloud-init vendor-data that replaces the copied C(/etc/machine-id)
        once per instance (C(systemd-machine-id-setup)). Your O(cloud_init.user_data) may turn it off by setting
        cloud-init's C(vendor_data.enabled) to V(false).
      - Without O(cloud_init) the clone has no seed, so cloud-init in it finds no data source and does nothing, so the
        clone keeps the source's host name, SSH host keys and machine-id, as any copy of a disk does. Give a clone of
        a cloud guest its own O(cloud_init).
    type: dict
    suboptions:
      domain:
        description: The domain to clone. Not with O(clone_from.pool) and O(clone_from.volume).
        type: str
      pool:
        description: The storage pool of the volume to clone; the clone's volume is made in it too.
        type: str
      volume:
        description: The volume to clone as the first disk (qcow2 or raw), for example a cloud image.
        type: str
  linked:
    description:
      - With O(clone_from), V(true) makes each disk a qcow2 overlay backed by the source's volume (created at once,
        whatever the size; the source's volume must then stay, and must not change while the clone uses it, so do not
        start the source domain while a linked clone of it exists), V(false) a full copy (the time and space of the
        data). Defaults to V(true).
    type: bool
  cloud_init:
    description:
      - A cloud-init NoCloud seed for the guest, built by the module (with the Python library C(pycdlib), which the
        managed host then needs) and stored as the volume C(<name>-cidata.iso) in O(cloud_init.pool), attached
        read-only as a CD-ROM on a bus stock cloud kernels see (IDE on the C(pc) machine, SATA on C(q35)).
      - The seed is compared by the files inside it and rebuilt only when they change; the guest reads it at its
        next boot, so a running guest then gets RV(restart_required=true).
      - The seed is not part of O(disks); it is removed with the domain only with O(remove_storage=true).
    type: dict
    suboptions:
      user_data:
        description:
          - User data, a dict (written as C(#cloud-config)) or a string (for example a shell script).
          - Secrets in it (passwords, C(chpasswd), private keys) are masked in every output; the rest of it is
            never shown in C(--diff), which only says that it changed.
        type: raw
      meta_data:
        description:
          - Meta data; C(instance-id) and C(local-hostname) default to the domain's name (made a valid host name).
        type: dict
      network_config:
        description:
          - Network configuration, version 1 or 2, as cloud-init takes it.
        type: dict
      pool:
        description:
          - Storage pool of the seed volume. Defaults to the pool of the domain's first disk.
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

- name: A UEFI guest with Secure Boot and a TPM 2.0 (what Windows 11 asks for)
  kvmops.hypervisor.kvm_domain:
    name: win11
    machine: q35
    firmware: efi
    secure_boot: true
    tpm: true
    memory: 4G
    vcpus: 2
    disks:
      - pool: store
        volume: win11.qcow2

- name: A linked clone of the shut-off guest web1, a new cloud-init instance with its own host name
  kvmops.hypervisor.kvm_domain:
    name: web2
    clone_from:
      domain: web1
    linked: true
    state: running
    cloud_init:
      user_data:
        hostname: web2
        ssh_authorized_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
    wait_for: ip

- name: Guests cloned from a cloud image volume (full copies), each with its own seed
  kvmops.hypervisor.kvm_domain:
    memory: 1G
    interfaces: [{network: default}]
    linked: false
    state: running
    domains:
      - name: db1
        clone_from: {pool: store, volume: debian-12-genericcloud-amd64.qcow2}
        cloud_init: {user_data: {hostname: db1}}
      - name: db2
        clone_from: {pool: store, volume: debian-12-genericcloud-amd64.qcow2}
        cloud_init: {user_data: {hostname: db2}}

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
      description:
        - Interfaces with type, network, bridge, dev, mode, portgroup, model, mac and mtu;
        - C(addresses), the IP addresses of a running guest's interface (IPv4 first; loopback and link-local left out;
          empty when no source knows one), and C(address_source), the source they came from (null when none).
      type: list
      elements: dict
      returned: always
    graphics: {description: Graphics types., type: list, elements: str, returned: always}
    tags: {description: The guest's tags (O(tags))., type: list, elements: str, returned: always}
    guest_agent: {description: Whether the definition has the guest agent channel., type: bool, returned: always}
    firmware: {description: "V(efi) or V(bios).", type: str, returned: always}
    secure_boot:
      description: Whether the UEFI firmware asked for has Secure Boot (false for BIOS); null for a UEFI definition that leaves it to libvirt.
      type: bool
      returned: always
    tpm: {description: Whether the definition has an emulated TPM 2.0., type: bool, returned: always}
  sample:
    name: web1
    uuid: 634305cb-7596-4954-96af-d6a29af0f89b
    state: running
    autostart: true
    vcpus: 2
    memory_mib: 2048
    interfaces: [{type: network, network: default, bridge: null, dev: null, mode: null, portgroup: null, model: virtio,
                  mac: "52:54:00:9c:7f:33", mtu: null, addresses: [192.168.122.45], address_source: agent}]
    tags: [web]
    guest_agent: true
restart_required:
  description:
    - True when the persistent definition of an active domain changed; the running domain keeps its old
      configuration until it is restarted. With O(domains), true when it is true for any item.
  returned: success
  type: bool
actions:
  description:
    - What the run did (would do in check mode), in order, for example V(define), V(update definition (restart required)),
      V(autostart on), V(start), V(shut down), V(undefine), V(delete /path/disk.qcow2).
    - "With O(domains), each prefixed with the domain's name (V(web1: start))."
  returned: always
  type: list
  elements: str
domains:
  description:
    - One result per O(domains) item, in order.
    - "When an item fails at run time (libvirt refuses it), the task fails naming the item
      (C(domains[7] (web8): ...)), and this list still holds every item before it, as applied, then the failed
      item with C(failed), C(msg) and the C(actions) it completed."
  returned: with O(domains)
  type: list
  elements: dict
  contains:
    name: {description: Domain name., type: str, returned: always}
    changed: {description: Whether this domain changed (would change in check mode)., type: bool, returned: always}
    actions: {description: As RV(actions) for this domain (without the name)., type: list, elements: str, returned: always}
    domain: {description: As RV(domain)., type: dict, returned: success}
    restart_required: {description: As RV(restart_required)., type: bool, returned: success}
    diff:
      description: Before and after of what differs for this domain (C(before_header), C(after_header), C(before), C(after)).
      type: dict
      returned: changed and in diff mode
    failed: {description: True for the item that failed., type: bool, returned: failure of this item}
    msg: {description: Why this item failed., type: str, returned: failure of this item}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain import DomainBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_secrets import secret_values
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
    type=dict(type="str", choices=["network", "bridge", "direct"]),
    network=dict(type="str"),
    bridge=dict(type="str"),
    dev=dict(type="str"),
    mode=dict(type="str", choices=["bridge", "vepa", "private", "passthrough"]),
    portgroup=dict(type="str"),
    model=dict(type="str"),
    mac=dict(type="str"),
    mtu=dict(type="int"),
)
_STRUCTURED = ("vcpus", "memory", "virt_type", "machine", "cpu_mode", "firmware", "secure_boot", "tpm",
               "disks", "cdrom", "boot", "interfaces", "graphics", "graphics_password", "graphics_listen")
_DOMAIN = dict(
    state=dict(type="str", choices=["present", "running", "shutdown", "destroyed", "paused", "absent"]),
    vcpus=dict(type="int"),
    memory=dict(type="str"),
    virt_type=dict(type="str", choices=["kvm", "qemu"]),
    machine=dict(type="str"),
    cpu_mode=dict(type="str", choices=["host-passthrough", "host-model", "maximum", "custom"]),
    firmware=dict(type="str", choices=["bios", "efi"]),
    secure_boot=dict(type="bool"),
    tpm=dict(type="bool"),
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
    remove_tpm=dict(type="bool"),
    tags=dict(type="list", elements="str"),
    guest_agent=dict(type="bool"),
    address_source=dict(type="list", elements="str", choices=["agent", "lease", "arp"]),
    wait_for=dict(type="str", choices=["ip", "agent"]),
    wait_timeout=dict(type="int"),
    clone_from=dict(type="dict", options=dict(domain=dict(type="str"), pool=dict(type="str"), volume=dict(type="str"))),
    linked=dict(type="bool"),
    cloud_init=dict(type="dict", options=dict(
        user_data=dict(type="raw"),
        meta_data=dict(type="dict"),
        network_config=dict(type="dict"),
        pool=dict(type="str"),
    )),
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
    run(module, DomainBackend)


if __name__ == "__main__":
    main()
