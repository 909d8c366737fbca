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

netplan renders to systemd-networkd or NetworkManager; the live change is
made with iproute2, then `netplan generate` and a reload of the renderer
adopt it (`netplan apply` would also replug devices through udev, which
the rollback cannot undo, and is not available in a container).  The
rollback restores the files and runs the same generate and reload."""

from __future__ import annotations

import glob
import json
import os
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend

try:
    import yaml
    HAS_YAML = True
except ImportError:  # netplan itself needs python3-yaml; without it only plain block-style files are edited
    yaml = None
    HAS_YAML = False

HEADER = "# Managed by kvmops.hypervisor.kvm_bridge; local changes are overwritten."
DIRECTORY = "/etc/netplan"
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


def remove_ethernet(text, ids):
    """`text` (a netplan file) without the `network.ethernets` entries named in
    `ids`, line by line so that comments and layout stay; an `ethernets:`
    left empty goes too.  None when the file has no such entry; KvmError when
    its layout (flow style) cannot be edited line by line."""
    lines = text.split("\n")
    removed = False
    i = 0
    while i < len(lines):
        m = _KEY.match(lines[i])
        if not (m and m.group("indent") and _key_of(m.group("key")) == "ethernets"):
            i += 1
            continue
        rest = m.group("rest")
        if rest and not rest.startswith("#"):
            raise KvmError("backend: netplan: the ethernets of this file are in flow style; move the port's stanza "
                           "out by hand; nothing was changed")
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
            del lines[i:end]  # an ethernets: left empty (null) would not parse as a mapping
            continue
        i = end
    return "\n".join(lines) if removed else None


class NetplanBackend(BridgeBackend):
    name = "netplan"
    file_mode = 0o600  # netplan warns about (and newer versions refuse) files others can read

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

    @staticmethod
    def _stanzas(text, port):
        """The ids of `port`'s ethernets entries in a file (by id, set-name or match.name; only by id
        without PyYAML), whether the file surely defines it, and (match, set-name) of its entry."""
        ids, carried = {port}, {}
        if not HAS_YAML:
            return ids, False, carried
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return ids, False, carried
        ethernets = ((data.get("network") or {}) if isinstance(data, dict) else {}).get("ethernets") or {}
        found = False
        for key, value in ethernets.items() if isinstance(ethernets, dict) else ():
            value = value if isinstance(value, dict) else {}
            if key == port or value.get("set-name") == port or (value.get("match") or {}).get("name") == port:
                ids.add(key)
                found = True
                if not carried:
                    carried = dict((k, value[k]) for k in ("match", "set-name") if k in value)
        return ids, found, carried

    def _take_out(self, port, own, texts):
        """Take `port` out of the files that configure it (`texts`: {path: new text} so far);
        returns its match/set-name."""
        carried = {}
        for path in self._other_files(own):
            if not path.startswith(DIRECTORY + "/"):
                continue  # /lib and /run are not ours to edit; /etc overrides them
            text = texts.get(path, self.files.read(path))
            if text is None:
                continue
            ids, defined, found = self._stanzas(text, port)
            try:
                new = remove_ethernet(text, ids)
            except KvmError:
                new = None
            if new is None and not defined:
                continue
            if new is None:
                raise KvmError("backend: netplan: could not take {0} out of {1} (its layout is not block style); move "
                               "its stanza to the bridge by hand; nothing was changed".format(port, path))
            if HAS_YAML:
                self._verify(path, text, new, ids)
            texts[path] = new
            carried = carried or found
        return carried

    @staticmethod
    def _verify(path, before, after, ids):
        """The edited file means the old one without the port's entries, or nothing is changed."""
        try:
            old, new = yaml.safe_load(before) or {}, yaml.safe_load(after) or {}
        except yaml.YAMLError as e:
            raise KvmError("backend: netplan: {0} does not parse ({1}); nothing was changed".format(path, e))
        ethernets = old.get("network", {}).get("ethernets") or {}
        for key in ids:
            ethernets.pop(key, None)
        if not ethernets and "ethernets" in old.get("network", {}):
            del old["network"]["ethernets"]
        if old != new:
            raise KvmError("backend: netplan: could not take the port out of {0} line by line; move its stanza "
                           "to the bridge by hand; nothing was changed".format(path))

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

    def present(self, cfg):
        own = _path(cfg.name)
        result = {}
        carried = dict((port, self._take_out(port, {own}, result)) for port in cfg.ports)
        mine = self.files.read(own)
        for port in cfg.ports:  # once taken out, the port's match/set-name live in our own file
            if not carried[port] and mine:
                carried[port] = self._stanzas(mine, port)[2]
        lines = [HEADER, "network:", "  version: 2", "  ethernets:"]
        for port in cfg.ports:
            lines.append("    {0}:".format(_q(port)))
            lines += self._carried(carried.get(port) or {}, 6)
            lines += ["      dhcp4: false", "      dhcp6: false"]
            if cfg.mtu:
                lines.append("      mtu: {0}".format(int(cfg.mtu)))
        lines += ["  bridges:", "    {0}:".format(_q(cfg.name)),
                  "      interfaces: [{0}]".format(", ".join(_q(p) for p in cfg.ports))]
        if cfg.mac:
            lines.append("      macaddress: {0}".format(_q(cfg.mac)))
        if cfg.mtu:
            lines.append("      mtu: {0}".format(int(cfg.mtu)))
        lines += self._ip_lines([c for c in cfg.ipcfgs if c.managed], 6)
        lines += ["      parameters:", "        stp: {0}".format("true" if cfg.stp else "false")]
        if cfg.forward_delay is not None:
            lines.append("        forward-delay: {0}".format(int(cfg.forward_delay)))
        result[own] = "\n".join(lines) + "\n"
        for port in cfg.ports:
            result[_path(port)] = None
        return result

    def absent(self, name, port_cfg):
        result = {_path(name): None}
        if port_cfg is not None:
            lines = [HEADER, "network:", "  version: 2", "  ethernets:", "    {0}:".format(_q(port_cfg.name))]
            bridge_file = self.files.read(_path(name)) or ""
            carried = self._stanzas(bridge_file, port_cfg.name)[2] if bridge_file else {}
            lines += self._carried(carried, 6)
            lines += self._ip_lines([c for c in port_cfg.ipcfgs if c.managed], 6)
            result[_path(port_cfg.name)] = "\n".join(lines) + "\n"
        return result

    def boot_lines(self):
        # systemd ran netplan's generator before this unit, on the files of the unconfirmed change
        return ["netplan generate"]

    def reload_lines(self, names):
        return ["netplan generate",
                "if systemctl -q is-active systemd-networkd; then networkctl reload || true; fi",
                "if systemctl -q is-active NetworkManager; then nmcli connection reload || true; fi"]
