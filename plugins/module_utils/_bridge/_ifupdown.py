# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian ifupdown: /etc/network/interfaces.d/kvmops-<name> holds the port
(manual) and the bridge stanzas (bridge_* options of bridge-utils).  A stanza
of a port elsewhere (the installer's `allow-hotplug ens33` / `iface ens33
inet static` in /etc/network/interfaces) is commented out, since ifupdown
refuses an interface defined twice; the rollback restores those files too.

A bond is an ifenslave stanza (bond-slaves, bond-mode, bond-miimon,
bond-lacp-rate, bond-xmit-hash-policy, bond-primary: ifenslave's
README.Debian); a VLAN is `iface <parent>.<id>` with vlan-raw-device
(vlan-interfaces(5)).  The bridge's port (the VLAN, else the bond) is in the
bridge's file; a bond under a VLAN is in kvmops-<bond>, which every bridge on
that trunk writes alike."""

from __future__ import annotations

import glob
import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BridgeBackend

HEADER = "# Managed by kvmops.hypervisor.kvm_bridge; local changes are overwritten."
INTERFACES = "/etc/network/interfaces"
DIRECTORY = "/etc/network/interfaces.d"
_STANZAS = ("iface", "auto", "allow-hotplug", "mapping", "source", "source-directory", "rename", "template")
MARK = "# kvmops kvm_bridge moved this to {0}: "


def _path(name):
    return "{0}/kvmops-{1}".format(DIRECTORY, name)


def comment_out(text, ifnames, target):
    """Comment out the stanzas (auto/allow-*/iface and their option lines) of ifnames."""
    out = []
    in_stanza = False
    for line in text.splitlines():
        words = line.split()
        first = words[0] if words else ""
        if first in _STANZAS or first.startswith("allow-"):
            in_stanza = False
            if first in ("auto",) or first.startswith("allow-"):
                names = words[1:]
                if any(n in ifnames for n in names):
                    rest = [n for n in names if n not in ifnames]
                    out.append(MARK.format(target) + line)
                    if rest:
                        out.append(" ".join([first] + rest))
                    continue
            elif first == "iface" and len(words) > 1 and words[1] in ifnames:
                in_stanza = True
                out.append(MARK.format(target) + line)
                continue
        elif in_stanza and line.strip() and not line.lstrip().startswith("#"):
            out.append(MARK.format(target) + line)
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") or out else "")


def _family_stanzas(ifname, ipcfgs, extra):
    lines = []
    for c in ipcfgs:
        inet = "inet" if c.family == 4 else "inet6"
        if c.mode == "dhcp":
            lines.append("iface {0} {1} {2}".format(ifname, inet, "dhcp" if c.family == 4 else "auto"))
            lines += ["    " + e for e in extra]
            extra = []
        elif c.mode == "static":
            lines.append("iface {0} {1} static".format(ifname, inet))
            lines += ["    address {0}".format(a) for a in c.addresses]
            if c.gateway:
                lines.append("    gateway {0}".format(c.gateway))
            if c.dns:
                lines.append("    dns-nameservers {0}".format(" ".join(c.dns)))
            lines += ["    " + e for e in extra]
            extra = []
    if extra:
        lines.append("iface {0} inet manual".format(ifname))
        lines += ["    " + e for e in extra]
    return lines


def bond_options(bond):
    return ["bond-slaves {0}".format(" ".join(bond.ports))] + [
        "bond-{0} {1}".format(name.replace("_", "-"), value) for name, value in bond.kernel_options()]


def upper_options(cfg):
    """The option lines that make the bridge's port (the VLAN, else the bond)."""
    if cfg.vlan is not None:
        return ["vlan-raw-device {0}".format(cfg.vlan.parent)]
    return bond_options(cfg.bond) if cfg.bond is not None else []


def lower_bond_file(bond):
    """kvmops-<bond> when the bond is under a VLAN: no address of its own."""
    return "\n".join([HEADER, "auto {0}".format(bond.name), "iface {0} inet manual".format(bond.name)]
                     + ["    " + o for o in bond_options(bond)]) + "\n"


def _lower(cfg):
    """The NICs (and the bond under a VLAN) whose stanzas elsewhere must go."""
    names = set()
    if cfg.bond is not None:
        names |= set(cfg.bond.ports) | {cfg.bond.name}
    if cfg.vlan is not None:
        names |= {cfg.vlan.parent, cfg.vlan.name}
    return names


class IfupdownBackend(BridgeBackend):
    name = "ifupdown"

    def check(self, which):
        if not which("ifup"):
            raise KvmError("backend: ifupdown needs the ifupdown package (ifup), which is not installed on the managed host")
        if not (self.files.exists("/etc/network/if-pre-up.d/bridge") or self.files.exists("/lib/bridge-utils/ifupdown.sh")):
            raise KvmError("backend: ifupdown needs bridge-utils for the bridge_ports option; install the bridge-utils package")
        main = self.files.read(INTERFACES) or ""
        if not any(line.split()[:1] in (["source"], ["source-directory"]) and "interfaces.d" in line
                   for line in main.splitlines()):
            raise KvmError("backend: {0} does not source {1}/*; add 'source {1}/*' to it".format(INTERFACES, DIRECTORY))

    def check_config(self, cfg):
        if cfg.bond is not None and not self.files.exists("/etc/network/if-pre-up.d/ifenslave"):
            raise KvmError("bond: the ifupdown backend needs the ifenslave package for the bond-* options "
                           "(/etc/network/if-pre-up.d/ifenslave is missing); nothing was changed")
        if cfg.vlan is not None and cfg.vlan.name != "{0}.{1}".format(cfg.vlan.parent, cfg.vlan.id):
            raise KvmError("vlan.name: the ifupdown backend makes a VLAN named <parent>.<id> ({0}.{1}), as ifupdown "
                           "itself does; leave vlan.name out".format(cfg.vlan.parent, cfg.vlan.id))

    def _other_files(self, own):
        root = self.files.root
        paths = [INTERFACES] + sorted("/" + os.path.relpath(p, root)
                                      for p in glob.glob(os.path.join(root, DIRECTORY.lstrip("/"), "*")))
        return [p for p in paths if p not in own and os.path.isfile(os.path.join(root, p.lstrip("/")))]

    def _moved(self, ifnames, target, own):
        result = {}
        for path in self._other_files(own):
            text = self.files.read(path)
            if text is None:
                continue
            new = comment_out(text, ifnames, target)
            if new != text:
                result[path] = new
        return result

    def present(self, cfg):
        own = _path(cfg.name)
        lines = [HEADER]
        upper = cfg.vlan.name if cfg.vlan is not None else (cfg.bond.name if cfg.bond is not None else None)
        for port in cfg.ports:
            lines += ["auto {0}".format(port), "iface {0} inet manual".format(port)]
            if port == upper:
                lines += ["    " + o for o in upper_options(cfg)]
            if cfg.mtu:
                lines.append("    mtu {0}".format(cfg.mtu))
            lines.append("")
        extra = ["bridge_ports {0}".format(" ".join(cfg.ports)), "bridge_stp {0}".format("on" if cfg.stp else "off")]
        if cfg.forward_delay is not None:
            extra.append("bridge_fd {0}".format(cfg.forward_delay))
        if cfg.mac:
            extra.append("bridge_hw {0}".format(cfg.mac))
        if cfg.mtu:
            extra.append("mtu {0}".format(cfg.mtu))
        lines.append("auto {0}".format(cfg.name))
        lines += _family_stanzas(cfg.name, [c for c in cfg.ipcfgs if c.managed], extra)
        result = {own: "\n".join(lines) + "\n"}
        mine = [own] + [_path(p) for p in cfg.ports]
        if cfg.bond is not None and cfg.vlan is not None:
            result[_path(cfg.bond.name)] = lower_bond_file(cfg.bond)
            mine.append(_path(cfg.bond.name))
        result.update(self._moved(set(cfg.ports) | {cfg.name} | _lower(cfg), own, mine))
        for port in cfg.ports:
            result[_path(port)] = None
        return result

    def absent(self, name, port_cfg):
        result = {_path(name): None}
        if port_cfg is not None:
            own = _path(port_cfg.name)
            lines = [HEADER, "auto {0}".format(port_cfg.name)]
            lines += _family_stanzas(port_cfg.name, [c for c in port_cfg.ipcfgs if c.managed], upper_options(port_cfg))
            result[own] = "\n".join(lines) + "\n"
            mine = [own, _path(name)]
            if port_cfg.bond is not None and port_cfg.vlan is not None:
                result[_path(port_cfg.bond.name)] = lower_bond_file(port_cfg.bond)
                mine.append(_path(port_cfg.bond.name))
            result.update(self._moved({port_cfg.name} | _lower(port_cfg), own, mine))
        return result

    def reload_lines(self, names):
        # The live change is made with iproute2 (ifup cannot take an address off a port
        # it did not configure); the files take effect at the next boot or ifup.
        return []
