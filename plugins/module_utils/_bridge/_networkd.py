# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-networkd: a .netdev and a .network for the bridge, a .network per
port.  The files are named 10-kvmops-<name>.* so they sort before the
distribution's own (networkd uses the first .network that matches).

A bond (systemd.netdev(5) Kind=bond, [Bond]) has a .netdev and a .network;
its ports' .network say Bond=.  A VLAN (Kind=vlan, [VLAN] Id=) is attached
by VLAN= in its parent's .network, written as a drop-in
10-kvmops-<parent>.network.d/kvmops-<vlan>.conf so that several VLANs on one
trunk (a bridge per VLAN, each its own kvm_bridge task) add up instead of
overwriting each other (systemd.network(5), drop-ins)."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend

HEADER = "# Managed by kvmops.hypervisor.kvm_bridge; local changes are overwritten.\n"
DIRECTORY = "/etc/systemd/network"


def _path(name, suffix):
    return "{0}/10-kvmops-{1}.{2}".format(DIRECTORY, name, suffix)


def _network_section(ipcfgs):
    lines = ["[Network]"]
    dhcp = [c.family for c in ipcfgs if c.mode == "dhcp"]
    if dhcp:
        lines.append("DHCP={0}".format("yes" if len(dhcp) == 2 else "ipv{0}".format(dhcp[0])))
    for c in ipcfgs:
        if c.mode == "static":
            lines += ["Address={0}".format(a) for a in c.addresses]
            if c.gateway:
                lines.append("Gateway={0}".format(c.gateway))
    for c in ipcfgs:
        if c.mode == "static":
            lines += ["DNS={0}".format(d) for d in c.dns]
    return lines


_LACP = dict(slow="slow", fast="fast")


def _file(lines):
    return "\n".join([HEADER.rstrip("\n")] + lines) + "\n"


def link_files(cfg, upper_network):
    """The bond's and the VLAN's files; `upper_network` are the [Network] lines of the bridge's port
    (the VLAN, else the bond): Bridge=<bridge> while present, its addresses once released."""
    result = {}
    bond, vlan = cfg.bond, cfg.vlan
    if bond is not None:
        netdev = ["[NetDev]", "Name={0}".format(bond.name), "Kind=bond", "", "[Bond]", "Mode={0}".format(bond.mode)]
        if bond.miimon is not None:
            netdev.append("MIIMonitorSec={0}ms".format(bond.miimon))
        if bond.lacp_rate:
            netdev.append("LACPTransmitRate={0}".format(_LACP[bond.lacp_rate]))
        if bond.xmit_hash_policy:
            netdev.append("TransmitHashPolicy={0}".format(bond.xmit_hash_policy))
        result[_path(bond.name, "netdev")] = _file(netdev)
        for port in bond.ports:
            lines = ["[Match]", "Name={0}".format(port), "", "[Network]", "Bond={0}".format(bond.name)]
            if bond.primary == port:
                lines.append("PrimarySlave=yes")
            result[_path(port, "network")] = _file(lines)
    if vlan is not None:
        result[_path(vlan.name, "netdev")] = _file(["[NetDev]", "Name={0}".format(vlan.name), "Kind=vlan", "",
                                                    "[VLAN]", "Id={0}".format(vlan.id)])
        # the parent carries no address of its own: the VLAN (or the bridge on it) has it
        result[_path(vlan.parent, "network")] = _file(["[Match]", "Name={0}".format(vlan.parent), "", "[Network]",
                                                       "LinkLocalAddressing=no", "ConfigureWithoutCarrier=yes"])
        result["{0}.d/kvmops-{1}.conf".format(_path(vlan.parent, "network"), vlan.name)] = _file(
            ["[Network]", "VLAN={0}".format(vlan.name)])
    upper = vlan.name if vlan is not None else (bond.name if bond is not None else None)
    if upper is not None:
        result[_path(upper, "network")] = _file(["[Match]", "Name={0}".format(upper), ""] + upper_network)
    return result


class NetworkdBackend(BridgeBackend):
    name = "networkd"

    def check(self, which):
        if not which("networkctl"):
            raise KvmError("backend: networkd needs networkctl (systemd-networkd), which is not installed on the managed host")

    def present(self, cfg):
        netdev = [HEADER.rstrip("\n"), "[NetDev]", "Name={0}".format(cfg.name), "Kind=bridge"]
        if cfg.mac:
            netdev.append("MACAddress={0}".format(cfg.mac))
        if cfg.mtu:
            netdev.append("MTUBytes={0}".format(cfg.mtu))
        netdev += ["", "[Bridge]", "STP={0}".format("yes" if cfg.stp else "no")]
        if cfg.forward_delay is not None:
            netdev.append("ForwardDelaySec={0}".format(cfg.forward_delay))
        network = [HEADER.rstrip("\n"), "[Match]", "Name={0}".format(cfg.name), ""] + _network_section(cfg.ipcfgs)
        if not [c for c in cfg.ipcfgs if c.family == 6 and c.managed]:
            network.append("LinkLocalAddressing=ipv6")
        network += ["ConfigureWithoutCarrier=yes"]
        result = {
            _path(cfg.name, "netdev"): "\n".join(netdev) + "\n",
            _path(cfg.name, "network"): "\n".join(network) + "\n",
        }
        for port in cfg.ports:
            lines = [HEADER.rstrip("\n"), "[Match]", "Name={0}".format(port), "", "[Network]", "Bridge={0}".format(cfg.name)]
            if cfg.mtu:
                lines += ["", "[Link]", "MTUBytes={0}".format(cfg.mtu)]
            result[_path(port, "network")] = "\n".join(lines) + "\n"
        bridge_port = ["[Network]", "Bridge={0}".format(cfg.name)] + (["", "[Link]", "MTUBytes={0}".format(cfg.mtu)] if cfg.mtu else [])
        result.update(link_files(cfg, bridge_port))
        return result

    def absent(self, name, port_cfg):
        result = {_path(name, "netdev"): None, _path(name, "network"): None}
        if port_cfg is not None:
            lines = [HEADER.rstrip("\n"), "[Match]", "Name={0}".format(port_cfg.name), ""] + _network_section(port_cfg.ipcfgs)
            result[_path(port_cfg.name, "network")] = "\n".join(lines) + "\n"
            # the bond / VLAN stays defined, now with the address (link_files writes the same .network)
            result.update(link_files(port_cfg, _network_section(port_cfg.ipcfgs)))
        return result

    def reload_lines(self, names):
        # networkd re-reads its files and reconfigures the links they match; the live
        # state is already what the files say, so this adopts rather than changes it.
        return ["if systemctl -q is-active systemd-networkd; then networkctl reload || true; fi"]
