# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkManager: keyfile profiles in /etc/NetworkManager/system-connections
(kvmops-<bridge>, kvmops-<bridge>-port-<port>; on release kvmops-<port>),
with a fixed UUID derived from the name so a re-run writes the same bytes.
Other profiles bound to a port by interface-name or by MAC get
autoconnect=false (the rollback restores them).  The live change is NetworkManager's own:
`nmcli connection reload` then `nmcli connection up` of the new profiles."""

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


class NetworkManagerBackend(BridgeBackend):
    name = "networkmanager"
    file_mode = 0o600  # NetworkManager ignores keyfiles others can read

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
        for port in cfg.ports:
            port_id = _id(cfg.name, "port", port)
            lines = _connection(port_id, "ethernet", port, ["master={0}".format(cfg.name), "slave-type=bridge"])
            if cfg.mtu:
                lines += ["", "[ethernet]", "mtu={0}".format(cfg.mtu)]
            result[_path(port_id)] = "\n".join(lines) + "\n"
            result[_path(_id(port))] = None
        result.update(self._others(set(cfg.ports), set(result)))
        return result

    def absent(self, name, port_cfg):
        result = {_path(_id(name)): None}
        for real in glob.glob(os.path.join(self.files.root, DIRECTORY.lstrip("/"), _id(name, "port", "*") + ".nmconnection")):
            result["/" + os.path.relpath(real, self.files.root)] = None
        if port_cfg is not None:
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
        if present:
            ids = [_id(name, "port", p) for p in ports] + [_id(name)]
        else:
            ids = [_id(p) for p in ports]
        lines = ["nmcli connection reload"]
        lines += ["nmcli --wait 30 connection up id {0}".format(shlex.quote(i)) for i in ids]
        if not present:
            lines.append("if ip link show dev {0} >/dev/null 2>&1; then ip link del dev {0}; fi".format(shlex.quote(name)))
        return lines
