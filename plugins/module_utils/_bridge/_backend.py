# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every bridge backend implements (one file each: _networkd.py,
_ifupdown.py, _ifcfg.py, _networkmanager.py, _netplan.py), and what it is
given to render (NetConfig).

A backend only renders: it turns the desired bridge (or the port that gets
the address back) into file contents and shell lines.  The manager
(_manager.py) reads the live state, compares, arms the rollback, writes the
files and runs the lines."""

from __future__ import annotations

import abc

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import converge_script


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")


class BondConfig:
    """A bond (kernel module bonding) under the bridge, or under its VLAN.

    `mode` is the kernel's name (BOND_MODES); `ports` the member NICs;
    `miimon` (ms) an int or None; `lacp_rate` None, "slow" or "fast"
    (802.3ad only); `xmit_hash_policy` None or the kernel's name
    ("layer2", "layer3+4", ...); `primary` None or a member (active-backup only)."""

    def __init__(self, name, mode, ports=(), miimon=None, lacp_rate=None, xmit_hash_policy=None, primary=None):
        self.name = name
        self.mode = mode
        self.ports = list(ports)
        self.miimon = miimon
        self.lacp_rate = lacp_rate
        self.xmit_hash_policy = xmit_hash_policy
        self.primary = primary

    def kernel_options(self):
        """[(name, value)] of the bonding driver's options that are set, under the driver's own
        names (mode first): what ifcfg's BONDING_OPTS, NetworkManager's [bond] and ifupdown's
        bond-* lines spell, each in its own syntax."""
        options = [("mode", self.mode), ("miimon", self.miimon), ("lacp_rate", self.lacp_rate),
                   ("xmit_hash_policy", self.xmit_hash_policy), ("primary", self.primary)]
        return [(name, value) for name, value in options if value is not None and value != ""]

    def __repr__(self):
        return "BondConfig(%r, %r, %r)" % (self.name, self.mode, self.ports)


class VlanConfig:
    """An 802.1Q VLAN device (kernel module 8021q) under the bridge.

    `name` is the VLAN device (default "<parent>.<id>", at most 15 bytes),
    `id` an int 1..4094, `parent` a NIC or the bond's name (bond -> VLAN -> bridge)."""

    def __init__(self, id, parent, name=None):  # pylint: disable=redefined-builtin
        self.id = id
        self.parent = parent
        self.name = name or "%s.%d" % (parent, id)

    def __repr__(self):
        return "VlanConfig(%r, %r, %r)" % (self.name, self.id, self.parent)


class NetConfig:
    """What a backend renders: the bridge (or a released port) with resolved addresses.

    `ports` are the bridge's ports INCLUDING the upper device that is one of
    them: the bond's name, or the VLAN's name when there is a VLAN.  `bond`
    (BondConfig or None) and `vlan` (VlanConfig or None) are defined with the
    bridge; with both, `vlan.parent == bond.name`; bond members are
    `bond.ports`.  In absent(name, port_cfg) the released port_cfg is the
    device that gets the address back (the VLAN if any, else the bond) and
    carries the same `bond`/`vlan`: removing the bridge keeps the bond/VLAN
    defined and gives it the address."""

    def __init__(self, name, ports=(), mac=None, mac_in_files=False, mtu=None, stp=False, forward_delay=None, ipcfgs=(),
                 bond=None, vlan=None):
        self.name = name
        self.ports = list(ports)
        self.mac = mac
        self.mac_in_files = mac_in_files
        self.mtu = mtu
        self.stp = stp
        self.forward_delay = forward_delay
        self.ipcfgs = list(ipcfgs)
        self.bond = bond
        self.vlan = vlan


class BridgeBackend(abc.ABC):
    """check / present / absent / reload, and the live change.

    `files` is the managed host's file system (_files.Files): read(path),
    exists(path), root."""

    name = None
    file_mode = 0o644  # of a file the backend creates; a file that exists keeps its own

    def __init__(self, files):
        self.files = files

    @abc.abstractmethod
    def check(self, which):
        """Raise KvmError when the backend's tools are missing (which(cmd) -> path or None)."""

    def check_config(self, cfg):
        """Raise KvmError (before anything changes) when the backend cannot write `cfg` on this host,
        such as a bond without the package that reads its options."""
        return None

    @abc.abstractmethod
    def present(self, cfg):
        """{path: content, or None to delete} for the bridge of `cfg` (a NetConfig)."""

    @abc.abstractmethod
    def absent(self, name, port_cfg):
        """{path: content or None} once bridge `name` is gone; `port_cfg` (a NetConfig or None) is the port
        that gets the address back."""

    @abc.abstractmethod
    def reload_lines(self, names):
        """Shell lines that make the backend re-read its files (after the change and in the rollback)."""

    def boot_lines(self):
        """Shell lines the boot-time restore runs after putting the files back, before the network
        backend starts (netplan renders its files in a generator, before any unit runs)."""
        return []

    def change_lines(self, target, live, name, ports, present):
        """Shell lines of the live change, run as one transient unit after the files are written.

        By default iproute2 moves the host to `target` (only when the live
        state differs: `live` lists the differences), then the backend
        re-reads its files.  NetworkManager makes the change itself."""
        return (converge_script(target, strict=True) if live else []) + list(self.reload_lines([name] + list(ports)))
