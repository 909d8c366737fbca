# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live network state of a bridge and its ports (iproute2), and the
shell script that moves the host from any state to a given one.

A state is a plain dict (JSON-able, so it can be saved as the rollback's
snapshot):

    {"bridge": {"name", "exists", "mac", "mtu", "stp", "forward_delay", "addresses": [cidr]},
     "ports": [{"name", "exists", "mac", "master", "mtu", "addresses": [cidr]}],
     "routes": [{"family": 4|6, "gateway", "dev", "metric"}],     # default routes on the bridge or a port
     "families": [4, 6],                                          # families whose addresses are managed
     "restore_routes": [...],   # in a snapshot: default routes through other devices, put back by the rollback
     "links": [{"kind": "bond"|"vlan", "name", "exists", ...}]}   # with a bond or VLAN under the bridge (links_of):
                                # made when exists, deleted when not (a rollback removes what the change made)
"""

from __future__ import annotations

import ipaddress
import json
import shlex

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError

SYS_NET = "/sys/class/net"


class CommandError(KvmError):
    """A command on the managed host failed."""


def family_of(cidr):
    return ipaddress.ip_interface(cidr).version


class LiveReader:
    """Reads links, addresses and default routes with `ip -j`; run(argv) -> (rc, out, err)."""

    def __init__(self, run, sys_net=SYS_NET, resolv_conf="/etc/resolv.conf"):
        self._run = run
        self.sys_net = sys_net
        self.resolv_conf = resolv_conf

    def _ip(self, *args):
        rc, out, err = self._run(["ip", "-j"] + list(args))
        if rc != 0:
            raise CommandError("ip {0}: {1}".format(" ".join(args), (err or out).strip()))
        return json.loads(out or "[]")

    def _link(self, name):
        rc, out, _err = self._run(["ip", "-j", "-d", "addr", "show", "dev", name])
        if rc != 0:
            return None
        data = json.loads(out or "[]")
        return data[0] if data else None

    def _sys(self, name, leaf):
        try:
            with open("{0}/{1}/{2}".format(self.sys_net, name, leaf), encoding="ascii") as f:
                return f.read().strip()
        except (IOError, OSError):
            return None

    def interface(self, name):
        link = self._link(name)
        if link is None:
            return dict(name=name, exists=False, mac=None, master=None, mtu=None, addresses=[], kind=None)
        addresses = []
        for info in link.get("addr_info", []):
            if info.get("scope") == "global" and info.get("local"):
                addresses.append(str(ipaddress.ip_interface("{0}/{1}".format(info["local"], info["prefixlen"]))))
        kind = (link.get("linkinfo") or {}).get("info_kind")
        return dict(name=name, exists=True, mac=link.get("address"), master=link.get("master"),
                    mtu=link.get("mtu"), addresses=addresses, kind=kind)

    def link(self, name):
        """exists, kind and, for a bond or a VLAN, what it is: bond_mode, vlan_id, vlan_parent."""
        link = self._link(name)
        if link is None:
            return dict(name=name, exists=False, kind=None)
        info = link.get("linkinfo") or {}
        data = info.get("info_data") or {}
        kind = info.get("info_kind")
        return dict(name=name, exists=True, kind=kind, bond_mode=data.get("mode") if kind == "bond" else None,
                    vlan_id=data.get("id") if kind == "vlan" else None, vlan_parent=link.get("link") if kind == "vlan" else None)

    def bridge(self, name):
        info = self.interface(name)
        if info["exists"] and info["kind"] != "bridge":
            raise KvmError("name: {0!r} exists and is not a bridge (it is a {1})".format(name, info["kind"] or "plain interface"))
        stp = fd = None
        if info["exists"]:
            stp = (self._sys(name, "bridge/stp_state") or "0") != "0"
            raw = self._sys(name, "bridge/forward_delay")
            fd = int(raw) // 100 if raw and raw.isdigit() else None
        return dict(name=name, exists=info["exists"], mac=info["mac"], mtu=info["mtu"], stp=stp,
                    forward_delay=fd, addresses=info["addresses"])

    def default_routes(self, devices, others=False):
        """Default routes through `devices` (others=True: through every other device)."""
        routes = []
        for family in (4, 6):
            for r in self._ip("-{0}".format(family), "route", "show", "default"):
                if others and r.get("protocol") == "ra":
                    continue  # router advertisements put it back themselves (and it expires)
                if (r.get("dev") in devices) != others and r.get("dev") and r.get("gateway"):
                    routes.append(dict(family=family, gateway=r["gateway"], dev=r["dev"], metric=r.get("metric"),
                                       protocol=r.get("protocol")))
        return routes

    def nameservers(self):
        servers = []
        try:
            with open(self.resolv_conf, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith("127."):
                        servers.append(parts[1])
        except (IOError, OSError):
            pass
        return servers

    def state(self, bridge, ports):
        """The live state of `bridge` and `ports` (ports that are enslaved to the bridge now count too).

        Guests' tap devices (libvirt's vnetN) on the bridge are not ports this
        module manages: they come and go with the guests and must stay plugged.
        """
        br = self.bridge(bridge)
        names = list(ports)
        if br["exists"]:
            try:
                for entry in sorted(self._listdir("{0}/{1}/brif".format(self.sys_net, bridge))):
                    if entry not in names and self._sys(entry, "tun_flags") is None:
                        names.append(entry)
            except OSError:
                pass
        port_states = []
        for p in names:
            info = self.interface(p)
            info.pop("kind")
            port_states.append(info)
        devices = [bridge] + names
        # restore_routes: the default routes through other devices.  A new default route through the
        # bridge with the same metric replaces one of them (`ip route replace`); the rollback's
        # converge puts them back (replacing a route that is there already changes nothing).
        return dict(bridge=br, ports=port_states, routes=self.default_routes(devices), families=[4, 6],
                    restore_routes=self.default_routes(devices, others=True))

    @staticmethod
    def _listdir(path):
        import os  # pylint: disable=import-outside-toplevel
        return os.listdir(path)


def _route_cmd(verb, route):
    argv = ["ip", "-{0}".format(route["family"]), "route", verb, "default", "via", route["gateway"], "dev", route["dev"]]
    if route.get("metric") is not None:
        argv += ["metric", str(route["metric"])]
    if route.get("protocol"):  # the rollback puts a route back as it was (networkd's are "static")
        argv += ["proto", str(route["protocol"])]
    return shlex.join(argv)


def link_lines(link):
    """Shell lines that make the bond or VLAN `link` (a dict of BridgeManager's links_of) unless it exists.

    A bond's ports are taken down before they are enslaved (the kernel
    refuses an up NIC on older kernels) and only when they are not in it
    already; the ports loop of converge_script brings them up again."""
    q = shlex.quote
    name = q(link["name"])
    if link["kind"] == "vlan":
        add = "ip link show dev {0} >/dev/null 2>&1 || ip link add link {1} name {0} type vlan id {2}".format(
            name, q(link["parent"]), int(link["id"]))
        return [add, "ip link set dev {0} up".format(name)]
    opts = ["mode", q(link["mode"])]
    if link.get("miimon") is not None:
        opts += ["miimon", str(int(link["miimon"]))]
    if link.get("lacp_rate"):
        opts += ["lacp_rate", q(link["lacp_rate"])]
    if link.get("xmit_hash_policy"):
        opts += ["xmit_hash_policy", q(link["xmit_hash_policy"])]
    lines = ["ip link show dev {0} >/dev/null 2>&1 || ip link add name {0} type bond {1}".format(name, " ".join(opts))]
    for port in link["ports"]:
        lines.append(
            "d={d} b={b}; if [ \"$(basename \"$(readlink /sys/class/net/\"$d\"/master 2>/dev/null)\" 2>/dev/null)\" != \"$b\" ];"
            " then ip link set dev \"$d\" nomaster; ip link set dev \"$d\" down; ip link set dev \"$d\" master \"$b\"; fi"
            .format(d=q(port), b=name))
    if link.get("primary"):
        lines.append("ip link set dev {0} type bond primary {1}".format(name, q(link["primary"])))
    lines.append("ip link set dev {0} up".format(name))
    return lines


def converge_script(target, strict):
    """Shell lines moving the host to `target`, from whatever state it is in.

    Order: bridge up, ports (un)enslaved, addresses added, default routes
    added, stale default routes and addresses removed, bridge deleted.  New
    addresses and routes are in place before the old ones go, so the
    connection is cut for as short a time as possible.  strict=True stops at
    the first failure (the change); strict=False goes on (the rollback).
    """
    q = shlex.quote
    br = target["bridge"]
    name = q(br["name"])
    lines = ["set -e" if strict else "set +e"]
    if br["exists"]:
        lines.append("ip link show dev {0} >/dev/null 2>&1 || ip link add name {0} type bridge".format(name))
        opts = []
        if br.get("stp") is not None:
            opts += ["stp_state", "1" if br["stp"] else "0"]
        if br.get("forward_delay") is not None:
            opts += ["forward_delay", str(int(br["forward_delay"]) * 100)]
        if opts:
            lines.append("ip link set dev {0} type bridge {1}".format(name, " ".join(opts)))
        if br.get("mac"):
            lines.append("ip link set dev {0} address {1}".format(name, q(br["mac"])))
        if br.get("mtu"):
            lines.append("ip link set dev {0} mtu {1}".format(name, int(br["mtu"])))
    # The bond and the VLAN under the bridge: made when the state has them, deleted (VLAN first) when it does not.
    links = target.get("links", [])
    for link in links:
        if link["exists"]:
            lines += link_lines(link)
    for port in target["ports"]:
        if not port.get("exists", True):
            continue
        pname = q(port["name"])
        if port.get("master"):
            lines.append("ip link set dev {0} master {1}".format(pname, q(port["master"])))
        else:
            lines.append("ip link set dev {0} nomaster".format(pname))
        if port.get("mtu"):
            lines.append("ip link set dev {0} mtu {1}".format(pname, int(port["mtu"])))
        lines.append("ip link set dev {0} up".format(pname))
    if br["exists"]:
        lines.append("ip link set dev {0} up".format(name))
    devices = ([br] if br["exists"] else []) + [p for p in target["ports"] if p.get("exists", True)]
    for dev in devices:
        for cidr in dev["addresses"]:
            lines.append("ip addr replace {0} dev {1}".format(q(cidr), q(dev["name"])))
    for route in target["routes"] + target.get("restore_routes", []):
        lines.append(_route_cmd("replace", route))
    # Default routes on the bridge or the ports that the target does not have.
    # Every value reaches the shell quoted, as an assignment: interface names
    # may hold quotes, '$' and '()', and a quoted "$var" in a case pattern
    # matches literally.
    wanted = " ".join("{0}|{1}|{2}".format(r["family"], r["gateway"], r["dev"]) for r in target["routes"])
    for dev in devices:
        for family in (4, 6):
            lines.append(
                "d={d} w={w}; ip -{f} -o route show default dev \"$d\" | while read -r _def _via gw rest; do"
                " case \" $w \" in *\" {f}|$gw|$d \"*) ;; *) ip -{f} route del default via \"$gw\" dev \"$d\" || true;; esac; done"
                .format(f=family, d=q(dev["name"]), w=q(wanted)))
    for dev in devices:
        for family in target["families"]:
            keep = " ".join(c for c in dev["addresses"] if family_of(c) == family)
            lines.append(
                "d={d} k={k}; for a in $(ip -{f} -o addr show dev \"$d\" scope global | awk '{{print $4}}'); do"
                " case \" $k \" in *\" $a \"*) ;; *) ip addr del \"$a\" dev \"$d\" || true;; esac; done"
                .format(f=family, d=q(dev["name"]), k=q(keep)))
    for link in reversed(links):
        if not link["exists"]:
            lines.append("if ip link show dev {0} >/dev/null 2>&1; then ip link del dev {0}; fi".format(q(link["name"])))
    if not br["exists"]:
        lines.append("if ip link show dev {0} >/dev/null 2>&1; then ip link del dev {0}; fi".format(name))
    return lines
