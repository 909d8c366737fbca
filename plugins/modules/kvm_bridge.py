#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_bridge
short_description: Make a Linux bridge take over a NIC's address, with an automatic rollback
version_added: 0.1.0
description:
  - Makes the NICs in O(ports) ports of the bridge O(name) and moves the address, default route and DNS of the
    first port to the bridge (the tutorial's ifcfg-ens33 / ifcfg-br0 step), both in the persistent configuration
    of O(backend) and live.
  - Before the live change a rollback is armed, a transient systemd timer that restores the previous files and
    addresses after O(rollback_timeout) seconds unless the change is confirmed. The live change runs as one
    transient systemd unit, so a cut SSH connection cannot stop it half-way.
  - After the change the module pings the gateway through the bridge (and the controller's address from
    C(SSH_CONNECTION)); when one does not answer it rolls back at once and fails, naming what it could not reach.
    Otherwise it confirms the change itself, or with O(confirm=false) leaves it armed, to be confirmed by a second
    call with O(confirm_only=true) (the role kvmops.hypervisor.kvm_bridge does this after M(ansible.builtin.wait_for_connection)).
  - O(state=absent) gives the addresses back to the first port and deletes the bridge.
extends_documentation_fragment:
  - kvmops.hypervisor.attributes
options:
  name:
    description: Name of the bridge.
    type: str
    default: br0
  ports:
    description:
      - NICs that become ports of the bridge; the first one's address is taken over. Required with O(state=present),
        unless O(bond) or O(vlan) makes the port; then it lists only other ports.
      - With O(state=absent), the port that gets the address back (by default the bridge's first port; with O(bond) or
        O(vlan), the bond or the VLAN).
    type: list
    elements: str
    default: []
  ipv4:
    description:
      - V(takeover) copies the addresses, prefix, default route and DNS of the first port (or keeps the bridge's,
        once it has them).
      - V(dhcp) moves the current lease live and configures DHCP in the files (the bridge keeps the port's MAC,
        so a DHCP reservation still matches).
      - A dict with C(address) (one or a list, with prefix, such as V(20.0.0.16/24)), C(gateway) and C(dns) (a list)
        sets a static address.
    type: raw
    default: takeover
  ipv6:
    description:
      - As O(ipv4) for IPv6. By default IPv6 addresses are left alone.
    type: raw
  bond:
    description:
      - A bond (Linux bonding driver) made of O(bond.ports) becomes the bridge's port (bond → bridge), or the parent of
        O(vlan) (bond → VLAN → bridge). O(ports) then lists only other ports, usually none.
      - With O(ipv4=takeover) the bridge takes the address of the bond's first port.
      - Removing the bridge (O(state=absent) with the same O(bond)) keeps the bond, which gets the address back.
      - The managed host's kernel needs the bonding driver; without it the module fails before changing anything.
    type: dict
    suboptions:
      name:
        description: Name of the bond device, such as V(bond0). Required.
        type: str
      mode:
        description: The bonding mode (the kernel's names). V(802.3ad) needs LACP on the switch ports.
        type: str
        choices: [balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb]
        default: active-backup
      ports:
        description: The NICs that the bond aggregates (at least one). They must exist and be in no other bridge or bond.
        type: list
        elements: str
      miimon:
        description: Link monitoring interval in milliseconds (V(0) turns it off).
        type: int
        default: 100
      lacp_rate:
        description: How often the link partner sends LACPDUs; O(bond.mode=802.3ad) only.
        type: str
        choices: [slow, fast]
      xmit_hash_policy:
        description: How traffic is spread over the ports; modes V(balance-xor), V(802.3ad), V(balance-tlb), V(balance-alb).
        type: str
        choices: [layer2, layer2+3, layer3+4, encap2+3, encap3+4, vlan+srcmac]
      primary:
        description: The port that carries the traffic while it is up; O(bond.mode=active-backup) only, one of O(bond.ports).
        type: str
  vlan:
    description:
      - An 802.1Q VLAN device becomes the bridge's port (a bridge per VLAN on a trunk).
      - Its parent is a NIC, or the bond of O(bond) (bond → VLAN → bridge; then O(vlan.parent) may be left out).
      - With O(ipv4=takeover) the bridge takes the address of the parent NIC (with a bond, of the bond's first port).
      - Removing the bridge (O(state=absent) with the same O(vlan)) keeps the VLAN, which gets the address back.
      - The managed host's kernel needs the 8021q driver; without it the module fails before changing anything.
    type: dict
    suboptions:
      id:
        description: The VLAN id, 1 to 4094. Required.
        type: int
      parent:
        description: The NIC that carries the VLAN, or the name of O(bond.name). It must be in no bridge.
        type: str
      name:
        description: Name of the VLAN device, at most 15 bytes. By default C(<parent>.<id>), such as V(bond0.100).
        type: str
  stp:
    description: Whether the bridge runs the spanning tree protocol.
    type: bool
    default: false
  forward_delay:
    description: Forward delay of the bridge in seconds (2 to 30). By default the kernel's (15) is kept.
    type: int
  mtu:
    description: MTU of the bridge and its ports. By default left as it is.
    type: int
  mac:
    description: MAC address of the bridge. By default the first port's, so DHCP reservations survive.
    type: str
  backend:
    description:
      - What writes the persistent configuration. V(auto) detects what manages the network now
        (netplan when the C(netplan) command and a netplan configuration exist, then NetworkManager,
        systemd-networkd, ifupdown, network-scripts, in that order).
      - V(netplan) writes /etc/netplan/90-kvmops-<name>.yaml (mode 0600) and takes the port's stanza out of the
        file that configured it (that file keeps its mode, comments and other definitions); the live change is made
        with iproute2, then C(netplan generate) and a reload of the renderer adopt it.
      - V(networkmanager) writes keyfile profiles and lets NetworkManager make the live change (C(nmcli connection up)).
      - V(ifcfg) writes /etc/sysconfig/network-scripts files (EL 7); the live change is made with iproute2.
    type: str
    choices: [auto, netplan, networkmanager, ifcfg, ifupdown, networkd]
    default: auto
  state:
    description: V(present) makes the bridge take over; V(absent) gives the address back to the port and deletes the bridge.
    type: str
    choices: [present, absent]
    default: present
  rollback_timeout:
    description: Seconds after which an unconfirmed change is rolled back (5 to 86400).
    type: int
    default: 60
  confirm:
    description:
      - V(true) confirms the change as soon as the module has reached the gateway and the controller.
      - V(false) leaves the rollback armed; confirm it with O(confirm_only=true) before O(rollback_timeout) ends.
    type: bool
    default: true
  confirm_only:
    description:
      - Only confirm a change of O(name) left armed by O(confirm=false) (stop the timer, remove the boot-time
        restore and the backup); nothing else is read or changed. RV(ignore:changed) says whether a change was waiting.
      - Fails when the change was rolled back (by the timer, at boot, or by the module's own check) instead of
        confirmed, and when a change waits but no rollback timer is armed for it (it is then neither confirmed nor
        discarded; the message says how to roll it back).
    type: bool
    default: false
  change_id:
    description:
      - With O(confirm_only=true), the id of the change to confirm (RV(change_id) of the run that made it). The task
        then also fails when no change with that id was armed on the host, and reports C(changed=false) when it was
        confirmed already.
    type: str
notes:
  - Needs systemd (systemd-run), iproute2 and ping on the managed host.
  - The backup, the restore script and the log of the rollbacks are under /var/lib/kvmops/bridge. While a change
    waits for confirmation, the unit kvmops-bridge-boot-restore-<name>.service rolls it back at the next boot, before
    the network backend brings the interfaces up.
  - One lock per bridge (/run/kvmops/bridge/<name>.lock) is shared by the change, the confirmation and the
    rollback; a second run waits for the first.
  - Interface names follow the kernel's rules (1 to 15 bytes, no C(/), C(:) or white space); quotes and C($) are
    valid and are quoted wherever they reach a shell.
  - With backend V(networkd) the files are /etc/systemd/network/10-kvmops-*; with V(ifupdown),
    /etc/network/interfaces.d/kvmops-* (stanzas of the port elsewhere are commented out; needs bridge-utils);
    with V(networkmanager), /etc/NetworkManager/system-connections/kvmops-*.nmconnection (other profiles of the
    port get C(autoconnect=false)).
  - The V(ifcfg) backend's files are tested against the tutorial's own; its live path has not been run on an EL host.
  - With O(bond) or O(vlan), each backend writes the bond (its ports) and the VLAN beside the bridge; the files are
    checked against golden files derived from each tool's documentation. With V(ifupdown) a bond needs the ifenslave
    package. They have been run live only where the kernel has the bonding and 8021q drivers.
  - The kernel check looks for /sys/class/net/bonding_masters or /sys/module/bonding (bonding), /proc/net/vlan/config
    or /sys/module/8021q (8021q), else asks C(modprobe -n); the error starts with C(kernel:) and names the driver.
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: br0 takes over ens33's address (the tutorial's ifcfg-br0)
  kvmops.hypervisor.kvm_bridge:
    name: br0
    ports: [ens33]

- name: Static address, as in the tutorial
  kvmops.hypervisor.kvm_bridge:
    name: br0
    ports: [ens33]
    ipv4:
      address: 20.0.0.16/24
      gateway: 20.0.0.2
      dns: [20.0.0.2]
    backend: ifcfg

- name: Change, leave it armed, confirm after reconnecting
  kvmops.hypervisor.kvm_bridge:
    ports: [ens33]
    confirm: false
    rollback_timeout: 60

- name: Confirm
  kvmops.hypervisor.kvm_bridge:
    confirm_only: true

- name: Give the address back to the port
  kvmops.hypervisor.kvm_bridge:
    name: br0
    state: absent

- name: An LACP bond of two NICs under br0, which takes eno1's address
  kvmops.hypervisor.kvm_bridge:
    name: br0
    bond:
      name: bond0
      mode: 802.3ad
      ports: [eno1, eno2]
      lacp_rate: fast
      xmit_hash_policy: layer3+4

- name: A bridge for VLAN 20 of the trunk eno2 (a bridge per VLAN)
  kvmops.hypervisor.kvm_bridge:
    name: br20
    vlan:
      id: 20
      parent: eno2
    ipv4:
      address: 192.0.2.20/24

- name: bond -> VLAN -> bridge
  kvmops.hypervisor.kvm_bridge:
    name: br100
    bond:
      name: bond0
      mode: active-backup
      ports: [eno1, eno2]
      primary: eno1
    vlan:
      id: 100
"""

RETURN = r"""
backend:
  description: The backend that wrote (or would write) the files.
  returned: unless O(confirm_only=true)
  type: str
  sample: networkd
actions:
  description: The changes the run made (or in check mode would make), files first, then the live state.
  returned: always
  type: list
  elements: str
  sample: ["write /etc/systemd/network/10-kvmops-br0.netdev", "create bridge br0", "eth0 master: None -> br0"]
files:
  description: Paths written or deleted (or that would be).
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/network/10-kvmops-br0.netdev"]
bridge:
  description: The bridge as the run leaves it (in check mode, as it would).
  returned: unless O(confirm_only=true)
  type: dict
  sample: {name: br0, present: true, ports: [eth0], addresses: [10.88.0.5/16], mac: "62:76:e8:99:7d:29", gateways: [10.88.0.1], stp: false}
pending:
  description: Whether the change is waiting for confirmation (O(confirm=false)).
  returned: always
  type: bool
  sample: false
change_id:
  description: The id of the change the run armed (confirmed at once unless O(confirm=false)).
  returned: when the run changed something, unless in check mode
  type: str
  sample: 3f2a9c0d1b7e4a55
change:
  description: With O(confirm_only=true), the id and the state (V(pending), V(confirmed), V(rolled back), V(none)) of the bridge's last armed change.
  returned: when O(confirm_only=true)
  type: dict
  sample: {id: 3f2a9c0d1b7e4a55, state: confirmed}
rollback:
  description: The armed rollback, when RV(pending) is true.
  returned: when pending
  type: dict
  sample: {unit: kvmops-bridge-rollback-br0.timer, timeout: 60, directory: /var/lib/kvmops/bridge/br0,
           change_id: 3f2a9c0d1b7e4a55, boot_unit: kvmops-bridge-boot-restore-br0.service}
reached:
  description: The addresses the module pinged successfully after the change.
  returned: unless O(confirm_only=true)
  type: list
  elements: str
  sample: [10.88.0.1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import KvmBridge


def main():
    argument_spec = dict(
        name=dict(type="str", default="br0"),
        ports=dict(type="list", elements="str", default=[]),
        ipv4=dict(type="raw", default="takeover"),
        ipv6=dict(type="raw"),
        bond=dict(type="dict", options=dict(
            name=dict(type="str"),
            mode=dict(type="str", default="active-backup",
                      choices=["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]),
            ports=dict(type="list", elements="str"),
            miimon=dict(type="int", default=100),
            lacp_rate=dict(type="str", choices=["slow", "fast"]),
            xmit_hash_policy=dict(type="str", choices=["layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac"]),
            primary=dict(type="str"),
        )),
        vlan=dict(type="dict", options=dict(
            id=dict(type="int"),
            parent=dict(type="str"),
            name=dict(type="str"),
        )),
        stp=dict(type="bool", default=False),
        forward_delay=dict(type="int"),
        mtu=dict(type="int"),
        mac=dict(type="str"),
        backend=dict(type="str", choices=["auto", "netplan", "networkmanager", "ifcfg", "ifupdown", "networkd"], default="auto"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        rollback_timeout=dict(type="int", default=60),
        confirm=dict(type="bool", default=True),
        confirm_only=dict(type="bool", default=False),
        change_id=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run(module, KvmBridge)


if __name__ == "__main__":
    main()
