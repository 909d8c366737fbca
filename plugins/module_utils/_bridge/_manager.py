# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge manager: plan the takeover (or the release) of a NIC's address
by a bridge, then apply it behind an armed rollback; and the module's back
end (KvmBridge) that hands those plans to the one runner, _module.run.
Check mode runs the same plan and skips only the writes.

The package (its __init__.py stays empty, as ansible-test's empty-init wants):
_spec.py      the desired bridge, validated from the module's parameters
_live.py      the live state (iproute2) and the script that converges it
_manager.py   the plan, the armed change, the confirmation (this file)
_rollback.py  lock, change ids, backup, restore script, the timer and the boot-time restore
_files.py     the one atomic file write (modes and owners kept)
_backend.py   the backend base class (check / present / absent / reload / live change) and NetConfig
_networkd.py _ifupdown.py _ifcfg.py _networkmanager.py _netplan.py  one file per backend
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import NetConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import BridgeSpec, IpConfig, validate_ifname
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._live import LiveReader, family_of
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._rollback import (
    CONFIRMED, NONE, PENDING, ROLLED_BACK, Rollback)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._networkd import NetworkdBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._ifupdown import IfupdownBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._ifcfg import IfcfgBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._networkmanager import NetworkManagerBackend
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._netplan import NetplanBackend

BACKEND_CLASSES = dict(networkd=NetworkdBackend, ifupdown=IfupdownBackend, ifcfg=IfcfgBackend,
                       networkmanager=NetworkManagerBackend, netplan=NetplanBackend)
PING_ATTEMPTS = 10


def detect_backend(run, files, which):
    """auto: whatever manages the host's network now.  netplan first: it
    renders to NetworkManager or networkd, which would otherwise be found
    running and given files beside netplan's (that fight at its next apply)."""
    def active(unit):
        return run(["systemctl", "-q", "is-active", unit])[0] == 0
    if which("netplan") and any(files.glob(d + "/*.yaml") for d in ("/etc/netplan", "/run/netplan", "/lib/netplan")):
        return "netplan"
    if active("NetworkManager"):
        return "networkmanager"
    if active("systemd-networkd"):
        return "networkd"
    if files.exists("/etc/network/interfaces") and files.exists("/sbin/ifup"):
        return "ifupdown"
    if files.exists("/etc/sysconfig/network-scripts"):
        return "ifcfg"
    raise KvmError("backend: auto found nothing managing the network (no netplan configuration, NetworkManager and "
                   "systemd-networkd inactive, no /etc/network/interfaces with ifupdown, no /etc/sysconfig/network-scripts); "
                   "set backend")


def kernel_features(spec, run, files, which):
    """What the kernel lacks for spec's bond/VLAN: [(field, module, message)].  A driver counts as there
    when its sysfs/procfs entry exists (built in or loaded) or `modprobe -n` finds it (loadable)."""
    def loadable(module):
        return bool(which("modprobe")) and run(["modprobe", "-n", "-q", module])[0] == 0
    missing = []
    if spec.bond is not None and not (files.exists("/sys/class/net/bonding_masters") or files.exists("/sys/module/bonding")
                                      or loadable("bonding")):
        missing.append(("bond", "kernel: the managed host has no bonding driver (module bonding: no "
                                "/sys/class/net/bonding_masters, modprobe -n bonding fails)"))
    if spec.vlan is not None and not (files.exists("/proc/net/vlan/config") or files.exists("/sys/module/8021q")
                                      or loadable("8021q")):
        missing.append(("vlan", "kernel: the managed host has no 802.1Q VLAN driver (module 8021q: no /proc/net/vlan, "
                                "modprobe -n 8021q fails)"))
    return missing


def links_of(spec):
    """The devices the module makes under the bridge, in creation order (bond, then VLAN), as plain dicts."""
    links = []
    if spec.bond is not None:
        b = spec.bond
        links.append(dict(kind="bond", name=b.name, exists=True, mode=b.mode, ports=list(b.ports), miimon=b.miimon,
                          lacp_rate=b.lacp_rate, xmit_hash_policy=b.xmit_hash_policy, primary=b.primary))
    if spec.vlan is not None:
        v = spec.vlan
        links.append(dict(kind="vlan", name=v.name, exists=True, id=v.id, parent=v.parent))
    return links


def _of(addresses, family):
    return [a for a in addresses if family_of(a) == family]


def _port(state, name):
    for p in state["ports"]:
        if p["name"] == name:
            return p
    return None


def _route_key(r):
    return (r["family"], r["gateway"], r["dev"])


class BridgeManager:
    def __init__(self, run, which, check_mode, files=None, reader=None, rollback=None, environ=None, sleep=time.sleep):
        self.run = run
        self.which = which
        self.check_mode = check_mode
        self.files = files or Files()
        self.reader = reader or LiveReader(run)
        self._rollback = rollback
        self.environ = os.environ if environ is None else environ
        self.sleep = sleep
        self._held = contextlib.ExitStack()

    def rollback_for(self, name):
        return self._rollback or Rollback(self.run, name)

    def _lock(self, rb):
        """Hold the bridge's lock from the plan's first read to the end of its apply (not in check mode)."""
        if not self.check_mode:
            self._held.enter_context(rb.lock())

    def release(self):
        self._held.close()

    def _locked_plan(self, rb, make_plan, *args):
        """make_plan(*args) under the bridge's lock, which stays held (until
        release()) only when the plan has something to apply."""
        self._lock(rb)
        try:
            plan = make_plan(*args)
        except BaseException:
            self.release()
            raise
        if not plan.changed:
            self.release()
        return plan

    # -- confirm --------------------------------------------------------------
    def plan_confirm(self, name, change_id=None):
        """The Plan of confirm_only: confirm the pending change of `name` (the one with `change_id` when given).

        Fails when that change was rolled back (by the timer, at boot, or by
        the module's own check), when no such change was armed here, and when
        a pending change has no rollback armed (it is then neither confirmed
        nor discarded: the message says how to roll it back)."""
        rb = self.rollback_for(name)
        return self._locked_plan(rb, self._plan_confirm, rb, name, change_id)

    def _plan_confirm(self, rb, name, change_id):
        status = rb.status()
        state = status["state"]
        plan = BridgePlan(name)
        plan.result = dict(pending=False, change=dict(id=status["id"], state=state), files=[])
        if state == PENDING:
            if change_id and change_id != status["id"]:
                raise KvmError("change_id: {0} is not the change of {1} waiting for confirmation ({2})".format(
                    change_id, name, status["id"]))
            if not rb.armed():
                raise KvmError("name: change {0} of {1} waits for confirmation but no rollback timer is armed for it "
                               "(it is not confirmed, nor discarded): roll it back with /bin/sh {2}/restore.sh, "
                               "then run the change again".format(status["id"], name, rb.dir))

            def confirm():
                try:
                    rb.confirm(status["id"])
                finally:
                    self.release()
            plan.add("confirm {0}: disarm {1} (change {2})".format(name, rb.unit, status["id"]), confirm)
            plan.result["change"] = dict(id=status["id"], state=CONFIRMED)
            return plan
        if state == ROLLED_BACK and (not change_id or change_id == status["id"]):
            raise KvmError("name: change {0} of {1} was rolled back ({2}, {3}), not confirmed; the bridge is as it was "
                           "before that change".format(status["id"], name, _BY.get(status["by"], status["by"]), status["time"]))
        if change_id and change_id != status["id"]:
            raise KvmError("change_id: no change {0} of {1} was armed on this host (the last one: {2})".format(
                change_id, name, "{0}, {1}".format(status["id"], state) if status["id"] else NONE))
        return plan

    # -- plan -------------------------------------------------------------------
    def _resolve(self, cfg, actual, port0, field):
        """The addresses, gateway and DNS a family ends up with on the bridge."""
        fam = cfg.family
        if cfg.mode == "static":
            return IpConfig(fam, "static", cfg.addresses, cfg.gateway, cfg.dns)
        source = _of(port0["addresses"], fam) or _of(actual["bridge"]["addresses"], fam)
        gateways = [r["gateway"] for r in actual["routes"] if r["family"] == fam]
        dns = [d for d in self.reader.nameservers() if ipaddress.ip_address(d).version == fam]
        if not source and cfg.mode == "takeover":
            raise ValidationError(field, "takeover found no IPv{0} address on {1} or {2}; give {3}.address or use dhcp".format(
                fam, port0["name"], actual["bridge"]["name"], field))
        return IpConfig(fam, "static" if cfg.mode == "takeover" else "dhcp", source, gateways[0] if gateways else None, dns)

    def _check_lower(self, spec, actual):
        """The bond's ports and the VLAN's parent NIC exist and belong to nothing else."""
        if spec.bond is not None:
            for p in spec.bond.ports:
                port = _port(actual, p)
                if not port["exists"]:
                    raise ValidationError("bond.ports", "no interface named {0!r} on the managed host".format(p))
                if port["master"] not in (None, spec.bond.name):
                    raise ValidationError("bond.ports", "{0!r} is a port of {1} already; release it there first".format(
                        p, port["master"]))
        if spec.vlan is not None and spec.bond is None:
            parent = _port(actual, spec.vlan.parent)
            if not parent["exists"]:
                raise ValidationError("vlan.parent", "no interface named {0!r} on the managed host".format(spec.vlan.parent))
            if parent["master"] is not None:
                raise ValidationError("vlan.parent", "{0!r} is a port of {1}; a VLAN on it would see none of its "
                                      "traffic".format(spec.vlan.parent, parent["master"]))
        for link in actual.get("links", []):
            field = "bond.name" if link["kind"] == "bond" else "vlan.name"
            if link["exists"] and link.get("live_kind") != link["kind"]:
                raise ValidationError(field, "{0!r} exists and is not a {1} (it is a {2})".format(
                    link["name"], link["kind"], link.get("live_kind") or "plain interface"))
            if link["exists"] and link["kind"] == "bond" and link.get("live_mode") not in (None, spec.bond.mode):
                raise ValidationError("bond.mode", "{0} runs in mode {1}; the module does not change a bond's mode live "
                                      "(delete the bond first)".format(link["name"], link["live_mode"]))
            if link["exists"] and link["kind"] == "vlan" and (link.get("live_id"), link.get("live_parent")) not in (
                    (None, None), (spec.vlan.id, spec.vlan.parent)):
                raise ValidationError("vlan.name", "{0} exists as VLAN {1} on {2}, not {3} on {4}".format(
                    link["name"], link.get("live_id"), link.get("live_parent"), spec.vlan.id, spec.vlan.parent))

    def plan_present(self, spec, actual):
        self._check_lower(spec, actual)
        for p in spec.ports:
            port = _port(actual, p)
            if not port["exists"]:
                raise ValidationError("ports", "no interface named {0!r} on the managed host".format(p))
            if port["master"] not in (None, spec.name):
                # Taking it would cut whatever runs through the other bridge (or bond) now.
                raise ValidationError("ports", "{0!r} is a port of {1} already; release it there first".format(p, port["master"]))
        port0 = _port(actual, spec.source)
        br = actual["bridge"]
        resolved = [self._resolve(c, actual, port0, "ipv{0}".format(c.family)) for c in spec.families]
        managed = [c.family for c in resolved]
        metrics = dict((r["family"], r["metric"]) for r in actual["routes"])
        addresses = [a for c in resolved for a in c.addresses]
        addresses += [a for a in br["addresses"] if family_of(a) not in managed]
        routes = [dict(family=c.family, gateway=c.gateway, dev=spec.name, metric=metrics.get(c.family))
                  for c in resolved if c.gateway]
        routes += [r for r in actual["routes"] if r["family"] not in managed]
        mac = spec.mac or port0["mac"]
        target = dict(
            bridge=dict(name=spec.name, exists=True, mac=mac, mtu=spec.mtu, stp=spec.stp, forward_delay=spec.forward_delay,
                        addresses=addresses),
            ports=[], routes=routes, families=managed)
        links = links_of(spec)
        if links:
            target["links"] = links
        made = [link["name"] for link in links]
        bond_ports = spec.bond.ports if spec.bond is not None else []
        for p in actual["ports"]:
            keep = [a for a in p["addresses"] if family_of(a) not in managed]
            if p["name"] in spec.bridge_ports:
                target["ports"].append(dict(name=p["name"], exists=True, mac=p["mac"], master=spec.name, mtu=spec.mtu, addresses=keep))
            elif p["name"] in bond_ports:
                target["ports"].append(dict(name=p["name"], exists=True, mac=p["mac"], master=spec.bond.name, mtu=None,
                                            addresses=keep))
            elif p["name"] in made or p["name"] in spec.lower:  # the bond under the VLAN, the VLAN's parent NIC
                target["ports"].append(dict(name=p["name"], exists=True, mac=p["mac"], master=None, mtu=None, addresses=keep))
            else:  # enslaved now, not wanted any more
                target["ports"].append(dict(name=p["name"], exists=True, mac=p["mac"], master=None, mtu=None, addresses=p["addresses"]))
        cfg = NetConfig(spec.name, spec.bridge_ports, mac, spec.mac is not None, spec.mtu, spec.stp, spec.forward_delay, resolved,
                        bond=spec.bond, vlan=spec.vlan)
        return target, cfg

    def plan_absent(self, spec, actual):
        br = actual["bridge"]
        if not br["exists"]:
            return actual, None
        names = ([spec.upper] if spec.upper else spec.ports) or [p["name"] for p in actual["ports"] if p["master"] == spec.name]
        port0 = _port(actual, names[0]) if names else None
        if port0 is not None and not port0["exists"]:
            field = "ports" if not spec.upper else ("vlan.name" if spec.vlan is not None else "bond.name")
            raise ValidationError(field, "no interface named {0!r} on the managed host".format(port0["name"]))
        target = dict(bridge=dict(br, exists=False), ports=[], routes=[], families=[4, 6])
        if actual.get("links"):
            target["links"] = [dict(link) for link in actual["links"]]  # kept as they are: the bond/VLAN stays
        lower = set(spec.lower) | set(link["name"] for link in actual.get("links", []))
        for p in actual["ports"]:
            addresses = list(p["addresses"])
            if port0 is not None and p["name"] == port0["name"]:
                addresses += [a for a in br["addresses"] if a not in addresses]
            master = p["master"] if p["name"] in lower and p["master"] != spec.name else None  # bond ports stay in it
            target["ports"].append(dict(p, master=master, addresses=addresses))
        if port0 is None:
            target["routes"] = [r for r in actual["routes"] if r["dev"] != spec.name]
            return target, None
        target["routes"] = [dict(r, dev=port0["name"]) if r["dev"] == spec.name else r for r in actual["routes"]]
        ipcfgs = []
        dns = self.reader.nameservers()
        for fam, cfg in ((4, spec.ipv4), (6, spec.ipv6)):
            addrs = _of(br["addresses"], fam)
            gateways = [r["gateway"] for r in actual["routes"] if r["family"] == fam and r["dev"] == spec.name]
            if cfg.mode == "dhcp":
                ipcfgs.append(IpConfig(fam, "dhcp"))
            elif addrs:
                ipcfgs.append(IpConfig(fam, "static", addrs, gateways[0] if gateways else None,
                                       [d for d in dns if ipaddress.ip_address(d).version == fam]))
        return target, NetConfig(port0["name"], ipcfgs=ipcfgs, bond=spec.bond if spec.upper else None,
                                 vlan=spec.vlan if spec.upper else None)

    def read_state(self, spec):
        """The live state of the bridge, its ports, the bond's ports and the VLAN's parent; with a bond or VLAN
        also "links": what the bond and the VLAN are now (exists, live_kind, live_mode, live_id, live_parent)."""
        names = list(spec.bridge_ports)
        names += [n for n in spec.lower + ([spec.bond.name] if spec.bond is not None and spec.vlan is not None else [])
                  if n not in names]
        actual = self.reader.state(spec.name, names)
        links = links_of(spec)
        for link in links:
            info = self.reader.link(link["name"])
            link.update(exists=info["exists"], live_kind=info.get("kind"), live_mode=info.get("bond_mode"),
                        live_id=info.get("vlan_id"), live_parent=info.get("vlan_parent"))
        if links:
            actual["links"] = links
        return actual

    @staticmethod
    def live_changes(actual, target):
        changes = []
        a_br, t_br = actual["bridge"], target["bridge"]
        name = t_br["name"]
        if a_br["exists"] != t_br["exists"]:
            changes.append("{0} bridge {1}".format("create" if t_br["exists"] else "delete", name))
        have_links = dict((link["name"], link) for link in actual.get("links", []))
        for link in target.get("links", []):
            if link["exists"] and not have_links.get(link["name"], {}).get("exists"):
                if link["kind"] == "bond":
                    changes.append("create bond {0} (mode {1}, ports {2})".format(link["name"], link["mode"], ", ".join(link["ports"])))
                else:
                    changes.append("create vlan {0} (id {1} on {2})".format(link["name"], link["id"], link["parent"]))
        if t_br["exists"]:
            for key in ("mac", "mtu", "stp", "forward_delay"):
                if t_br.get(key) is not None and (not a_br["exists"] or a_br[key] != t_br[key]):
                    changes.append("{0} {1}: {2} -> {3}".format(name, key, a_br[key], t_br[key]))
        devices = [(a_br, t_br)] + [(_port(actual, p["name"]), p) for p in target["ports"]]
        for a, t in devices:
            if not t.get("exists", True) or (t is t_br and not t_br["exists"]):
                continue
            if a is not None and a is not a_br and not a["exists"]:
                a = dict(a, master=None, mtu=None, addresses=[])  # made by this change (the bond or the VLAN)
            if t is not t_br:
                if a["master"] != t["master"]:
                    changes.append("{0} master: {1} -> {2}".format(t["name"], a["master"], t["master"]))
                if t.get("mtu") and a["mtu"] != t["mtu"]:
                    changes.append("{0} mtu: {1} -> {2}".format(t["name"], a["mtu"], t["mtu"]))
            have = sorted(x for x in a["addresses"] if family_of(x) in target["families"])
            want = sorted(x for x in t["addresses"] if family_of(x) in target["families"])
            if have != want:
                changes.append("{0} addresses: {1} -> {2}".format(t["name"], have, want))
        have_r = sorted(set(_route_key(r) for r in actual["routes"]))
        want_r = sorted(set(_route_key(r) for r in target["routes"]))
        if have_r != want_r:
            changes.append("default routes: {0} -> {1}".format(
                ["via {1} dev {2}".format(*r) for r in have_r], ["via {1} dev {2}".format(*r) for r in want_r]))
        return changes

    # -- apply ------------------------------------------------------------------
    def reachability_targets(self, target):
        checks = []
        for r in target["routes"]:
            checks.append(("gateway", r["gateway"], r["dev"]))
        conn = (self.environ.get("SSH_CONNECTION") or "").split()
        if conn and conn[0] not in [c[1] for c in checks]:
            checks.append(("controller (SSH_CONNECTION)", conn[0], None))
        return checks

    def _ping(self, address, dev):
        argv = ["ping", "-n", "-c", "1", "-W", "1"]
        if ipaddress.ip_address(address.split("%")[0]).version == 6:
            argv.append("-6")
        if dev:
            argv += ["-I", dev]
        for _attempt in range(PING_ATTEMPTS):
            if self.run(argv + [address])[0] == 0:
                return True
            self.sleep(0.5)
        return False

    def _needs(self):
        if not (self.which("systemd-run") and os.path.isdir("/run/systemd/system")):
            raise KvmError("kvm_bridge needs systemd (systemd-run) on the managed host to arm the rollback; nothing was changed")
        if not self.which("ip"):
            raise KvmError("kvm_bridge needs iproute2 (the ip command) on the managed host")

    def plan(self, spec):
        """The Plan of one bridge (reads only).  Outside check mode the bridge's
        lock is held from here to the end of the plan's apply."""
        rb = self.rollback_for(spec.name)
        if not self.check_mode:
            self._needs()
        return self._locked_plan(rb, self._plan, spec, rb)

    def _plan(self, spec, rb):
        status = rb.status()
        if status["state"] == PENDING:
            # Never confirmed nor discarded behind the user's back: only confirm_only or the rollback ends it.
            if rb.armed():
                raise KvmError("name: change {0} of {1} is waiting for confirmation (timer {2}.timer); confirm it with "
                               "confirm_only=true or let the timer roll it back, then run again".format(
                                   status["id"], spec.name, rb.unit))
            raise KvmError("name: change {0} of {1} was never confirmed and no rollback timer is armed for it; roll it "
                           "back with /bin/sh {2}/restore.sh, then run again".format(status["id"], spec.name, rb.dir))
        if self.check_mode:
            self._needs()
        backend_name = spec.backend if spec.backend != "auto" else detect_backend(self.run, self.files, self.which)
        backend = BACKEND_CLASSES[backend_name](self.files)
        backend.check(self.which)

        actual = self.read_state(spec)
        if spec.state == "present":
            made = dict((link["name"], link) for link in actual.get("links", []))
            missing = [(field, msg) for field, msg in kernel_features(spec, self.run, self.files, self.which)
                       if not made.get(spec.bond.name if field == "bond" else spec.vlan.name, {}).get("exists")]
            if missing:
                raise ValidationError(missing[0][0], "; ".join(m for _f, m in missing) + "; nothing was changed")
        port_cfg = None
        if spec.state == "present":
            target, cfg = self.plan_present(spec, actual)
            backend.check_config(cfg)
            wanted_files = backend.present(cfg)
        else:
            target, port_cfg = self.plan_absent(spec, actual)
            wanted_files = backend.absent(spec.name, port_cfg)
        file_changes = {}
        for path, content in sorted(wanted_files.items()):
            before = self.files.read(path)
            if before != content:
                file_changes[path] = (before, content)
        live = self.live_changes(actual, target)

        plan = BridgePlan(spec.name)
        labels = ["{0} {1}".format("delete" if after is None else "write", path) for path, (_b, after) in file_changes.items()]
        labels += live
        plan.files = [dict(before_header=path, after_header=path, before=b or "", after=a or "")
                      for path, (b, a) in file_changes.items()]
        if live:
            plan.files.append(dict(before_header="live state", after_header="live state",
                                   before=_describe(actual), after=_describe(target)))
        plan.result = dict(backend=backend_name, files=sorted(file_changes), bridge=_summary(spec, target), pending=False,
                           reached=[])
        if not labels:
            return plan
        ports = spec.bridge_ports if spec.state == "present" else ([port_cfg.name] if port_cfg is not None else [])

        def apply():
            try:
                self._apply(spec, rb, backend, actual, target, live, ports, file_changes, plan.result)
            finally:
                self.release()
        # One apply for the whole change: it is armed, made and checked as one, and rolled back as one.
        plan.add(labels[0], apply)
        for label in labels[1:]:
            plan.add(label)
        return plan

    def _apply(self, spec, rb, backend, actual, target, live, ports, file_changes, result):
        reload_lines = backend.reload_lines([spec.name] + spec.bridge_ports + spec.lower)
        change_lines = backend.change_lines(target, live, spec.name, ports, spec.state == "present")
        change_id = rb.prepare(dict((p, b) for p, (b, _a) in file_changes.items()), actual, reload_lines, backend.boot_lines())
        rb.arm(spec.rollback_timeout)
        result["change_id"] = change_id
        try:
            for path, (_b, after) in file_changes.items():
                if after is None:
                    self.files.delete(path)
                else:
                    self.files.write(path, after, backend.file_mode)
            rb.apply(change_lines)
        except KvmError as e:
            rb.restore_now()
            raise KvmError("{0}; rolled back to the previous configuration".format(e))
        except (IOError, OSError) as e:
            rb.restore_now()
            raise KvmError("writing the configuration failed ({0}); rolled back to the previous configuration".format(e))

        unreachable = []
        for what, address, dev in self.reachability_targets(target):
            if self._ping(address, dev):
                result["reached"].append(address)
            else:
                unreachable.append("{0} {1}{2}".format(what, address, " through " + dev if dev else ""))
        if unreachable:
            rb.restore_now()
            raise KvmError("after the change the host could not reach {0}; rolled back to the previous addresses and "
                           "configuration".format(", ".join(unreachable)))
        if spec.confirm:
            rb.confirm(change_id)
        else:
            result["pending"] = True
            result["rollback"] = dict(unit=rb.unit + ".timer", timeout=spec.rollback_timeout, directory=rb.dir,
                                      change_id=change_id, boot_unit=rb.boot_unit)


class BridgePlan(Plan):
    """A bridge's Plan: its diff is one entry per file (and one for the live
    state), each with the file's text before and after, as --diff prints
    files; `files` holds those entries."""

    def __init__(self, name):
        super().__init__(name)
        self.files = []

    def diff(self):
        return list(self.files)


class ConfirmSpec:
    """confirm_only: the bridge and, optionally, the id of the change to confirm."""

    def __init__(self, name, change_id):
        self.name = name
        self.change_id = change_id


class KvmBridge(Backend):
    """kvm_bridge's back end for _module.run: no libvirt, one item."""

    needs_libvirt = False

    def __init__(self, module, connection=None, manager=None):
        super().__init__(module, connection)
        self.manager = manager or BridgeManager(module.run_command, module.get_bin_path, module.check_mode)

    def specs(self, params):
        if params.get("confirm_only"):
            return [ConfirmSpec(validate_ifname("name", params["name"]), params.get("change_id"))]
        return [BridgeSpec.from_params(params)]

    def plan(self, spec):
        if isinstance(spec, ConfirmSpec):
            return self.manager.plan_confirm(spec.name, spec.change_id)
        return self.manager.plan(spec)


_BY = dict(timer="by the rollback timer", now="by the module: a check after the change failed",
           boot="at boot, the change being unconfirmed")


def _describe(state):
    lines = []
    br = state["bridge"]
    if br["exists"]:
        lines.append("{0}: bridge mac={1} mtu={2} stp={3} forward_delay={4}".format(
            br["name"], br["mac"], br["mtu"], br["stp"], br["forward_delay"]))
        lines += ["  address {0}".format(a) for a in br["addresses"]]
    else:
        lines.append("{0}: absent".format(br["name"]))
    for p in state["ports"]:
        lines.append("{0}: master={1}".format(p["name"], p["master"]))
        lines += ["  address {0}".format(a) for a in p["addresses"]]
    lines += ["default via {0} dev {1}".format(r["gateway"], r["dev"]) for r in state["routes"]]
    return "\n".join(lines) + "\n"


def _summary(spec, target):
    br = target["bridge"]
    return dict(name=spec.name, present=br["exists"], ports=[p["name"] for p in target["ports"] if p["master"] == spec.name],
                addresses=br["addresses"] if br["exists"] else [], mac=br["mac"] if br["exists"] else None,
                gateways=[r["gateway"] for r in target["routes"] if r["dev"] == spec.name], stp=br["stp"] if br["exists"] else None)
