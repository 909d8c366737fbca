#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_network
short_description: Manage libvirt virtual networks (NAT, routed, bridged, isolated)
version_added: 0.1.0
description:
  - Defines, updates, starts, stops and removes a libvirt virtual network, such as the NAT network the
    tutorial's guests use (libvirt's C(default) network) or a network attached to a host bridge.
  - Only the options given are compared, against the inactive definition libvirt returns, so what libvirt fills
    in itself (UUID, MAC address, a C(virbrN) bridge name, STP settings) never counts as a change and is kept when
    the network is redefined.
  - An existing network whose definition differs is updated in place. When it is running, the change is applied
    as well; a change of only the DHCP range is made live through libvirt's network update API (RV(live_updated)),
    any other change restarts the network (RV(restarted)).
  - Bad input (an invalid address, a DHCP range outside the subnet, a missing host bridge) fails before anything
    is changed, with a message naming the option.
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
options:
  name:
    description:
      - Name of the network. Must not contain C(/).
    type: str
    required: true
  state:
    description:
      - V(present) defines the network; V(absent) stops and undefines it.
    type: str
    choices: [present, absent]
    default: present
  forward:
    description:
      - How guests on the network reach the outside.
      - V(nat) masquerades them behind the host (libvirt's C(default) network); V(route) routes the subnet without
        NAT; V(isolated) connects guests with each other and the host only; V(bridge) attaches guests to the existing
        host bridge named in O(bridge); V(macvtap) puts guests straight on the wire of the host interface named in
        O(dev), each guest with a macvtap device of its own on it (no bridge, no NAT, no address of the host's).
      - When not given, an existing network keeps its mode and a new network gets V(nat).
    type: str
    choices: [nat, route, bridge, isolated, macvtap]
  bridge:
    description:
      - With O(forward=bridge), the existing host bridge (for example C(br0) made by M(kvmops.hypervisor.kvm_bridge));
        required then, and the module fails naming O(bridge) when no such bridge exists.
      - Otherwise the name of the bridge libvirt creates for the network (at most 15 characters, for example
        C(virbr10)); it must not be an existing host interface. When not given, libvirt picks a free C(virbrN).
    type: str
  dev:
    description:
      - With O(forward=macvtap), the host interface the guests' macvtap devices sit on (for example C(eno1));
        required then, and the module fails naming O(dev) when the host has no such interface.
      - Not allowed with another forward mode.
    type: str
  macvtap_mode:
    description:
      - With O(forward=macvtap), how guests on O(dev) reach each other.
      - V(bridge) (the default of a new network) switches traffic between guests on the same O(dev) directly;
        V(vepa) sends all of it to the external switch (which must reflect it, 802.1Qbg); V(private) is V(vepa)
        without guest-to-guest traffic; V(passthrough) gives one guest the whole interface.
      - Guests in V(bridge), V(vepa) and V(private) mode cannot reach the host itself through O(dev); that is how macvtap works.
      - When not given, an existing macvtap network keeps its mode.
    type: str
    choices: [bridge, vepa, private, passthrough]
  ipv4:
    description:
      - The IPv4 address of the host on the network, and the DHCP range it serves.
      - Needed by a V(nat) or V(route) network that has no address yet (libvirt refuses one without); not allowed
        with O(forward=bridge).
      - An existing network keeps a DHCP range of its own when O(ipv4.dhcp_start) and O(ipv4.dhcp_end) are not given;
        when they are, that range replaces every range the network had.
    type: dict
    suboptions:
      address:
        description:
          - The host's address on the network, for example V(192.168.200.1).
        type: str
        required: true
      prefix:
        description:
          - Prefix length of the subnet, 1 to 32.
        type: int
        default: 24
      dhcp_start:
        description:
          - First address of the DHCP range, inside the subnet. Requires O(ipv4.dhcp_end).
        type: str
      dhcp_end:
        description:
          - Last address of the DHCP range, inside the subnet and not before O(ipv4.dhcp_start).
        type: str
  domain:
    description:
      - DNS domain of the network; libvirt's dnsmasq answers for host names of guests in it.
      - Not allowed with O(forward=bridge).
    type: str
  mtu:
    description:
      - MTU of the bridge libvirt creates, 68 to 65535. Not allowed with O(forward=bridge).
    type: int
  autostart:
    description:
      - Whether libvirt starts the network when libvirtd starts.
    type: bool
    default: true
  active:
    description:
      - Whether the network is started.
    type: bool
    default: true
  restart:
    description:
      - Whether a running network whose definition changed (other than its DHCP range) is restarted so that the new
        definition takes effect.
      - Restarting a network detaches the interfaces of running guests from its bridge until they are re-attached
        (or the guests restarted). With V(false) the new definition is saved and RV(restart_required) is returned
        instead.
    type: bool
    default: true
notes:
  - Removing a network does not touch the guests that use it; their interfaces stay defined and fail to start
    while the network is missing.
seealso:
  - module: kvmops.hypervisor.kvm_bridge
  - module: kvmops.hypervisor.kvm_domain
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: NAT network, as libvirt's default network in the tutorial
  kvmops.hypervisor.kvm_network:
    name: default
    forward: nat
    bridge: virbr0
    ipv4:
      address: 192.168.122.1
      prefix: 24
      dhcp_start: 192.168.122.2
      dhcp_end: 192.168.122.254

- name: Shrink the DHCP range of a running network (applied live, no restart)
  kvmops.hypervisor.kvm_network:
    name: default
    ipv4:
      address: 192.168.122.1
      dhcp_start: 192.168.122.100
      dhcp_end: 192.168.122.199

- name: Guests on the host bridge br0 (the tutorial's bridged mode)
  kvmops.hypervisor.kvm_network:
    name: host-bridge
    forward: bridge
    bridge: br0

- name: Isolated lab network with its own DNS domain
  kvmops.hypervisor.kvm_network:
    name: lab
    forward: isolated
    domain: lab.example
    ipv4:
      address: 10.10.0.1
      prefix: 24
      dhcp_start: 10.10.0.10
      dhcp_end: 10.10.0.99

- name: Guests straight on the wire of eno1 (macvtap), switched between each other
  kvmops.hypervisor.kvm_network:
    name: wire
    forward: macvtap
    dev: eno1
    macvtap_mode: bridge

- name: Remove a network
  kvmops.hypervisor.kvm_network:
    name: lab
    state: absent
"""

RETURN = r"""
network:
  description:
    - The network after the run (in check mode, as the run would leave it; values libvirt has not assigned yet are
      null). Empty when O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Network name.
      type: str
      sample: default
    uuid:
      description: Network UUID.
      type: str
      sample: 3e7b5a43-8a1b-4f0c-9a3e-5b4e0c1d2f60
    forward:
      description: Forward mode, V(isolated) when the network has none.
      type: str
      sample: nat
    bridge:
      description: Bridge the network uses; null for a macvtap network.
      type: str
      sample: virbr0
    dev:
      description: The host interface of a macvtap network.
      type: str
      returned: when the network's forward mode is V(macvtap)
      sample: eno1
    macvtap_mode:
      description: The macvtap mode of a macvtap network.
      type: str
      returned: when the network's forward mode is V(macvtap)
      sample: bridge
    ipv4:
      description: IPv4 address, prefix and first DHCP range; null when the network has no IPv4 address.
      type: dict
      sample: {address: 192.168.122.1, prefix: 24, dhcp_start: 192.168.122.2, dhcp_end: 192.168.122.254}
    domain:
      description: DNS domain, or null.
      type: str
      sample: lab.example
    mtu:
      description: MTU of the bridge, or null when libvirt's default.
      type: int
      sample: 1500
    active:
      description: Whether the network is started.
      type: bool
      sample: true
    autostart:
      description: Whether the network starts with libvirtd.
      type: bool
      sample: true
actions:
  description:
    - What the run did (in check mode, would do), in order, for example C(define network), C(enable autostart),
      C(start network); empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [define network, enable autostart, start network]
restarted:
  description: Whether the running network was (or, in check mode, would be) restarted to apply a changed definition.
  returned: always
  type: bool
  sample: false
live_updated:
  description: Whether the DHCP range of the running network was (or would be) changed live, without a restart.
  returned: when O(state=present)
  type: bool
  sample: true
restart_required:
  description: With O(restart=false), whether the running network still uses an older definition than the saved one.
  returned: when O(state=present)
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_backend import NetworkBackend


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        forward=dict(type="str", choices=["nat", "route", "bridge", "isolated", "macvtap"]),
        bridge=dict(type="str"),
        dev=dict(type="str"),
        macvtap_mode=dict(type="str", choices=["bridge", "vepa", "private", "passthrough"]),
        ipv4=dict(
            type="dict",
            options=dict(
                address=dict(type="str", required=True),
                prefix=dict(type="int", default=24),
                dhcp_start=dict(type="str"),
                dhcp_end=dict(type="str"),
            ),
            required_together=[["dhcp_start", "dhcp_end"]],
        ),
        domain=dict(type="str"),
        mtu=dict(type="int"),
        autostart=dict(type="bool", default=True),
        active=dict(type="bool", default=True),
        restart=dict(type="bool", default=True),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[["forward", "bridge", ["bridge"]], ["forward", "macvtap", ["dev"]]],
        supports_check_mode=True,
    )

    run(module, NetworkBackend)


if __name__ == "__main__":
    main()
