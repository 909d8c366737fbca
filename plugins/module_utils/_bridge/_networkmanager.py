# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkManager: keyfile profiles in /etc/NetworkManager/system-connections
(kvmops-<bridge>, kvmops-<bridge>-port-<port>; on release kvmops-<port>),
with a fixed UUID derived from the name so a re-run writes the same bytes.
Other profiles bound to a port by interface-name or by MAC get
autoconnect=false (the rollback restores them).  The live change is NetworkManager's own:
`nmcli connection reload` then `nmcli connection up` of the new profiles.

A bond is a profile type=bond ([bond] mode, miimon, lacp_rate,
xmit_hash_policy, primary: nm-settings-keyfile(5), nm-settings-nmcli(5)
"bond" setting) and one type=ethernet profile per port with master=<bond>,
slave-type=bond (kvmops-<bond>-port-<nic>).  A VLAN is type=vlan with [vlan]
id and parent.  The bridge's port (the VLAN, else the bond) is
kvmops-<bridge>-port-<name> with master=<bridge>, slave-type=bridge; once the
bridge is gone it is kvmops-<name> with the addresses.  A bond under a VLAN
(kvmops-<bond>) and a VLAN's parent NIC (kvmops-<nic>) have no address."""

from __future__ import annotations

import glob
import os
import shlex
import uuid

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend

DIRECTORY = "/etc/NetworkManager/system-connections"
_NAMESPACE = uuid.UUID("5b8e2f2c-6a43-4a57-9d0b-6f5e3c1a9b10")


def _id(*parts):
    return "kvmops-" + "-".join(parts)


def _path(conn_id):
    return "{0}/{1}.nmconnection".format(DIRECTORY, conn_id)


def _uuid(conn_id):
    return str(uuid.uuid5(_NAMESPACE, conn_id))


def _ip_sections(ipcfgs):
    lines = []
    for fam in (4, 6):
        cfgs = [c for c in ipcfgs if c.family == fam]
        c = cfgs[0] if cfgs else None
        lines += ["", "[ipv{0}]".format(fam)]
        if c is None or c.mode is None:
            lines.append("method={0}".format("disabled" if fam == 4 else "ignore"))
        elif c.mode == "dhcp":
            lines.append("method={0}".format("auto"))
        else:
            lines += ["address{0}={1}".format(n + 1, a) for n, a in enumerate(c.addresses)]
            if c.dns:
                lines.append("dns={0};".format(";".join(c.dns)))
            if c.gateway:
                lines.append("gateway={0}".format(c.gateway))
            lines.append("method=manual")
    return lines


def _connection(conn_id, kind, ifname, extra=()):
    return ["[connection]", "id={0}".format(conn_id), "uuid={0}".format(_uuid(conn_id)), "type={0}".format(kind),
            "autoconnect-priority=100", "interface-name={0}".format(ifname)] + list(extra)


def disable_autoconnect(text):
    """The same keyfile with autoconnect=false in its [connection] section."""
    out, section = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
        elif section == "connection" and stripped.split("=", 1)[0].strip() == "autoconnect":
            continue
        out.append(line)
        if stripped == "[connection]":
            out.append("autoconnect=false")
    return "\n".join(out) + "\n"


def _binding(text):
    """(interface-name, ethernet mac-address in lower case) of a keyfile; None where unset."""
    section, found = None, {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        elif "=" in stripped:
            key, value = (part.strip() for part in stripped.split("=", 1))
            found.setdefault((section, key), value)
    mac = found.get(("ethernet", "mac-address"))
    return found.get(("connection", "interface-name")), mac.lower() if mac else None


def _bond_section(bond):
    return ["", "[bond]"] + ["{0}={1}".format(name, value) for name, value in bond.kernel_options()]


_NO_IP = ["", "[ipv4]", "method=disabled", "", "[ipv6]", "method=ignore"]


def link_profiles(cfg, upper_id, upper_extra, upper_ip):
    """{path: keyfile} of the bond (its ports) and the VLAN under the bridge; the bridge's port (the VLAN, else
    the bond) is profile `upper_id` with `upper_extra` [connection] lines and `upper_ip` sections; the ids to
    bring up, in order."""
    result, ids = {}, []
    bond, vlan = cfg.bond, cfg.vlan
    upper = vlan.name if vlan is not None else bond.name
    if bond is not None:
        for port in bond.ports:
            port_id = _id(bond.name, "port", port)
            lines = _connection(port_id, "ethernet", port, ["master={0}".format(bond.name), "slave-type=bond"])
            result[_path(port_id)] = "\n".join(lines) + "\n"
            result[_path(_id(port))] = None
            ids.append(port_id)
        if upper == bond.name:
            lines = _connection(upper_id, "bond", bond.name, upper_extra) + _bond_section(bond) + upper_ip
        else:
            lines = _connection(_id(bond.name), "bond", bond.name) + _bond_section(bond) + _NO_IP
        result[_path(upper_id if upper == bond.name else _id(bond.name))] = "\n".join(lines) + "\n"
        ids.append(upper_id if upper == bond.name else _id(bond.name))
    if vlan is not None:
        if bond is None:  # the parent NIC: up, without an address of its own
            result[_path(_id(vlan.parent))] = "\n".join(_connection(_id(vlan.parent), "ethernet", vlan.parent) + _NO_IP) + "\n"
            ids.append(_id(vlan.parent))
        lines = _connection(upper_id, "vlan", vlan.name, upper_extra) + ["", "[vlan]", "id={0}".format(vlan.id),
                                                                         "parent={0}".format(vlan.parent)] + upper_ip
        result[_path(upper_id)] = "\n".join(lines) + "\n"
        ids.append(upper_id)
    return result, ids


def _lower(cfg):
    names = set()
    if cfg.bond is not None:
        names |= set(cfg.bond.ports)
    if cfg.vlan is not None and cfg.bond is None:
        names.add(cfg.vlan.parent)
    return names


class NetworkManagerBackend(BridgeBackend):
    name = "networkmanager"
    file_mode = 0o600  # NetworkManager ignores keyfiles others can read

    _link_ids = ()

    def check(self, which):
        if not which("nmcli"):
            raise KvmError("backend: networkmanager needs nmcli (NetworkManager), which is not installed on the managed host")

    def _others(self, ifnames, own):
        # Installers bind a NIC's profile by name or by MAC (NetworkManager's
        # own "Wired connection 1", cloud-init): both keep the port from the bridge.
        macs = set()
        for ifname in ifnames:
            mac = self.files.read("/sys/class/net/{0}/address".format(ifname))
            if mac and mac.strip():
                macs.add(mac.strip().lower())
        result = {}
        for real in sorted(glob.glob(os.path.join(self.files.root, DIRECTORY.lstrip("/"), "*"))):
            path = "/" + os.path.relpath(real, self.files.root)
            if path in own:
                continue
            text = self.files.read(path)
            if text is None:
                continue
            ifname, mac = _binding(text)
            if ifname not in ifnames and (mac is None or mac not in macs):
                continue
            new = disable_autoconnect(text)
            if new != text:
                result[path] = new
        return result

    def present(self, cfg):
        bridge_id = _id(cfg.name)
        extra = ["", "[bridge]", "stp={0}".format("true" if cfg.stp else "false")]
        if cfg.mac:
            extra.append("mac-address={0}".format(cfg.mac.upper()))
        if cfg.forward_delay is not None:
            extra.append("forward-delay={0}".format(cfg.forward_delay))
        if cfg.mtu:
            extra += ["", "[ethernet]", "mtu={0}".format(cfg.mtu)]
        lines = _connection(bridge_id, "bridge", cfg.name) + extra + _ip_sections(cfg.ipcfgs)
        result = {_path(bridge_id): "\n".join(lines) + "\n"}
        upper = cfg.vlan.name if cfg.vlan is not None else (cfg.bond.name if cfg.bond is not None else None)
        self._link_ids = []
        for port in cfg.ports:
            port_id = _id(cfg.name, "port", port)
            result[_path(_id(port))] = None
            if port == upper:
                files, self._link_ids = link_profiles(cfg, port_id, ["master={0}".format(cfg.name), "slave-type=bridge"],
                                                      ["", "[ethernet]", "mtu={0}".format(cfg.mtu)] if cfg.mtu else [])
                result.update(files)
                continue
            lines = _connection(port_id, "ethernet", port, ["master={0}".format(cfg.name), "slave-type=bridge"])
            if cfg.mtu:
                lines += ["", "[ethernet]", "mtu={0}".format(cfg.mtu)]
            result[_path(port_id)] = "\n".join(lines) + "\n"
        result.update(self._others(set(cfg.ports) | _lower(cfg), set(result)))
        return result

    def absent(self, name, port_cfg):
        result = {_path(_id(name)): None}
        for real in glob.glob(os.path.join(self.files.root, DIRECTORY.lstrip("/"), _id(name, "port", "*") + ".nmconnection")):
            result["/" + os.path.relpath(real, self.files.root)] = None
        self._link_ids = []
        if port_cfg is not None and (port_cfg.bond is not None or port_cfg.vlan is not None):
            files, self._link_ids = link_profiles(port_cfg, _id(port_cfg.name), [], _ip_sections(port_cfg.ipcfgs))
            result.update(files)
        elif port_cfg is not None:
            port_id = _id(port_cfg.name)
            lines = _connection(port_id, "ethernet", port_cfg.name) + _ip_sections(port_cfg.ipcfgs)
            result[_path(port_id)] = "\n".join(lines) + "\n"
        return result

    def reload_lines(self, names):
        return ["nmcli connection reload"]

    def change_lines(self, target, live, name, ports, present):
        return self.activate_lines(name, ports, present)

    def activate_lines(self, name, ports, present):
        """NetworkManager makes the live change itself: the new profiles go up."""
        # the bond's ports, the bond, the VLAN's parent, the VLAN (present() / absent() listed them) come up first
        links = list(getattr(self, "_link_ids", []))
        if present:
            ids = links + [i for i in [_id(name, "port", p) for p in ports] if i not in links] + [_id(name)]
        else:
            ids = links + [i for i in [_id(p) for p in ports] if i not in links]
        lines = ["nmcli connection reload"]
        lines += ["nmcli --wait 30 connection up id {0}".format(shlex.quote(i)) for i in ids]
        if not present:
            lines.append("if ip link show dev {0} >/dev/null 2>&1; then ip link del dev {0}; fi".format(shlex.quote(name)))
        return lines
