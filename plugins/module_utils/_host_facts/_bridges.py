# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's Linux bridges, their ports and addresses (`ip -j addr`, else
/proc/net/if_inet6, /proc/net/fib_trie and the route table)."""

from __future__ import annotations

import ipaddress
import json
import socket

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _routes


def bridges(host):
    names = [n for n in host.listdir("/sys/class/net") if host.isdir("/sys/class/net", n, "bridge")]
    if not names:
        return []
    found = addresses(host)
    return [
        dict(name=name, ports=host.listdir("/sys/class/net", name, "brif"), addresses=found.get(name, []))
        for name in names
    ]


def addresses(host):
    """{interface: ["address/prefix", ...]}: from `ip -j addr` when `ip` is there,
    else IPv6 from /proc/net/if_inet6 and IPv4 from /proc/net/fib_trie + /proc/net/route."""
    ip = host.which("ip")
    if ip:
        parsed = _ip_json(host.output([ip, "-j", "addr", "show"]))
        if parsed is not None:
            return parsed
    found = {}
    for name, address in _proc_ipv4(host.read("/proc/net/fib_trie"), host.read("/proc/net/route")):
        found.setdefault(name, []).append(address)
    for name, address in _proc_ipv6(host.read("/proc/net/if_inet6")):
        found.setdefault(name, []).append(address)
    return found


# -- parsers (pure) -------------------------------------------------------------


def _ip_json(text):
    try:
        links = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(links, list):
        return None
    found = {}
    for link in links:
        name = link.get("ifname")
        for info in link.get("addr_info", []):
            if name and "local" in info and "prefixlen" in info:
                found.setdefault(name, []).append("{0}/{1}".format(info["local"], info["prefixlen"]))
    return found


def _proc_ipv6(text):
    """(interface, "address/prefix") from /proc/net/if_inet6."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 6 or len(parts[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(parts[0])
            address = socket.inet_ntop(socket.AF_INET6, packed)
            prefix = int(parts[2], 16)
        except ValueError:
            continue
        yield parts[5], "{0}/{1}".format(address, prefix)


def _proc_ipv4(fib_trie, route):
    """(interface, "address/prefix") for the local IPv4 addresses.

    /proc/net/fib_trie lists local addresses ("/32 host LOCAL") but not their
    interface; the most specific connected route (_routes) that contains the
    address gives the interface and the prefix length.  Addresses without
    such a route (127.0.0.1) are left out.
    """
    locals_ = []
    last = None
    for line in (fib_trie or "").splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and last and last not in locals_:
            locals_.append(last)
    for address in locals_:
        try:
            where = _routes.interface_of(ipaddress.IPv4Address(address), route)
        except ValueError:
            continue
        if where:
            yield where[0], "{0}/{1}".format(address, where[1])
