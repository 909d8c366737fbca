# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_network behind main(): the validated input (NetworkSpec), the libvirt
network XML it stands for, a plan computed by subset comparison against the
inactive XML, and the apply step that check mode skips.

Pure parts (NetworkSpec, desired_xml, build_definition, plan_definition,
summary) need lxml only; NetworkManager talks to libvirt through a
Connection from _libvirt.py.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import struct

from ansible_collections.kvmops.hypervisor.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import (
    KvmError,
    LibvirtError,
    NotFoundError,
    ValidationError,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import is_local
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, subset_differences, to_string

FORWARD_MODES = ("nat", "route", "bridge", "isolated")
DEFAULT_FORWARD = "nat"
# Elements libvirt refuses in a network with <forward mode='bridge'/>.
_NOT_IN_BRIDGE_MODE = ("ip", "dns", "domain", "mac", "mtu", "route")
# Attributes of <bridge> libvirt refuses in bridge mode.
_BRIDGE_ATTRS_NOT_IN_BRIDGE_MODE = ("stp", "delay", "zone", "macTableManager")

# \Z, not $: "$" also matches before a final newline ("br0\n" passed).
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}\Z")
_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _ipv4(field, value):
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise ValidationError(field, "{0!r} is not an IPv4 address (e.g. 192.168.200.1)".format(value))


class Ipv4Spec:
    """The network's IPv4 address on its bridge, its prefix and one DHCP range."""

    def __init__(self, address, prefix=24, dhcp_start=None, dhcp_end=None):
        self.address = address
        self.prefix = prefix
        self.dhcp_start = dhcp_start
        self.dhcp_end = dhcp_end

    @classmethod
    def from_params(cls, params):
        if not isinstance(params, dict):
            raise ValidationError("ipv4", "must be a dictionary with address, prefix, dhcp_start, dhcp_end")
        unknown = sorted(set(params) - set(("address", "prefix", "dhcp_start", "dhcp_end")))
        if unknown:
            raise ValidationError("ipv4.{0}".format(unknown[0]), "unknown option; accepted: address, prefix, dhcp_start, dhcp_end")
        if params.get("address") in (None, ""):
            raise ValidationError("ipv4.address", "is required when ipv4 is given")
        prefix = params.get("prefix")
        spec = cls(params["address"], 24 if prefix is None else prefix, params.get("dhcp_start"), params.get("dhcp_end"))
        spec.validate()
        return spec

    def validate(self):
        address = _ipv4("ipv4.address", self.address)
        prefix = self.prefix
        if isinstance(prefix, str) and prefix.strip().isdigit():
            prefix = int(prefix)
        if isinstance(prefix, bool) or not isinstance(prefix, int) or not 1 <= prefix <= 32:
            raise ValidationError("ipv4.prefix", "{0!r} is not a prefix length; expected an integer from 1 to 32".format(self.prefix))
        self.prefix = prefix
        self.address = str(address)
        subnet = self.subnet
        if prefix <= 30 and address in (subnet.network_address, subnet.broadcast_address):
            raise ValidationError("ipv4.address", "{0} is the network or broadcast address of {1}; use a host address such as {2}".format(
                address, subnet, subnet.network_address + 1))
        if (self.dhcp_start is None) != (self.dhcp_end is None):
            missing = "ipv4.dhcp_end" if self.dhcp_end is None else "ipv4.dhcp_start"
            raise ValidationError(missing, "dhcp_start and dhcp_end must be given together")
        if self.dhcp_start is None:
            return
        start = _ipv4("ipv4.dhcp_start", self.dhcp_start)
        end = _ipv4("ipv4.dhcp_end", self.dhcp_end)
        for field, value in (("ipv4.dhcp_start", start), ("ipv4.dhcp_end", end)):
            if value not in subnet:
                raise ValidationError(field, "{0} is outside the subnet {1} of ipv4.address/ipv4.prefix".format(value, subnet))
            if prefix <= 30 and value in (subnet.network_address, subnet.broadcast_address):
                raise ValidationError(field, "{0} is the network or broadcast address of {1}".format(value, subnet))
        if int(end) < int(start):
            raise ValidationError("ipv4.dhcp_end", "{0} is before ipv4.dhcp_start {1}".format(end, start))
        self.dhcp_start, self.dhcp_end = str(start), str(end)

    @property
    def subnet(self):
        return ipaddress.IPv4Network("{0}/{1}".format(self.address, self.prefix), strict=False)

    @property
    def has_dhcp(self):
        return self.dhcp_start is not None


class NetworkSpec:
    """What the user asked for, validated.  None means "not specified": such a
    field is neither compared nor changed on an existing network."""

    def __init__(self, name, state="present", forward=None, bridge=None, ipv4=None, domain=None, mtu=None,
                 autostart=True, active=True, restart=True):
        self.name = name
        self.state = state
        self.forward = forward
        self.bridge = bridge
        self.ipv4 = ipv4
        self.domain = domain
        self.mtu = mtu
        self.autostart = autostart
        self.active = active
        self.restart = restart

    @classmethod
    def from_params(cls, params):
        ipv4 = params.get("ipv4")
        spec = cls(
            name=params.get("name"),
            state=params.get("state") or "present",
            forward=params.get("forward"),
            bridge=params.get("bridge"),
            ipv4=Ipv4Spec.from_params(ipv4) if ipv4 is not None else None,
            domain=params.get("domain"),
            mtu=params.get("mtu"),
            autostart=params.get("autostart", True),
            active=params.get("active", True),
            restart=params.get("restart", True),
        )
        spec.validate()
        return spec

    def validate(self):
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name", "must be a non-empty string")
        if "/" in name or name != name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name) or name in (".", ".."):
            raise ValidationError("name", "{0!r} is not a valid network name (not . or .., no '/', no control characters, "
                                  "no surrounding blanks)".format(name))
        if self.state not in ("present", "absent"):
            raise ValidationError("state", "{0!r} is not one of present, absent".format(self.state))
        if self.state == "absent":
            return
        if self.forward is not None and self.forward not in FORWARD_MODES:
            raise ValidationError("forward", "{0!r} is not one of {1}".format(self.forward, ", ".join(FORWARD_MODES)))
        if self.bridge is not None:
            if not _IFNAME.match(self.bridge) or self.bridge in (".", ".."):
                raise ValidationError("bridge", "{0!r} is not a valid interface name (1 to 15 characters: letters, digits, '_', '.', ':', '-')".format(
                    self.bridge))
        if self.mtu is not None:
            if isinstance(self.mtu, bool) or not isinstance(self.mtu, int) or not 68 <= self.mtu <= 65535:
                raise ValidationError("mtu", "{0!r} is not an MTU; expected an integer from 68 to 65535".format(self.mtu))
        if self.domain is not None:
            labels = self.domain.rstrip(".").split(".") if isinstance(self.domain, str) else [""]
            if len(self.domain) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
                raise ValidationError("domain", "{0!r} is not a DNS domain name (e.g. lab.example)".format(self.domain))
        if self.ipv4 is not None:
            self.ipv4.validate()
        for field in ("autostart", "active", "restart"):
            if not isinstance(getattr(self, field), bool):
                raise ValidationError(field, "must be a boolean")
        if self.forward is not None:
            self.check_forward(self.forward)

    def check_forward(self, mode):
        """Options that only make sense with some forward modes.  Also called
        with the mode of the existing network when `forward` is not given."""
        if mode == "bridge":
            if self.bridge is None and self.forward == "bridge":
                raise ValidationError("bridge", "is required with forward: bridge (the name of an existing host bridge, e.g. br0)")
            for field in ("ipv4", "domain", "mtu"):
                if getattr(self, field) is not None:
                    raise ValidationError(field, "is not supported with forward: bridge (the host bridge carries the addressing)")

    def desired_xml(self, forward=None):
        """The <network> element holding only what the user specified.

        `forward` is the mode to write when the user gave none (the default
        for a new network); an isolated network has no <forward> at all.
        """
        root = etree.Element("network")
        etree.SubElement(root, "name").text = self.name
        mode = self.forward or forward
        if mode and mode != "isolated":
            etree.SubElement(root, "forward", mode=mode)
        if self.bridge is not None:
            etree.SubElement(root, "bridge", name=self.bridge)
        if self.mtu is not None:
            etree.SubElement(root, "mtu", size=str(self.mtu))
        if self.domain is not None:
            etree.SubElement(root, "domain", name=self.domain)
        if self.ipv4 is not None:
            ip = etree.SubElement(root, "ip", address=self.ipv4.address, prefix=str(self.ipv4.prefix))
            if self.ipv4.has_dhcp:
                dhcp = etree.SubElement(ip, "dhcp")
                etree.SubElement(dhcp, "range", start=self.ipv4.dhcp_start, end=self.ipv4.dhcp_end)
        return root


# ---------------------------------------------------------------- XML helpers

def forward_mode(root):
    forward = root.find("forward")
    if forward is None:
        return "isolated"
    return forward.get("mode") or "nat"  # libvirt's default when mode is omitted


def _is_ipv4(ip):
    return ip.get("family", "ipv4") == "ipv4" and ":" not in (ip.get("address") or "")


def ipv4_element(root):
    """The first IPv4 <ip> element and its index among all <ip> elements."""
    for index, ip in enumerate(root.findall("ip")):
        if _is_ipv4(ip):
            return ip, index
    return None, None


def _netmask_prefix(netmask):
    try:
        return ipaddress.IPv4Network("0.0.0.0/{0}".format(netmask)).prefixlen
    except ValueError:
        return None


def normalized(root):
    """A copy of a network's XML in the shape desired_xml() produces: IPv6
    <ip> elements dropped, netmask turned into prefix."""
    root = copy.deepcopy(root)
    for ip in root.findall("ip"):
        if not _is_ipv4(ip):
            root.remove(ip)
        elif ip.get("prefix") is None and ip.get("netmask"):
            ip.set("prefix", str(_netmask_prefix(ip.get("netmask"))))
            del ip.attrib["netmask"]
    return root


def dhcp_ranges(root):
    ip, _index = ipv4_element(root)
    if ip is None:
        return []
    return [(r.get("start"), r.get("end")) for r in ip.findall("dhcp/range")]


def definition_differences(spec, actual):
    """(path, want, have) for everything the user specified that the network
    XML `actual` does not hold.  Subset comparison, plus the two things a
    subset cannot say: an isolated network has no <forward>, and the DHCP
    range given is the only one."""
    want = spec.desired_xml()
    have = normalized(actual)
    found = subset_differences(want, have)
    if spec.forward == "isolated" and have.find("forward") is not None:
        found.append(("network/forward", None, forward_mode(have)))
    if spec.ipv4 is not None and spec.ipv4.has_dhcp:
        ranges = dhcp_ranges(have)
        if len(ranges) > 1:
            found.append(("network/ip/dhcp/range", [(spec.ipv4.dhcp_start, spec.ipv4.dhcp_end)], ranges))
    return found


def build_definition(spec, actual):
    """The XML to define: `actual` (libvirt's inactive XML, with its uuid,
    mac and everything else libvirt assigned) with the user's fields written
    over it.  For a new network (actual None), just the desired XML."""
    if actual is None:
        return spec.desired_xml(forward=DEFAULT_FORWARD)
    root = copy.deepcopy(actual)
    old_mode = forward_mode(root)
    mode = spec.forward or old_mode
    if mode != old_mode:
        for forward in root.findall("forward"):
            root.remove(forward)
        if mode != "isolated":
            _insert_after(root, etree.Element("forward", mode=mode), ("uuid", "name"))
    bridge = root.find("bridge")
    if old_mode == "bridge" and mode != "bridge" and spec.bridge is None and bridge is not None:
        # The old name is a host bridge; let libvirt pick a virbrN of its own.
        root.remove(bridge)
        bridge = None
    if spec.bridge is not None:
        if bridge is None:
            bridge = _insert_after(root, etree.Element("bridge"), ("forward", "uuid", "name"))
        bridge.set("name", spec.bridge)
    if mode == "bridge":
        for tag in _NOT_IN_BRIDGE_MODE:
            for element in root.findall(tag):
                root.remove(element)
        if bridge is not None:
            for attr in _BRIDGE_ATTRS_NOT_IN_BRIDGE_MODE:
                bridge.attrib.pop(attr, None)
    if spec.mtu is not None:
        _child(root, "mtu").set("size", str(spec.mtu))
    if spec.domain is not None:
        _child(root, "domain").set("name", spec.domain)
    if spec.ipv4 is not None:
        _write_ipv4(root, spec.ipv4)
    return root


def _insert_after(root, element, after_tags):
    for tag in after_tags:
        found = root.find(tag)
        if found is not None:
            found.addnext(element)
            return element
    root.insert(0, element)
    return element


def _child(root, tag):
    found = root.find(tag)
    return found if found is not None else etree.SubElement(root, tag)


def _write_ipv4(root, ipv4):
    ip, _index = ipv4_element(root)
    if ip is None:
        ip = etree.Element("ip")
        others = root.findall("ip")
        if others:
            others[0].addprevious(ip)
        else:
            root.append(ip)
    ip.set("address", ipv4.address)
    ip.set("prefix", str(ipv4.prefix))
    ip.attrib.pop("netmask", None)
    if ipv4.has_dhcp:
        dhcp = ip.find("dhcp")
        if dhcp is None:
            dhcp = etree.SubElement(ip, "dhcp")
        for old in dhcp.findall("range"):
            dhcp.remove(old)
        dhcp.insert(0, etree.Element("range", start=ipv4.dhcp_start, end=ipv4.dhcp_end))


def summary(root, active=None, autostart=None):
    """The `network` return value, read from a network XML."""
    bridge = root.find("bridge")
    mtu = root.find("mtu")
    domain = root.find("domain")
    ipv4 = None
    ip, _index = ipv4_element(root)
    if ip is not None:
        prefix = ip.get("prefix")
        prefix = int(prefix) if prefix is not None else _netmask_prefix(ip.get("netmask") or "255.255.255.255")
        ranges = ip.findall("dhcp/range")
        ipv4 = dict(
            address=ip.get("address"),
            prefix=prefix,
            dhcp_start=ranges[0].get("start") if ranges else None,
            dhcp_end=ranges[0].get("end") if ranges else None,
        )
    return dict(
        name=root.findtext("name"),
        uuid=root.findtext("uuid"),
        forward=forward_mode(root),
        bridge=bridge.get("name") if bridge is not None else None,
        ipv4=ipv4,
        domain=domain.get("name") if domain is not None else None,
        mtu=int(mtu.get("size")) if mtu is not None and mtu.get("size") else None,
        active=active,
        autostart=autostart,
    )


def _flat(info):
    flat = dict((key, info[key]) for key in ("forward", "bridge", "domain", "mtu"))
    for key in ("address", "prefix", "dhcp_start", "dhcp_end"):
        flat["ipv4." + key] = (info["ipv4"] or {}).get(key)
    return flat


def _is_dhcp_path(path):
    return re.match(r"^network/ip(\[\d+\])?/dhcp(/|$)", path) is not None


# ---------------------------------------------------------------- the plan

class NetworkPlan:
    """What a run does, decided before anything is written."""

    def __init__(self, spec):
        self.spec = spec
        self.tracker = DifferenceTracker()
        self.create = False
        self.define_xml = None     # element to define, when the definition changes
        self.live_update = None    # [(command, range xml)], when DHCP ranges change on a running network
        self.dhcp_index = None     # index of the IPv4 <ip> for virNetworkUpdate
        self.restart = False       # destroy + create to apply a changed definition
        self.restart_required = False
        self.start = False
        self.stop = False
        self.set_autostart = None
        self.predicted = {}

    @property
    def changed(self):
        return self.tracker.changed


def plan_definition(spec, inactive, live=None, active=False, autostart=False):
    """Plan for state=present against libvirt's inactive XML (None when the
    network does not exist) and, when active, its live XML."""
    plan = NetworkPlan(spec)
    if inactive is None:
        plan.create = True
        plan.define_xml = build_definition(spec, None)
        _check_address(plan.define_xml)
        after = summary(plan.define_xml)
        plan.tracker.add("state", "absent", "present")
        for key, value in _flat(after).items():
            if value is not None:
                plan.tracker.add(key, None, value)
        plan.start = spec.active
        plan.set_autostart = spec.autostart or None
        if spec.autostart:
            plan.tracker.add("autostart", False, True)
        if spec.active:
            plan.tracker.add("active", False, True)
        plan.predicted = summary(plan.define_xml, spec.active, spec.autostart)
        return plan

    spec.check_forward(spec.forward or forward_mode(inactive))
    differences = definition_differences(spec, inactive)
    new = inactive
    if differences:
        new = build_definition(spec, inactive)
        _check_address(new)
        plan.define_xml = new
        before, after = _flat(summary(inactive)), _flat(summary(new))
        for key in sorted(before):
            plan.tracker.add(key, before[key], after[key])
        if len(dhcp_ranges(inactive)) > 1:
            plan.tracker.add("ipv4.dhcp_ranges", [list(r) for r in dhcp_ranges(inactive)], [list(r) for r in dhcp_ranges(new)])
        if not plan.tracker.changed:  # a difference the summary does not show
            plan.tracker.add("definition", [d[0] for d in differences], "as specified")
    # What the running network lacks; more than `differences` when an earlier
    # definition was saved without a restart.
    live_differences = definition_differences(spec, live) if active and live is not None else []
    pending = bool(live_differences) and not differences
    if active and spec.active:
        only_dhcp = differences and all(_is_dhcp_path(path) for path, _w, _h in differences + live_differences)
        if only_dhcp and dhcp_ranges(live) == dhcp_ranges(inactive):
            plan.live_update, plan.dhcp_index = _dhcp_commands(spec, inactive)
        elif differences or pending:
            if spec.restart:
                plan.restart = True
                if not differences:
                    plan.tracker.add("running", "outdated definition", "restarted with the defined one")
            else:
                plan.restart_required = True
    if spec.active and not active:
        plan.start = True
        plan.tracker.add("active", False, True)
    elif active and not spec.active:
        plan.stop = True
        plan.tracker.add("active", True, False)
    if bool(autostart) != spec.autostart:
        plan.set_autostart = spec.autostart
        plan.tracker.add("autostart", bool(autostart), spec.autostart)
    plan.predicted = summary(new, spec.active, spec.autostart)
    return plan


def _check_address(root):
    """libvirt refuses a NAT or routed network without an IP address."""
    mode = forward_mode(root)
    if mode in ("nat", "route") and root.find("ip") is None:
        raise ValidationError("ipv4", "is required with forward: {0} (libvirt {1} the network's subnet); "
                              "give ipv4.address, or use forward: isolated".format(mode, "masquerades" if mode == "nat" else "routes"))


def route_owner(subnet, route_table, ignore=None):
    """The host interface whose route is `subnet` exactly (libvirt refuses to
    start a network whose subnet is routed elsewhere), or None.  `route_table`
    is the text of /proc/net/route; `ignore` an interface to skip (the
    network's own bridge, free again once it is restarted)."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[0] == ignore:
            continue
        try:
            # Hex words in host byte order: packed natively they are the address bytes.
            dest, mask = (ipaddress.IPv4Address(struct.pack("=I", int(f, 16))) for f in (fields[1], fields[7]))
        except (ValueError, struct.error):
            continue
        if dest == subnet.network_address and mask == subnet.netmask:
            return fields[0]
    return None


def _dhcp_commands(spec, inactive):
    """virNetworkUpdate commands turning the ranges of `inactive` into the
    one the user asked for: add the new range first, then delete the old."""
    want = (spec.ipv4.dhcp_start, spec.ipv4.dhcp_end)
    have = dhcp_ranges(inactive)
    _ip, index = ipv4_element(inactive)
    commands = []
    if want not in have:
        commands.append(("add", want))
    commands.extend(("delete", r) for r in have if r != want)
    return commands, index


def _range_xml(pair):
    return to_string(etree.Element("range", start=pair[0], end=pair[1])).strip()


# ---------------------------------------------------------------- libvirt

class NetworkManager:
    """Plan and apply one network over a Connection; raises typed errors."""

    def __init__(self, connection, spec, check_mode=False):
        self.connection = connection
        self.spec = spec
        self.check_mode = check_mode

    def run(self):
        if self.spec.state == "absent":
            return self._absent()
        return self._present()

    # -- state: absent
    def _absent(self):
        network = self.connection.network(self.spec.name)
        result = dict(changed=False, network={}, restarted=False)
        if network is None:
            return result
        tracker = DifferenceTracker()
        active = bool(self._call("check network", network.isActive))
        persistent = bool(self._call("check network", network.isPersistent))
        tracker.add("state", "present", "absent")
        if active:
            tracker.add("active", True, False)
        if not self.check_mode:
            if active:
                self._call("stop network {0}".format(self.spec.name), network.destroy)
            if persistent:
                self._call("undefine network {0}".format(self.spec.name), network.undefine)
        result.update(changed=True, diff=tracker.diff())
        return result

    # -- state: present
    def _present(self):
        spec = self.spec
        network = self.connection.network(spec.name)
        inactive = live = None
        active = autostart = False
        if network is not None:
            inactive = self._inactive_xml(network)
            active = bool(self._call("check network", network.isActive))
            autostart = bool(self._call("check network", network.autostart))
            if active:
                live = parse(self._call("read network", network.XMLDesc, 0))
        plan = plan_definition(spec, inactive, live, active, autostart)
        self._check_bridge(plan, inactive, live)
        self._check_subnet(plan, live)
        if not self.check_mode:
            network = self._apply(plan, network, inactive, active, autostart)
        result = dict(
            changed=plan.changed,
            restarted=plan.restart,
            restart_required=plan.restart_required,
            live_updated=bool(plan.live_update),
            diff=plan.tracker.diff(),
        )
        if self.check_mode or network is None:
            result["network"] = plan.predicted
        else:
            result["network"] = summary(
                self._inactive_xml(network),
                bool(self._call("check network", network.isActive)),
                bool(self._call("check network", network.autostart)))
        return result

    def _inactive_xml(self, network):
        """The definition libvirt would start the network with.  Drivers
        without VIR_NETWORK_XML_INACTIVE (the test driver) keep no separate
        live state, so their plain XML is that definition."""
        try:
            return parse(network.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                raise LibvirtError("read network {0}".format(self.spec.name), e)
        return parse(self._call("read network {0}".format(self.spec.name), network.XMLDesc, 0))

    def _check_bridge(self, plan, inactive, live):
        """Before any write: a bridge-mode network needs its host bridge; any
        other mode creates its own and must not take an existing interface."""
        if self.spec.bridge is None or plan.define_xml is None:
            return
        mode = forward_mode(plan.define_xml)
        kind = self._interface_type(self.spec.bridge)
        if mode == "bridge":
            if kind is None:
                raise NotFoundError("bridge", "host bridge {0!r} does not exist; create it first (e.g. with kvmops.hypervisor.kvm_bridge)".format(
                    self.spec.bridge))
            if kind != "bridge":
                raise ValidationError("bridge", "host interface {0!r} is not a bridge (type {1})".format(self.spec.bridge, kind))
            return
        own = live.find("bridge").get("name") if live is not None and live.find("bridge") is not None else None
        if kind is not None and own != self.spec.bridge and live is None and self._started_meanwhile():
            # Another run started this very network after our read: the bridge is its own.
            raise ConcurrentChangeError("start network {0}".format(self.spec.name), "another client started it while this run planned")
        if kind is not None and own != self.spec.bridge:
            raise ValidationError("bridge", "{0!r} is an existing host interface; with forward: {1} libvirt creates the bridge itself, "
                                  "so pick an unused name (e.g. virbr10)".format(self.spec.bridge, mode))

    def _check_subnet(self, plan, live):
        """Before any write: the ipv4 subnet of a network this run starts must
        not be routed through another host interface (libvirt would refuse to
        start it).  Local URIs only: the routes read are this host's."""
        ipv4 = self.spec.ipv4
        if ipv4 is None or not (plan.restart or plan.start) or not is_local(self.connection.uri):
            return
        own = live.find("bridge").get("name") if live is not None and live.find("bridge") is not None else None
        try:
            with open("/proc/net/route", encoding="utf-8") as handle:
                table = handle.read()
        except OSError:
            return
        owner = route_owner(ipv4.subnet, table, ignore=own)
        if owner is not None and live is None and self._started_meanwhile():
            # Another run started this very network after our read: its bridge
            # holds the subnet.  Plan again rather than blame the subnet.
            raise ConcurrentChangeError("start network {0}".format(self.spec.name),
                                        "another client started it while this run planned")
        if owner is not None:
            raise ValidationError("ipv4.address", "the subnet {0} is already in use by host interface {1}; libvirt would refuse to "
                                  "start network {2}: pick another subnet".format(ipv4.subnet, owner, self.spec.name))

    def _started_meanwhile(self):
        network = self.connection.network(self.spec.name)
        return network is not None and bool(self._call("check network", network.isActive))

    def _interface_type(self, name):
        """'bridge', another interface type, or None when there is no such host interface."""
        try:
            iface = self.connection.conn.interfaceLookupByName(name)
            xml = parse(iface.XMLDesc(0))
            return xml.get("type") or "unknown"
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_INTERFACE:
                return None
            if e.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
                raise LibvirtError("look up host interface {0}".format(name), e)
        # No interface driver in this libvirtd: look at the host this module runs on.
        if not os.path.exists(os.path.join("/sys/class/net", name)):
            return None
        return "bridge" if os.path.isdir(os.path.join("/sys/class/net", name, "bridge")) else "ethernet"

    def _apply(self, plan, network, inactive=None, active=False, autostart=False):  # pylint: disable=too-many-arguments
        spec = self.spec
        conn = self.connection.conn
        if plan.create:
            network = self._call("define network {0}".format(spec.name), conn.networkDefineXML, to_string(plan.define_xml))
            try:
                self._start_and_autostart(plan, network)
            except LibvirtError:
                # Nothing half-created: a network that cannot start is not left defined.
                try:
                    if network.isActive():
                        network.destroy()
                    network.undefine()
                except libvirt.libvirtError:
                    pass
                raise
            return network
        if plan.live_update:
            flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
            commands = dict(add=libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, delete=libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE)
            for command, pair in plan.live_update:
                self._call("update DHCP range of network {0}".format(spec.name), network.update,
                           commands[command], libvirt.VIR_NETWORK_SECTION_IP_DHCP_RANGE, plan.dhcp_index, _range_xml(pair), flags)
            self._start_and_autostart(plan, network)
            return network
        redefined = plan.define_xml is not None
        if redefined:
            network = self._call("redefine network {0}".format(spec.name), conn.networkDefineXML, to_string(plan.define_xml))
        try:
            self._restart_and_start(plan, network)
        except LibvirtError as e:
            # Nothing half-applied: the old definition (when it was replaced),
            # autostart and run state back as they were.
            self._restore(network, inactive if redefined else None, active, autostart, e)
        return network

    def _restart_and_start(self, plan, network):
        if plan.restart:
            self._call("stop network {0} to apply its new definition".format(self.spec.name), network.destroy)
            self._call("start network {0} with its new definition".format(self.spec.name), network.create)
        self._start_and_autostart(plan, network)

    def _restore(self, network, inactive, was_active, was_autostart, error):  # pylint: disable=too-many-arguments
        try:
            if inactive is not None:
                network = self.connection.conn.networkDefineXML(to_string(inactive))
            if bool(network.autostart()) != was_autostart:
                network.setAutostart(1 if was_autostart else 0)
            if was_active and not network.isActive():
                network.create()
            elif not was_active and network.isActive():
                network.destroy()
        except libvirt.libvirtError as e:
            raise KvmError("{0}; restoring the previous definition failed too: {1}".format(error, e.get_error_message() or e))
        raise KvmError("{0}; the network was left as it was{1}".format(
            error, " (previous definition restored{0})".format(" and started" if was_active else "") if inactive is not None else ""))

    def _start_and_autostart(self, plan, network):
        if plan.stop:
            self._call("stop network {0}".format(self.spec.name), network.destroy)
        if plan.set_autostart is not None:
            self._call("set autostart of network {0}".format(self.spec.name), network.setAutostart, 1 if plan.set_autostart else 0)
        if plan.start:
            self._call("start network {0}".format(self.spec.name), network.create)

    def _call(self, action, func, *args):
        return self.connection.call(action, func, *args)
