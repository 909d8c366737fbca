# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the kernel's IPv4 route table (/proc/net/route).

Its addresses are hex words printed in host byte order: packed natively they
are the address bytes.  Pure functions of the file's text, so tests feed
their own tables; read_table() reads this host's."""

from __future__ import annotations

import ipaddress
import struct
from collections import namedtuple

ROUTE_TABLE = "/proc/net/route"

# One line of the table: destination, gateway and netmask as IPv4Address.
Route = namedtuple("Route", "iface destination gateway netmask")


def _address(word):
    return ipaddress.IPv4Address(struct.pack("=I", int(word, 16)))


def parse(text):
    """The routes of /proc/net/route's text; lines it cannot read are skipped."""
    routes = []
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, gateway, mask = (_address(fields[i]) for i in (1, 2, 7))
        except (ValueError, struct.error):
            continue
        routes.append(Route(fields[0], dest, gateway, mask))
    return routes


def prefix_length(netmask):
    return bin(int(netmask)).count("1")


def connected(text):
    """The routes without a gateway to a subnet (not the default route):
    those an interface's own address makes."""
    return [r for r in parse(text) if int(r.gateway) == 0 and int(r.netmask)]


def owner(subnet, text, ignore=None):
    """The interface whose route is `subnet` exactly (libvirt refuses to
    start a network whose subnet is routed elsewhere), or None.  `ignore`: an
    interface to skip (a network's own bridge, free again once restarted)."""
    for route in parse(text):
        if route.iface != ignore and route.destination == subnet.network_address and route.netmask == subnet.netmask:
            return route.iface
    return None


def interface_of(address, text):
    """(interface, prefix length) of the most specific connected route that
    holds `address` (an IPv4Address), or None."""
    best = None
    for route in connected(text):
        if int(address) & int(route.netmask) == int(route.destination) and (
                best is None or prefix_length(route.netmask) > prefix_length(best.netmask)):
            best = route
    return (best.iface, prefix_length(best.netmask)) if best else None


def read_table(path=ROUTE_TABLE):
    """This host's table as text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None
