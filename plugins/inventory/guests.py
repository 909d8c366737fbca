# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: guests
short_description: libvirt guests as Ansible hosts
version_added: 0.2.0
author:
  - kvmops contributors (@kvmops)
description:
  - Lists the guests (domains) of one or more libvirt hypervisors as Ansible hosts,
    with C(ansible_host) set to an address of the guest found through the QEMU guest
    agent, the DHCP leases of libvirt's networks or the hypervisor's ARP table.
  - Groups the guests per hypervisor, per state and per tag (the tags that
    M(kvmops.hypervisor.kvm_domain) stores in the domain's metadata).
  - Uses a YAML configuration file whose name ends with C(guests.yml) or C(guests.yaml).
  - A guest without an address is listed all the same, without C(ansible_host), with
    C(kvm_no_address) saying why (not running, no guest agent, no lease yet ...).
extends_documentation_fragment:
  - constructed
  - inventory_cache
requirements:
  - libvirt-python on the controller
notes:
  - Host variables are under the prefix C(kvm_); see the RETURN-like list in the examples.
  - Guests on a NAT (or isolated) libvirt network of a remote hypervisor (C(qemu+ssh://))
    cannot be reached directly; the plugin sets C(ansible_ssh_common_args) with a
    C(ProxyJump) through the hypervisor (see O(proxy_jump)).
options:
  plugin:
    description: The name of this plugin; always C(kvmops.hypervisor.guests).
    type: str
    required: true
    choices: [kvmops.hypervisor.guests]
  uris:
    description:
      - libvirt connection URIs, one or many (C(qemu:///system), C(qemu+ssh://root@host/system)).
    type: list
    elements: str
    default: [qemu:///system]
  on_unreachable:
    description:
      - What a URI that does not answer does. V(fail) fails the inventory source;
        V(warn) warns and lists no guest from it (a hypervisor that is not installed yet).
    type: str
    choices: [fail, warn]
    default: fail
  address_source:
    description:
      - Where addresses come from, in order; the first source that gives an address wins.
      - C(agent) asks the QEMU guest agent, C(lease) reads the DHCP leases of libvirt's
        networks, C(arp) reads the hypervisor's ARP table.
    type: list
    elements: str
    choices: [agent, lease, arp]
    default: [agent, lease]
  address_family:
    description: Which address becomes C(ansible_host).
    type: str
    choices: [ipv4, ipv6, any]
    default: ipv4
  states:
    description:
      - List only guests in these states (C(running), C(paused), C(shutoff), ...). Empty lists all.
    type: list
    elements: str
    default: []
  hostname_template:
    description:
      - The inventory host name of a guest, as a Python format string with the fields
        C(name), C(hypervisor), C(uri) and C(uuid), for example C({name}.{hypervisor}).
      - Without it the host name is the domain name, and the same name on two URIs fails.
    type: str
  proxy_jump:
    description:
      - C(auto) sets a C(ProxyJump) through the hypervisor for guests on a NAT or isolated
        network of a remote C(qemu+ssh://) hypervisor; C(always) for every guest of a remote
        hypervisor; C(never) sets none.
    type: str
    choices: [auto, always, never]
    default: auto
  filters:
    description:
      - Include or exclude guests, as in community.docker's inventory plugins. A list of
        dicts with one key, C(include) or C(exclude), whose value is a Jinja2 condition on
        the host's variables; the first that matches decides; a guest no entry matches is included.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
# inventories/example/guests.yml
plugin: kvmops.hypervisor.guests
uris:
  - qemu:///system
  - qemu+ssh://root@kvm2.example.com/system
hostname_template: "{name}.{hypervisor}"
address_source: [agent, lease, arp]
states: [running]
filters:
  - exclude: "'template' in kvm_tags"
keyed_groups:
  - key: kvm_os
    prefix: os
compose:
  ansible_user: "'debian'"

# Host variables of each guest:
#   kvm_name, kvm_uuid, kvm_uri, kvm_hypervisor, kvm_state, kvm_tags (list),
#   kvm_interfaces (list of {mac, type, source, model, name, addresses: [{address, prefix, family, source}]}),
#   kvm_addresses (all addresses, list of str), kvm_address_source (the source that gave ansible_host),
#   kvm_no_address (why there is no ansible_host; absent when there is one)
# Groups: kvm_guests, kvm_hypervisor_<hypervisor>, kvm_state_<state>, kvm_tag_<tag>
"""

import ipaddress
from urllib.parse import urlsplit
from xml.etree import ElementTree

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.kvmops.hypervisor.plugins.module_utils._metadata import parse_tags

try:
    import libvirt
except ImportError:
    libvirt = None

STATE_NAMES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff", 6: "crashed", 7: "pmsuspended",
}
SOURCES = ("agent", "lease", "arp")
# Forward modes of libvirt networks whose guests a remote machine cannot reach directly.
_PRIVATE_FORWARD = ("nat", None)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "kvmops.hypervisor.guests"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("guests.yml", "guests.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        guests = None
        if use_cache:
            try:
                guests = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if guests is None:
            guests = self._read_guests()
        if update_cache:
            self._cache[cache_key] = guests
        self._populate(guests)

    # ---- reading the hypervisors

    def _read_guests(self):
        if libvirt is None:
            raise AnsibleError("kvmops.hypervisor.guests needs libvirt-python on the controller")
        sources = self.get_option("address_source")
        for source in sources:
            if source not in SOURCES:
                raise AnsibleParserError("address_source: {0!r} is not one of {1}".format(source, ", ".join(SOURCES)))
        guests = []
        for uri in self.get_option("uris"):
            try:
                guests.extend(read_hypervisor(uri, sources))
            except Unreachable as err:
                if self.get_option("on_unreachable") != "warn":
                    raise
                self.display.warning("{0} (no guest listed from it)".format(err))
        return guests

    # ---- building the inventory

    def _populate(self, guests):
        template = self.get_option("hostname_template")
        states = self.get_option("states")
        family = self.get_option("address_family")
        proxy_jump = self.get_option("proxy_jump")
        strict = self.get_option("strict")
        filters = self.get_option("filters")
        seen = {}
        self.inventory.add_group("kvm_guests")
        for guest in guests:
            if states and guest["state"] not in states:
                continue
            host = host_name(guest, template)
            if host in seen:
                raise AnsibleParserError(
                    "guest {0!r} is on {1} and on {2}; set hostname_template (for example "
                    "'{{name}}.{{hypervisor}}') to tell them apart".format(host, seen[host], guest["uri"]))
            hostvars = host_vars(guest, family, proxy_jump)
            if not self._included(filters, hostvars, host):
                continue
            seen[host] = guest["uri"]
            self.inventory.add_host(host, group="kvm_guests")
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            for group in ("kvm_hypervisor_" + guest["hypervisor"], "kvm_state_" + guest["state"]):
                self._add_to(group, host)
            for tag in guest["tags"]:
                self._add_to("kvm_tag_" + tag, host)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

    def _add_to(self, group, host):
        group = self.inventory.add_group(self._sanitize_group_name(group))
        self.inventory.add_child(group, host)

    def _included(self, filters, hostvars, host):
        for index, entry in enumerate(filters or []):
            if not isinstance(entry, dict) or len(entry) != 1 or list(entry)[0] not in ("include", "exclude"):
                raise AnsibleParserError("filters[{0}]: must be a dict with one key, include or exclude".format(index))
            (kind, condition), = entry.items()
            try:
                matched = condition if isinstance(condition, bool) else self._compose(condition, hostvars)
            except Exception as err:
                raise AnsibleParserError("filters[{0}] ({1}): {2}".format(index, host, err))
            if _true(matched):
                return kind == "include"
        return True


def _true(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    return bool(value)


def hypervisor_name(uri):
    """The host part of a libvirt URI, or 'localhost' for a local one."""
    return urlsplit(uri).hostname or "localhost"


def host_name(guest, template):
    if not template:
        return guest["name"]
    try:
        return template.format(name=guest["name"], hypervisor=guest["hypervisor"], uri=guest["uri"], uuid=guest["uuid"])
    except (KeyError, IndexError, ValueError) as err:
        raise AnsibleParserError("hostname_template {0!r}: {1}".format(template, err))


def ssh_target(uri):
    """user@host:port of a qemu+ssh:// URI, or None for any other transport."""
    parts = urlsplit(uri)
    if "+ssh" not in parts.scheme or not parts.hostname:
        return None
    target = parts.hostname
    if parts.username:
        target = "{0}@{1}".format(parts.username, target)
    if parts.port:
        target = "{0}:{1}".format(target, parts.port)
    return target


def host_vars(guest, family, proxy_jump):
    """The host variables of a guest record (what read_hypervisor returns)."""
    hostvars = {
        "kvm_name": guest["name"],
        "kvm_uuid": guest["uuid"],
        "kvm_uri": guest["uri"],
        "kvm_hypervisor": guest["hypervisor"],
        "kvm_state": guest["state"],
        "kvm_tags": list(guest["tags"]),
        "kvm_interfaces": guest["interfaces"],
        "kvm_addresses": [item["address"] for iface in guest["interfaces"] for item in iface["addresses"]],
    }
    chosen = choose_address(guest, family)
    if chosen is None:
        hostvars["kvm_no_address"] = guest.get("why") or "no {0} address".format(family)
        return hostvars
    iface, address = chosen
    hostvars["ansible_host"] = address["address"]
    hostvars["kvm_address_source"] = address["source"]
    target = ssh_target(guest["uri"])
    if target and (proxy_jump == "always" or (proxy_jump == "auto" and iface.get("private"))):
        hostvars["ansible_ssh_common_args"] = "-o ProxyJump={0}".format(target)
    return hostvars


def choose_address(guest, family):
    """(interface, address) for ansible_host: the first source in the asked order with a usable address."""
    for source in guest["sources"]:
        for iface in guest["interfaces"]:
            for address in iface["addresses"]:
                if address["source"] != source:
                    continue
                if family != "any" and address["family"] != family:
                    continue
                return iface, address
    return None


def _usable(address):
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


class Unreachable(AnsibleError):
    """A URI that does not answer."""


def read_hypervisor(uri, sources):
    """Guest records (plain dicts, cacheable) of every domain on `uri`."""
    try:
        conn = libvirt.openReadOnly(uri) if "agent" not in sources else libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise Unreachable("uris: cannot connect to {0}: {1}".format(uri, " ".join(str(err.get_error_message()).split())))
    try:
        networks = {}
        guests = []
        for dom in conn.listAllDomains(0):
            guests.append(read_guest(conn, dom, uri, sources, networks))
        return sorted(guests, key=lambda guest: guest["name"])
    finally:
        conn.close()


def _network_forward(conn, name, cache):
    if name not in cache:
        try:
            root = ElementTree.fromstring(conn.networkLookupByName(name).XMLDesc(0))
            forward = root.find("forward")
            cache[name] = forward.get("mode", "nat") if forward is not None else None
        except libvirt.libvirtError:
            cache[name] = "unknown"
    return cache[name]


def read_guest(conn, dom, uri, sources, networks):
    state = STATE_NAMES.get(dom.state()[0], "unknown")
    xml = dom.XMLDesc(0)
    root = ElementTree.fromstring(xml)
    interfaces = []
    for node in root.findall("./devices/interface"):
        mac = node.find("mac")
        source = node.find("source")
        target = node.find("target")
        model = node.find("model")
        kind = node.get("type")
        source_name = None
        if source is not None:
            source_name = source.get("network") or source.get("bridge") or source.get("dev")
        private = False
        if kind == "network" and source_name:
            private = _network_forward(conn, source_name, networks) in _PRIVATE_FORWARD
        elif kind == "user":
            private = True
        interfaces.append({
            "mac": (mac.get("address") if mac is not None else "").lower(),
            "type": kind,
            "source": source_name,
            "model": model.get("type") if model is not None else None,
            "target": target.get("dev") if target is not None else None,
            "name": None,
            "private": private,
            "addresses": [],
        })
    guest = {
        "name": dom.name(),
        "uuid": dom.UUIDString(),
        "uri": uri,
        "hypervisor": hypervisor_name(uri),
        "state": state,
        "tags": parse_tags(xml),
        "interfaces": interfaces,
        "sources": list(sources),
    }
    if state != "running":
        guest["why"] = "the guest is {0}".format(state)
        return guest
    if not interfaces:
        guest["why"] = "the guest has no network interface"
        return guest
    errors = []
    by_mac = dict((iface["mac"], iface) for iface in interfaces)
    for source in sources:
        flag = {
            "agent": libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
            "lease": libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            "arp": libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
        }[source]
        try:
            found = dom.interfaceAddresses(flag, 0) or {}
        except libvirt.libvirtError as err:
            errors.append("{0}: {1}".format(source, " ".join(str(err.get_error_message()).split())))
            continue
        count = 0
        for name, info in sorted(found.items()):
            iface = by_mac.get((info.get("hwaddr") or "").lower())
            if iface is None:
                continue
            if source == "agent":
                iface["name"] = name
            for item in info.get("addrs") or []:
                address = item.get("addr")
                if not address or not _usable(address):
                    continue
                family = "ipv6" if item.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV6 else "ipv4"
                iface["addresses"].append({"address": address, "prefix": item.get("prefix"),
                                           "family": family, "source": source})
                count += 1
        if not count:
            errors.append("{0}: no address".format(source))
    if not any(iface["addresses"] for iface in interfaces):
        guest["why"] = "no address from " + "; ".join(errors)
    return guest
