# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netplan (Ubuntu): /etc/netplan/90-kvmops-<bridge>.yaml (mode 0600, as
netplan wants) holds the port and the bridge; it sorts after the
installer's and cloud-init's files.  The port's own stanza is taken out of
the file that configured it (50-cloud-init.yaml, 00-installer-config.yaml,
...), keeping that file's mode, owner, comments and every other
definition; its `match` and `set-name` move to the bridge's file, so a
NIC renamed by MAC keeps its name.

netplan renders to systemd-networkd or NetworkManager (`renderer:` set in
`network:`, per device type or per device; networkd by default).  The
bridge's file uses the renderer of the port's definition, written per
device (never globally: a global renderer in this file would move every
other device too).  With networkd the live change is made with iproute2,
then `netplan generate` and `networkctl reload` adopt it.  With
NetworkManager, NetworkManager makes it itself: `netplan generate` writes
the keyfiles netplan-<id>.nmconnection under
/run/NetworkManager/system-connections, `nmcli connection reload` reads
them, and `nmcli connection up` of the ports' and the bridge's profiles
activates them (a reload alone does not re-apply an active profile, and
NetworkManager's own DHCP profile "Wired connection 1" may take the NIC
first).  `netplan apply` would also replug devices through udev, which the
rollback cannot undo, and is not available in a container.  The rollback
restores the files and runs the same generate, reload and activation.

Bonds and VLANs (the bridge's port being a bond, a VLAN, or a VLAN on a
bond) go to the same file, in netplan's `bonds:` (interfaces, parameters:
mode, mii-monitor-interval, lacp-rate, transmit-hash-policy, primary) and
`vlans:` (id, link) sections; their member NICs are taken out of the files
that configured them like a plain port."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend, NetConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._networkmanager import disable_autoconnect

try:
    import yaml
    HAS_YAML = True
except ImportError:  # netplan itself needs python3-yaml; without it only plain block-style files are edited
    yaml = None
    HAS_YAML = False

HEADER = "# Managed by kvmops.hypervisor.kvm_bridge; local changes are overwritten."
DIRECTORY = "/etc/netplan"
NM = "NetworkManager"
NETWORKD = "networkd"
NM_CONNECTIONS = "/run/NetworkManager/system-connections"  # where `netplan generate` writes netplan-<id>.nmconnection
NM_PROFILES = "/etc/NetworkManager/system-connections"  # NetworkManager's own profiles
# netplan's device sections; a `renderer` key in one of them is the renderer of that type (not a device)
SECTIONS = ("ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs", "modems", "dummy-devices",
            "virtual-ethernets", "nm-devices")
_KEY = re.compile(r"""^(?P<indent>[ ]*)(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#:'"][^#:]*?)\s*:(?:\s+(?P<rest>.*))?$""")


def _path(name):
    return "{0}/90-kvmops-{1}.yaml".format(DIRECTORY, name)


def _q(value):
    """A YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(str(value))


def _key_of(text):
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return text.strip()


def _children(lines, start, indent):
    """Indices of the lines of the block that begins after line `start` (deeper than `indent`)."""
    end = start + 1
    while end < len(lines):
        line = lines[end]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(line) - len(line.lstrip(" ")) <= indent:
            break
        end += 1
    # trailing blank and comment lines belong to what follows
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].strip().startswith("#")):
        end -= 1
    return start + 1, end


def _comment_or_blank(line):
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _keyfile_binding(text):
    """(interface-name, ethernet mac-address in lower case) of a NetworkManager keyfile; None where unset."""
    section, found = None, {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        elif "=" in stripped and not stripped.startswith("#"):
            key, value = (part.strip() for part in stripped.split("=", 1))
            found.setdefault((section, key), value)
    mac = found.get(("ethernet", "mac-address"))
    return found.get(("connection", "interface-name")), mac.lower() if mac else None


def remove_ethernet(text, ids, section="ethernets"):
    """`text` (a netplan file) without the `network.<section>` entries named in
    `ids` (ethernets, bonds or vlans), line by line so that comments and layout
    stay; a section left empty goes too.  None when the file has no such
    entry; KvmError when its layout (flow style) cannot be edited line by line."""
    lines = text.split("\n")
    removed = False
    i = 0
    while i < len(lines):
        m = _KEY.match(lines[i])
        if not (m and m.group("indent") and _key_of(m.group("key")) == section):
            i += 1
            continue
        rest = m.group("rest")
        if rest and not rest.startswith("#"):
            raise KvmError("backend: netplan: the {0} of this file are in flow style; move the port's stanza "
                           "out by hand; nothing was changed".format(section))
        first, end = _children(lines, i, len(m.group("indent")))
        j, child_indent = first, None
        while j < end:
            line = lines[j]
            if _comment_or_blank(line):
                j += 1
                continue
            indent = len(line) - len(line.lstrip(" "))
            child_indent = indent if child_indent is None else child_indent
            cm = _KEY.match(line)
            if cm is None or indent != child_indent:
                j += 1
                continue
            _first, c_end = _children(lines, j, child_indent)
            if _key_of(cm.group("key")) in ids:
                del lines[j:c_end]
                end -= c_end - j
                removed = True
            else:
                j = c_end
        if all(_comment_or_blank(line) for line in lines[first:end]):
            del lines[i:end]  # a section left empty (null) would not parse as a mapping
            continue
        i = end
    return "\n".join(lines) if removed else None


class NetplanBackend(BridgeBackend):
    name = "netplan"
    file_mode = 0o600  # netplan warns about (and newer versions refuse) files others can read

    def __init__(self, files):
        super().__init__(files)
        self.renderer = None  # the renderer of the last present()/absent(): NetworkManager or networkd
        self._profiles = []  # netplan ids to activate with NetworkManager, in order (ports first)

    def check(self, which):
        if not which("netplan"):
            raise KvmError("backend: netplan needs the netplan command (netplan.io), which is not installed on the managed host")

    def _other_files(self, own):
        paths = []
        for directory in ("/lib/netplan", "/etc/netplan", "/run/netplan"):
            for real in sorted(glob.glob(os.path.join(self.files.root, directory.lstrip("/"), "*.yaml"))):
                path = "/" + os.path.relpath(real, self.files.root)
                if path not in own and not os.path.basename(path).startswith("90-kvmops-"):
                    paths.append(path)
        return paths

    # -- what netplan reads -------------------------------------------------------
    def _networks(self):
        """The `network:` mapping of every netplan file, in netplan's order: by
        file name, a file in /run hiding one of that name in /etc, and /etc in /lib."""
        by_name = {}
        for directory in ("/lib/netplan", "/etc/netplan", "/run/netplan"):
            for path in self.files.glob(directory + "/*.yaml"):
                by_name[os.path.basename(path)] = path
        result = []
        for base in sorted(by_name):
            try:
                data = yaml.safe_load(self.files.read(by_name[base]) or "") if HAS_YAML else None
            except yaml.YAMLError:
                data = None
            network = data.get("network") if isinstance(data, dict) else None
            if isinstance(network, dict):
                result.append(network)
        return result

    @staticmethod
    def _defines(section, key, value, name):
        if key == name:
            return True
        value = value if isinstance(value, dict) else {}
        return section == "ethernets" and (value.get("set-name") == name or (value.get("match") or {}).get("name") == name)

    def _definitions(self, name):
        """(the netplan ids that define device `name`, its renderer or None, the global renderer or None)."""
        ids, device, default = [], None, None
        for network in self._networks():
            if isinstance(network.get("renderer"), str):
                default = network["renderer"]
            for section in SECTIONS:
                entries = network.get(section)
                if not isinstance(entries, dict):
                    continue
                typed = entries.get("renderer") if isinstance(entries.get("renderer"), str) else None
                for key, value in entries.items():
                    if key == "renderer" or not self._defines(section, key, value, name):
                        continue
                    if key not in ids:
                        ids.append(key)
                    own = value.get("renderer") if isinstance(value, dict) else None
                    if isinstance(own, str) or typed:
                        device = own if isinstance(own, str) else typed
        return ids, device, default

    def _choose_renderer(self, name):
        """The renderer of device `name` (its definition's, else netplan's global one, else networkd) and
        the lines that give every device of this file that renderer."""
        _ids, device, default = self._definitions(name)
        renderer = NM if (device or default or NETWORKD) == NM else NETWORKD
        self.renderer = renderer
        if renderer == NM or (default or NETWORKD) != renderer:
            return ["renderer: {0}".format(renderer)]
        return []

    # -- taking the port out of the other files --------------------------------------
    @staticmethod
    def _stanzas(text, port, section="ethernets"):
        """The ids of `port`'s entries in a section of a file (ethernets: by id, set-name or match.name;
        only by id without PyYAML), whether the file surely defines it, and (match, set-name) of its entry."""
        ids, carried = {port}, {}
        if not HAS_YAML:
            return ids, False, carried
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return ids, False, carried
        entries = ((data.get("network") or {}) if isinstance(data, dict) else {}).get(section) or {}
        found = False
        for key, value in entries.items() if isinstance(entries, dict) else ():
            if key == "renderer" or not NetplanBackend._defines(section, key, value, port):
                continue
            value = value if isinstance(value, dict) else {}
            ids.add(key)
            found = True
            if not carried and section == "ethernets":
                carried = dict((k, value[k]) for k in ("match", "set-name") if k in value)
        return ids, found, carried

    def _take_out(self, port, own, texts, section="ethernets"):
        """Take `port` out of the files that configure it (`texts`: {path: new text} so far);
        returns its match/set-name."""
        carried = {}
        for path in self._other_files(own):
            if not path.startswith(DIRECTORY + "/"):
                continue  # /lib and /run are not ours to edit; /etc overrides them
            text = texts.get(path, self.files.read(path))
            if text is None:
                continue
            ids, defined, found = self._stanzas(text, port, section)
            try:
                new = remove_ethernet(text, ids, section)
            except KvmError:
                new = None
            if new is None and not defined:
                continue
            if new is None:
                raise KvmError("backend: netplan: could not take {0} out of {1} (its layout is not block style); move "
                               "its stanza to the bridge by hand; nothing was changed".format(port, path))
            if HAS_YAML:
                self._verify(path, text, new, ids, section)
            texts[path] = new
            carried = carried or found
        return carried

    @staticmethod
    def _verify(path, before, after, ids, section="ethernets"):
        """The edited file means the old one without the port's entries, or nothing is changed."""
        try:
            old, new = yaml.safe_load(before) or {}, yaml.safe_load(after) or {}
        except yaml.YAMLError as e:
            raise KvmError("backend: netplan: {0} does not parse ({1}); nothing was changed".format(path, e))
        entries = old.get("network", {}).get(section) or {}
        for key in ids:
            entries.pop(key, None)
        if not entries and section in old.get("network", {}):
            del old["network"][section]
        if old != new:
            raise KvmError("backend: netplan: could not take the port out of {0} line by line; move its stanza "
                           "to the bridge by hand; nothing was changed".format(path))

    # -- rendering ---------------------------------------------------------------------
    @staticmethod
    def _ip_lines(ipcfgs, indent):
        pad = " " * indent
        lines = []
        modes = dict((c.family, c.mode) for c in ipcfgs)
        lines.append("{0}dhcp4: {1}".format(pad, "true" if modes.get(4) == "dhcp" else "false"))
        lines.append("{0}dhcp6: {1}".format(pad, "true" if modes.get(6) == "dhcp" else "false"))
        static = [c for c in ipcfgs if c.mode == "static"]
        addresses = [a for c in static for a in c.addresses]
        if addresses:
            lines.append("{0}addresses: [{1}]".format(pad, ", ".join(_q(a) for a in addresses)))
        gateways = [c.gateway for c in static if c.gateway]
        if gateways:
            lines.append("{0}routes:".format(pad))
            for gateway in gateways:
                lines += ["{0}  - to: default".format(pad), "{0}    via: {1}".format(pad, _q(gateway))]
        dns = [d for c in static for d in c.dns]
        if dns:
            lines += ["{0}nameservers:".format(pad), "{0}  addresses: [{1}]".format(pad, ", ".join(_q(d) for d in dns))]
        return lines

    @staticmethod
    def _carried(carried, indent):
        pad = " " * indent
        lines = []
        match = carried.get("match")
        if isinstance(match, dict) and match:
            lines.append("{0}match:".format(pad))
            lines += ["{0}  {1}: {2}".format(pad, k, _q(v)) for k, v in sorted(match.items()) if not isinstance(v, (dict, list))]
        if carried.get("set-name"):
            lines.append("{0}set-name: {1}".format(pad, _q(carried["set-name"])))
        return lines

    @staticmethod
    def _nics(cfg):
        """The NICs under the bridge (a plain port, a bond's members, a VLAN's parent), in order."""
        nics = []
        for port in cfg.ports:
            if cfg.vlan is not None and port == cfg.vlan.name:
                below = cfg.bond.ports if cfg.bond is not None and cfg.vlan.parent == cfg.bond.name else [cfg.vlan.parent]
            elif cfg.bond is not None and port == cfg.bond.name:
                below = cfg.bond.ports
            else:
                below = [port]
            nics += [n for n in below if n not in nics]
        return nics

    def _stack(self, nics, carried, bond, vlan, renderer, mtu=None, address=None):
        """The ethernets:, bonds: and vlans: lines of the NICs, the bond and the VLAN; `address`
        is (device, ipcfgs) of the one that holds the address (a released port), or None."""
        def head(name):
            return ["    {0}:".format(_q(name))] + ["      " + r for r in renderer]

        def ip(name):
            if address is not None and address[0] == name:
                return self._ip_lines(address[1], 6)
            return ["      dhcp4: false", "      dhcp6: false"] + (["      mtu: {0}".format(int(mtu))] if mtu else [])
        lines = ["  ethernets:"]
        for nic in nics:
            lines += head(nic) + self._carried(carried.get(nic) or {}, 6) + ip(nic)
        if bond is not None:
            lines += ["  bonds:"] + head(bond.name)
            lines.append("      interfaces: [{0}]".format(", ".join(_q(p) for p in bond.ports)))
            lines += ip(bond.name) + ["      parameters:", "        mode: {0}".format(_q(bond.mode))]
            if bond.miimon is not None:
                lines.append("        mii-monitor-interval: {0}".format(int(bond.miimon)))
            if bond.lacp_rate:
                lines.append("        lacp-rate: {0}".format(_q(bond.lacp_rate)))
            if bond.xmit_hash_policy:
                lines.append("        transmit-hash-policy: {0}".format(_q(bond.xmit_hash_policy)))
            if bond.primary:
                lines.append("        primary: {0}".format(_q(bond.primary)))
        if vlan is not None:
            lines += ["  vlans:"] + head(vlan.name)
            lines += ["      id: {0}".format(int(vlan.id)), "      link: {0}".format(_q(vlan.parent))] + ip(vlan.name)
        return lines

    def _take_out_all(self, cfg, own, texts):
        """Take the NICs, the bond and the VLAN out of the other files; the NICs' match/set-name."""
        nics = self._nics(cfg)
        carried = dict((nic, self._take_out(nic, own, texts)) for nic in nics)
        if cfg.bond is not None:
            self._take_out(cfg.bond.name, own, texts, "bonds")
        if cfg.vlan is not None:
            self._take_out(cfg.vlan.name, own, texts, "vlans")
        return nics, carried

    def _nm_profiles(self, nics):
        """With the NetworkManager renderer: NetworkManager's own profiles bound to a NIC (by interface-name
        or MAC: a profile saved from the desktop, an installer's) get autoconnect=false, as the networkmanager
        backend does, so that at boot NetworkManager does not pick one of them over netplan's for the NIC
        (the rollback restores them)."""
        macs = set()
        for nic in nics:
            mac = self.files.read("/sys/class/net/{0}/address".format(nic))
            if mac and mac.strip():
                macs.add(mac.strip().lower())
        result = {}
        for path in self.files.glob(NM_PROFILES + "/*"):
            text = self.files.read(path)
            if text is None:
                continue
            ifname, mac = _keyfile_binding(text)
            if ifname in nics or (mac is not None and mac in macs):
                new = disable_autoconnect(text)
                if new != text:
                    result[path] = new
        return result

    def _uppers(self, cfg):
        return ([cfg.bond.name] if cfg.bond is not None else []) + ([cfg.vlan.name] if cfg.vlan is not None else [])

    def _plan_profiles(self, devices, bridge=None):
        """The netplan ids whose NetworkManager profiles the change (and its rollback) activates: every
        id that defines one of `devices` now (the rollback puts those back) and the devices themselves."""
        ids = []
        for device in devices:
            for i in self._definitions(device)[0] + [device]:
                if i not in ids:
                    ids.append(i)
        self._profiles = ids + ([bridge] if bridge else [])

    def present(self, cfg):
        own = _path(cfg.name)
        nics = self._nics(cfg)
        renderer = self._choose_renderer(nics[0] if nics else cfg.name)
        self._plan_profiles(nics + self._uppers(cfg) + [p for p in cfg.ports if p not in nics + self._uppers(cfg)], cfg.name)
        result = {}
        nics, carried = self._take_out_all(cfg, {own}, result)
        mine = self.files.read(own)
        for nic in nics:  # once taken out, the NIC's match/set-name live in our own file
            if not carried[nic] and mine:
                carried[nic] = self._stanzas(mine, nic)[2]
        lines = [HEADER, "network:", "  version: 2"]
        lines += self._stack(nics, carried, cfg.bond, cfg.vlan, renderer, cfg.mtu)
        lines += ["  bridges:", "    {0}:".format(_q(cfg.name))] + ["      " + r for r in renderer]
        lines.append("      interfaces: [{0}]".format(", ".join(_q(p) for p in cfg.ports)))
        if cfg.mac:
            lines.append("      macaddress: {0}".format(_q(cfg.mac)))
        if cfg.mtu:
            lines.append("      mtu: {0}".format(int(cfg.mtu)))
        lines += self._ip_lines([c for c in cfg.ipcfgs if c.managed], 6)
        lines += ["      parameters:", "        stp: {0}".format("true" if cfg.stp else "false")]
        if cfg.forward_delay is not None:
            lines.append("        forward-delay: {0}".format(int(cfg.forward_delay)))
        result[own] = "\n".join(lines) + "\n"
        for device in nics + self._uppers(cfg) + cfg.ports:
            result[_path(device)] = None  # a released port's own file (absent) is part of the bridge's now
        if self.renderer == NM:
            result.update(self._nm_profiles(nics))
        return result

    def absent(self, name, port_cfg):
        result = {_path(name): None}
        self.renderer, self._profiles = None, []
        if port_cfg is not None:
            nics = self._nics(NetConfig(name, [port_cfg.name], bond=port_cfg.bond, vlan=port_cfg.vlan))
            renderer = self._choose_renderer(port_cfg.name)
            self._plan_profiles(nics + self._uppers(port_cfg), name)  # the rollback brings the bridge back up
            bridge_file = self.files.read(_path(name)) or ""
            carried = dict((nic, self._stanzas(bridge_file, nic)[2] if bridge_file else {}) for nic in nics)
            lines = [HEADER, "network:", "  version: 2"]
            lines += self._stack(nics, carried, port_cfg.bond, port_cfg.vlan, renderer,
                                 address=(port_cfg.name, [c for c in port_cfg.ipcfgs if c.managed]))
            result[_path(port_cfg.name)] = "\n".join(lines) + "\n"
        return result

    # -- the live change -------------------------------------------------------------
    def boot_lines(self):
        # systemd ran netplan's generator before this unit, on the files of the unconfirmed change
        return ["netplan generate"]

    def _activation(self):
        """NetworkManager: bring up the netplan profiles that exist (after generate) among those of the change."""
        return ["if [ -f {0} ]; then nmcli --wait 30 connection up id {1}; fi".format(
            shlex.quote("{0}/netplan-{1}.nmconnection".format(NM_CONNECTIONS, i)), shlex.quote("netplan-" + i))
            for i in self._profiles]

    def reload_lines(self, names):
        lines = ["netplan generate",
                 "if systemctl -q is-active systemd-networkd; then networkctl reload || true; fi",
                 "if systemctl -q is-active NetworkManager; then nmcli connection reload || true; fi"]
        if self.renderer == NM:
            # a reload does not re-apply a profile that is active, and the rollback's profile must win
            # over NetworkManager's own "Wired connection 1": the profiles are brought up
            lines += self._activation()
        return lines

    def change_lines(self, target, live, name, ports, present):
        if self.renderer != NM:
            return super().change_lines(target, live, name, ports, present)
        # NetworkManager makes the change itself (as the networkmanager backend does): no iproute2 first,
        # which NetworkManager would then undo or fight
        lines = ["set -e", "netplan generate", "nmcli connection reload"] + self._activation()
        if not present:
            lines.append("if ip link show dev {0} >/dev/null 2>&1; then ip link del dev {0}; fi".format(shlex.quote(name)))
        return lines
