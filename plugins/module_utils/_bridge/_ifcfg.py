# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EL network-scripts (the tutorial's CentOS 7): ifcfg-<port> gets BRIDGE=
and loses its address (commented out, as the tutorial does by hand),
ifcfg-<bridge> is TYPE=Bridge with IPADDR/NETMASK/GATEWAY.

A bond is ifcfg-<bond> with TYPE=Bond, BONDING_MASTER=yes and BONDING_OPTS,
its ports ifcfg-<nic> with MASTER=<bond> and SLAVE=yes; a VLAN is
ifcfg-<parent>.<id> with VLAN=yes, PHYSDEV and VLAN_ID (RHEL's "Configuring
network bonding / VLAN tagging using ifcfg files" and
/usr/share/doc/initscripts/sysconfig.txt).  The bridge's port among them gets
BRIDGE=<bridge>."""

from __future__ import annotations

import ipaddress

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend

DIRECTORY = "/etc/sysconfig/network-scripts"
_ADDRESS_KEYS = ("IPADDR", "NETMASK", "PREFIX", "GATEWAY", "DNS", "IPV6ADDR", "IPV6_DEFAULTGW")


def _path(name):
    return "{0}/ifcfg-{1}".format(DIRECTORY, name)


def _key(line):
    text = line.strip()
    if "=" not in text:
        return None
    return text.split("=", 1)[0].lstrip("#").strip()


def _is_address_key(key):
    return key is not None and any(key == k or (key.startswith(k) and key[len(k):].isdigit()) for k in _ADDRESS_KEYS)


def _set(lines, key, value):
    for i, line in enumerate(lines):
        if not line.startswith("#") and _key(line) == key:
            lines[i] = "{0}={1}".format(key, value)
            return
    lines.append("{0}={1}".format(key, value))


def _address_lines(ipcfgs):
    lines = []
    for c in ipcfgs:
        if c.family == 4 and c.mode == "static":
            for n, cidr in enumerate(c.addresses):
                iface = ipaddress.ip_interface(cidr)
                suffix = "" if n == 0 else str(n)
                lines.append("IPADDR{0}={1}".format(suffix, iface.ip))
                lines.append("NETMASK{0}={1}".format(suffix, iface.network.netmask))
            if c.gateway:
                lines.append("GATEWAY={0}".format(c.gateway))
    for c in ipcfgs:
        if c.family == 6 and c.mode == "static":
            lines.append("IPV6ADDR={0}".format(c.addresses[0]))
            if c.addresses[1:]:
                lines.append("IPV6ADDR_SECONDARIES=\"{0}\"".format(" ".join(c.addresses[1:])))
            if c.gateway:
                lines.append("IPV6_DEFAULTGW={0}".format(c.gateway))
    dns = [d for c in ipcfgs if c.mode == "static" for d in c.dns]
    lines += ["DNS{0}={1}".format(n + 1, d) for n, d in enumerate(dns)]
    return lines


def _v6(ipcfgs):
    v6 = [c for c in ipcfgs if c.family == 6]
    mode = v6[0].mode if v6 else None
    if mode == "static":
        return ["IPV6INIT=yes", "IPV6_AUTOCONF=no", "IPV6_DEFROUTE=yes", "IPV6_FAILURE_FATAL=no"]
    lines = ["IPV6INIT=yes", "IPV6_AUTOCONF=yes", "IPV6_DEFROUTE=yes", "IPV6_PEERDNS=yes", "IPV6_PEERROUTES=yes",
             "IPV6_FAILURE_FATAL=no", "IPV6_ADDR_GEN_MODE=stable-privacy"]
    if mode == "dhcp":
        lines.insert(2, "DHCPV6C=yes")
    return lines


def render_port(existing, port, bridge, mtu=None):
    """ifcfg-<port> as a bridge port: the address keys commented out, BOOTPROTO=none, BRIDGE=<bridge>."""
    if existing is None:
        lines = ["TYPE=Ethernet", "BOOTPROTO=none", "NAME={0}".format(port), "DEVICE={0}".format(port), "ONBOOT=yes"]
    else:
        lines = []
        for line in existing.splitlines():
            key = _key(line)
            if not line.startswith("#") and _is_address_key(key):
                lines.append("#" + line)
            elif key == "BRIDGE" and not line.startswith("#"):
                continue
            else:
                lines.append(line)
        _set(lines, "BOOTPROTO", "none")
    if mtu:
        _set(lines, "MTU", mtu)
    lines = [line for line in lines if _key(line) != "BRIDGE" or line.startswith("#")]
    lines.append("BRIDGE={0}".format(bridge))
    return "\n".join(lines) + "\n"


def render_bridge(cfg):
    """ifcfg-<bridge>: the tutorial's ifcfg-br0, with the addresses of cfg."""
    v4 = [c for c in cfg.ipcfgs if c.family == 4]
    dhcp = bool(v4) and v4[0].mode == "dhcp"
    lines = ["TYPE=Bridge", "BOOTPROTO={0}".format("dhcp" if dhcp else "static"), "DEFROUTE=yes", "PEERDNS=yes",
             "PEERROUTES=yes", "IPV4_FAILURE_FATAL=no"]
    lines += _v6(cfg.ipcfgs)
    lines += ["NAME={0}".format(cfg.name), "DEVICE={0}".format(cfg.name), "ONBOOT=yes"]
    lines += _address_lines(cfg.ipcfgs)
    if cfg.stp:
        lines.append("STP=yes")
    if cfg.forward_delay is not None:
        lines.append("DELAY={0}".format(cfg.forward_delay))
    if cfg.mac_in_files:
        lines.append("MACADDR={0}".format(cfg.mac))
    if cfg.mtu:
        lines.append("MTU={0}".format(cfg.mtu))
    return "\n".join(lines) + "\n"


def render_released_port(existing, port_cfg):
    """ifcfg-<port> after the bridge is gone: BRIDGE= dropped, the addresses back."""
    if existing is None:
        lines = ["TYPE=Ethernet", "NAME={0}".format(port_cfg.name), "DEVICE={0}".format(port_cfg.name), "ONBOOT=yes"]
    else:
        lines = [line for line in existing.splitlines() if not _is_address_key(_key(line)) and _key(line) != "BRIDGE"]
    v4 = [c for c in port_cfg.ipcfgs if c.family == 4]
    _set(lines, "BOOTPROTO", "dhcp" if v4 and v4[0].mode == "dhcp" else "none")
    lines += _address_lines(port_cfg.ipcfgs)
    return "\n".join(lines) + "\n"


def _bonding_opts(bond):
    return '"{0}"'.format(" ".join("{0}={1}".format(name, value) for name, value in bond.kernel_options()))


def render_member(existing, port, bond):
    """ifcfg-<nic> as a bond port: the address keys commented out, MASTER=<bond>, SLAVE=yes."""
    text = render_port(existing, port, "-")
    lines = [line for line in text.splitlines() if _key(line) not in ("BRIDGE", "MASTER", "SLAVE") or line.startswith("#")]
    return "\n".join(lines + ["MASTER={0}".format(bond), "SLAVE=yes"]) + "\n"


def render_parent(existing, port):
    """ifcfg-<nic> under a VLAN: the address keys commented out, no bridge."""
    text = render_port(existing, port, "-")
    return "\n".join(line for line in text.splitlines() if _key(line) != "BRIDGE" or line.startswith("#")) + "\n"


def render_link(cfg, name, bridge, ipcfgs):
    """ifcfg-<bond> or ifcfg-<vlan>: BRIDGE=<bridge> for the bridge's port, else its addresses (ipcfgs)."""
    bond, vlan = cfg.bond, cfg.vlan
    if vlan is not None and name == vlan.name:
        lines = ["VLAN=yes", "TYPE=Vlan", "PHYSDEV={0}".format(vlan.parent), "VLAN_ID={0}".format(vlan.id)]
    else:
        lines = ["TYPE=Bond", "BONDING_MASTER=yes", "BONDING_OPTS={0}".format(_bonding_opts(bond))]
    v4 = [c for c in ipcfgs if c.family == 4]
    lines += ["NAME={0}".format(name), "DEVICE={0}".format(name), "ONBOOT=yes",
              "BOOTPROTO={0}".format("dhcp" if v4 and v4[0].mode == "dhcp" else "none")]
    lines += _address_lines(ipcfgs)
    if bridge:
        lines.append("BRIDGE={0}".format(bridge))
    return "\n".join(lines) + "\n"


class IfcfgBackend(BridgeBackend):
    name = "ifcfg"

    def check(self, which):
        return None  # files only; the live change is made with iproute2 as for every backend

    def _links(self, cfg, upper_bridge, upper_ipcfgs):
        result = {}
        bond, vlan = cfg.bond, cfg.vlan
        upper = vlan.name if vlan is not None else bond.name
        if bond is not None:
            for port in bond.ports:
                result[_path(port)] = render_member(self.files.read(_path(port)), port, bond.name)
            result[_path(bond.name)] = render_link(cfg, bond.name, upper_bridge if upper == bond.name else None,
                                                   upper_ipcfgs if upper == bond.name else [])
        if vlan is not None:
            if bond is None:
                result[_path(vlan.parent)] = render_parent(self.files.read(_path(vlan.parent)), vlan.parent)
            result[_path(vlan.name)] = render_link(cfg, vlan.name, upper_bridge, upper_ipcfgs)
        return result

    def present(self, cfg):
        result = {_path(cfg.name): render_bridge(cfg)}
        for port in cfg.ports:
            result[_path(port)] = render_port(self.files.read(_path(port)), port, cfg.name, cfg.mtu)
        if cfg.bond is not None or cfg.vlan is not None:
            result.update(self._links(cfg, cfg.name, []))
        return result

    def absent(self, name, port_cfg):
        result = {_path(name): None}
        if port_cfg is not None and (port_cfg.bond is not None or port_cfg.vlan is not None):
            result.update(self._links(port_cfg, None, port_cfg.ipcfgs))
        elif port_cfg is not None:
            result[_path(port_cfg.name)] = render_released_port(self.files.read(_path(port_cfg.name)), port_cfg)
        return result

    def reload_lines(self, names):
        # NetworkManager with the ifcfg-rh plugin (EL 8) re-reads the files; network-scripts (EL 7) read them at boot.
        return ["if command -v nmcli >/dev/null 2>&1 && nmcli -t general status >/dev/null 2>&1; then nmcli connection reload || true; fi"]
