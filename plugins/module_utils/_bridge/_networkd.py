# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-networkd: a .netdev and a .network for the bridge, a .network per
port.  The files are named 10-kvmops-<name>.* so they sort before the
distribution's own (networkd uses the first .network that matches)."""

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
        return result

    def absent(self, name, port_cfg):
        result = {_path(name, "netdev"): None, _path(name, "network"): None}
        if port_cfg is not None:
            lines = [HEADER.rstrip("\n"), "[Match]", "Name={0}".format(port_cfg.name), ""] + _network_section(port_cfg.ipcfgs)
            result[_path(port_cfg.name, "network")] = "\n".join(lines) + "\n"
        return result

    def reload_lines(self, names):
        # networkd re-reads its files and reconfigures the links they match; the live
        # state is already what the files say, so this adopts rather than changes it.
        return ["if systemctl -q is-active systemd-networkd; then networkctl reload || true; fi"]
