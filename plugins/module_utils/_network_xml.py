# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt network XML of kvm_network (pure; lxml only): the element a
NetworkSpec stands for, the subset comparison against libvirt's inactive
XML, the definition to write over it, and the `network` return value read
from any network XML."""

from __future__ import annotations

import copy
import ipaddress
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, subset_differences, to_string

DEFAULT_FORWARD = "nat"
# Elements libvirt refuses in a network with <forward mode='bridge'/>.
_NOT_IN_BRIDGE_MODE = ("ip", "dns", "domain", "mac", "mtu", "route")
# Attributes of <bridge> libvirt refuses in bridge mode.
_BRIDGE_ATTRS_NOT_IN_BRIDGE_MODE = ("stp", "delay", "zone", "macTableManager")
# A macvtap network is written <forward mode='MACVTAP_MODE' dev='DEV'><interface dev='DEV'/></forward>:
# libvirt's forward modes bridge (with interfaces, without a <bridge>), vepa, private, passthrough.
MACVTAP_MODES = ("bridge", "vepa", "private", "passthrough")
DEFAULT_MACVTAP_MODE = "bridge"
# Elements of a network that a macvtap one has no use for (guests are on the host interface's network).
_NOT_IN_MACVTAP = ("bridge", "ip", "dns", "domain", "mac", "mtu", "route")


def desired(spec, forward=None):
    """The <network> element holding only what the user specified.

    `forward` is the mode to write when the user gave none (the default
    for a new network); an isolated network has no <forward> at all.
    """
    root = etree.Element("network")
    etree.SubElement(root, "name").text = spec.name
    mode = spec.forward or forward
    if mode is None and (spec.dev is not None or spec.macvtap_mode is not None):
        mode = "macvtap"  # only allowed on a macvtap network (NetworkSpec.check_forward)
    if mode and mode != "isolated":
        # A new network (forward given) gets the default macvtap mode; a comparison only what was asked.
        root.append(_forward_element(spec, mode, DEFAULT_MACVTAP_MODE if forward else None))
    if spec.bridge is not None:
        etree.SubElement(root, "bridge", name=spec.bridge)
    if spec.mtu is not None:
        etree.SubElement(root, "mtu", size=str(spec.mtu))
    if spec.domain is not None:
        etree.SubElement(root, "domain", name=spec.domain)
    if spec.ipv4 is not None:
        ip = etree.SubElement(root, "ip", address=spec.ipv4.address, prefix=str(spec.ipv4.prefix))
        if spec.ipv4.has_dhcp:
            dhcp = etree.SubElement(ip, "dhcp")
            etree.SubElement(dhcp, "range", start=spec.ipv4.dhcp_start, end=spec.ipv4.dhcp_end)
    return root


def _forward_element(spec, mode, macvtap_default=None):
    """<forward> for `mode` (not isolated); for macvtap with the mode and dev the spec gives."""
    if mode != "macvtap":
        return etree.Element("forward", mode=mode)
    forward = etree.Element("forward")
    macvtap_mode = spec.macvtap_mode or macvtap_default
    if macvtap_mode:
        forward.set("mode", macvtap_mode)
    if spec.dev is not None:
        _set_dev(forward, spec.dev)
    return forward


def _set_dev(forward, dev):
    forward.set("dev", dev)
    for interface in forward.findall("interface"):
        forward.remove(interface)
    etree.SubElement(forward, "interface", dev=dev)


def forward_mode(root):
    """nat, route, bridge (a host bridge), isolated (no <forward>), macvtap, or libvirt's own word (open, hostdev)."""
    forward = root.find("forward")
    if forward is None:
        return "isolated"
    mode = forward.get("mode") or "nat"  # libvirt's default when mode is omitted
    if mode in MACVTAP_MODES and root.find("bridge") is None and (forward.get("dev") or forward.find("interface") is not None):
        return "macvtap"
    return mode


def macvtap(root):
    """(dev, macvtap mode) of a macvtap network's XML."""
    forward = root.find("forward")
    interface = forward.find("interface")
    return forward.get("dev") or (interface.get("dev") if interface is not None else None), forward.get("mode")


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
    """A copy of a network's XML in the shape desired() produces: IPv6
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
    want = desired(spec)
    have = normalized(actual)
    found = subset_differences(want, have)
    if spec.forward == "isolated" and have.find("forward") is not None:
        found.append(("network/forward", None, forward_mode(have)))
    elif spec.forward is not None and forward_mode(have) != spec.forward and not any(p.startswith("network/forward") for p, _w, _h in found):
        # Same attributes, another kind: <forward mode='bridge'> on a host bridge is not macvtap's.
        found.append(("network/forward", spec.forward, forward_mode(have)))
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
        return desired(spec, forward=DEFAULT_FORWARD)
    root = copy.deepcopy(actual)
    old_mode = forward_mode(root)
    mode = spec.forward or old_mode
    if mode != old_mode:
        for forward in root.findall("forward"):
            root.remove(forward)
        if mode != "isolated":
            _insert_after(root, _forward_element(spec, mode, DEFAULT_MACVTAP_MODE), ("uuid", "name"))
    elif mode == "macvtap":
        forward = root.find("forward")
        if spec.macvtap_mode is not None:
            forward.set("mode", spec.macvtap_mode)
        if spec.dev is not None:
            _set_dev(forward, spec.dev)
    bridge = root.find("bridge")
    if old_mode == "bridge" and mode != "bridge" and spec.bridge is None and bridge is not None:
        # The old name is a host bridge; let libvirt pick a virbrN of its own.
        root.remove(bridge)
        bridge = None
    if spec.bridge is not None:
        if bridge is None:
            bridge = _insert_after(root, etree.Element("bridge"), ("forward", "uuid", "name"))
        bridge.set("name", spec.bridge)
    if mode == "macvtap":
        for tag in _NOT_IN_MACVTAP:
            for element in root.findall(tag):
                root.remove(element)
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
    info = dict(
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
    if info["forward"] == "macvtap":
        info["dev"], info["macvtap_mode"] = macvtap(root)
    return info


def flat(info):
    flat = dict((key, info.get(key)) for key in ("forward", "bridge", "dev", "macvtap_mode", "domain", "mtu"))
    for key in ("address", "prefix", "dhcp_start", "dhcp_end"):
        flat["ipv4." + key] = (info["ipv4"] or {}).get(key)
    return flat


def is_dhcp_path(path):
    return re.match(r"^network/ip(\[\d+\])?/dhcp(/|$)", path) is not None


def range_xml(pair):
    return to_string(etree.Element("range", start=pair[0], end=pair[1])).strip()
