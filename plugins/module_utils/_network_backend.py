# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_network's plan and apply: plan_definition decides (purely, from
libvirt's inactive and live XML) what one network needs; NetworkBackend
reads the network, checks the host (bridge, subnet) and turns that decision
into the labelled actions _module.run applies (or, checking, only reports).

A refusal that means another client changed the network after our read
("already exists", "already active") is raised as ConcurrentChangeError and
re-planned by the runner: it is never undone, since what is there now is the
other client's.  Any other failure of a start or restart puts back what this
run changed (a network it defined is undefined again; a replaced definition,
autostart and run state are restored), so nothing is left half-applied."""

from __future__ import annotations

import ipaddress
import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _routes
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, LibvirtError, NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONCURRENT_RETRIES
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_spec import NetworkSpec
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_xml import (
    DEFAULT_FORWARD,
    build_definition,
    definition_differences,
    dhcp_ranges,
    flat,
    forward_mode,
    ipv4_element,
    is_dhcp_path,
    range_xml,
    summary,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._pool import is_local
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string


class NetworkChanges:
    """What a run must do to one network, decided (purely) before anything is
    written; NetworkBackend.plan turns it into labelled actions."""

    def __init__(self, spec):
        self.spec = spec
        # Records what differs (Plan.differ); NetworkBackend.plan adds the actions to it.
        self.tracker = Plan(spec.name)
        self.create = False
        self.define_xml = None     # element to define, when the definition changes
        self.live_update = None    # [(command, range xml)], when DHCP ranges change on a running network
        self.dhcp_index = None     # index of the IPv4 <ip> for virNetworkUpdate
        self.restart = False       # destroy + create to apply a changed definition
        self.restart_required = False
        self.start = False
        self.stop = False
        self.set_autostart = None
        self.predicted = {}

    @property
    def changed(self):
        return bool(self.tracker.before or self.tracker.after)


def plan_definition(spec, inactive, live=None, active=False, autostart=False):
    """Plan for state=present against libvirt's inactive XML (None when the
    network does not exist) and, when active, its live XML."""
    plan = NetworkChanges(spec)
    if inactive is None:
        spec.check_forward(spec.forward or DEFAULT_FORWARD)
        plan.create = True
        plan.define_xml = build_definition(spec, None)
        _check_address(plan.define_xml)
        after = summary(plan.define_xml)
        plan.tracker.differ("state", "absent", "present")
        for key, value in flat(after).items():
            if value is not None:
                plan.tracker.differ(key, None, value)
        plan.start = spec.active
        plan.set_autostart = spec.autostart or None
        if spec.autostart:
            plan.tracker.differ("autostart", False, True)
        if spec.active:
            plan.tracker.differ("active", False, True)
        plan.predicted = summary(plan.define_xml, spec.active, spec.autostart)
        return plan

    spec.check_forward(spec.forward or forward_mode(inactive))
    differences = definition_differences(spec, inactive)
    new = inactive
    if differences:
        new = build_definition(spec, inactive)
        _check_address(new)
        plan.define_xml = new
        before, after = flat(summary(inactive)), flat(summary(new))
        for key in sorted(before):
            plan.tracker.differ(key, before[key], after[key])
        if len(dhcp_ranges(inactive)) > 1:
            plan.tracker.differ("ipv4.dhcp_ranges", [list(r) for r in dhcp_ranges(inactive)], [list(r) for r in dhcp_ranges(new)])
        if not plan.changed:  # a difference the summary does not show
            plan.tracker.differ("definition", [d[0] for d in differences], "as specified")
    # What the running network lacks; more than `differences` when an earlier
    # definition was saved without a restart.
    live_differences = definition_differences(spec, live) if active and live is not None else []
    pending = bool(live_differences) and not differences
    if active and spec.active:
        only_dhcp = differences and all(is_dhcp_path(path) for path, _w, _h in differences + live_differences)
        if only_dhcp and dhcp_ranges(live) == dhcp_ranges(inactive):
            plan.live_update, plan.dhcp_index = _dhcp_commands(spec, inactive)
        elif differences or pending:
            if spec.restart:
                plan.restart = True
                if not differences:
                    plan.tracker.differ("running", "outdated definition", "restarted with the defined one")
            else:
                plan.restart_required = True
    if spec.active and not active:
        plan.start = True
        plan.tracker.differ("active", False, True)
    elif active and not spec.active:
        plan.stop = True
        plan.tracker.differ("active", True, False)
    if bool(autostart) != spec.autostart:
        plan.set_autostart = spec.autostart
        plan.tracker.differ("autostart", bool(autostart), spec.autostart)
    plan.predicted = summary(new, spec.active, spec.autostart)
    return plan


def _check_address(root):
    """libvirt refuses a NAT or routed network without an IP address."""
    mode = forward_mode(root)
    if mode in ("nat", "route") and root.find("ip") is None:
        raise ValidationError("ipv4", "is required with forward: {0} (libvirt {1} the network's subnet); "
                              "give ipv4.address, or use forward: isolated".format(mode, "masquerades" if mode == "nat" else "routes"))


def _dhcp_commands(spec, inactive):
    """virNetworkUpdate commands turning the ranges of `inactive` into the
    one the user asked for: add the new range first, then delete the old."""
    want = (spec.ipv4.dhcp_start, spec.ipv4.dhcp_end)
    have = dhcp_ranges(inactive)
    _ip, index = ipv4_element(inactive)
    commands = []
    if want not in have:
        commands.append(("add", want))
    commands.extend(("delete", r) for r in have if r != want)
    return commands, index


# ---------------------------------------------------------------- libvirt

class NetworkBackend(Backend):
    """kvm_network behind _module.run: one libvirt network per run."""

    def specs(self, params):
        return [NetworkSpec.from_params(params)]

    def plan(self, spec):
        # A host check that finds the network started by another client after
        # our read reads again (the network's own bridge then holds the name).
        for attempt in range(CONCURRENT_RETRIES + 1):
            try:
                return self._plan_absent(spec) if spec.state == "absent" else self._plan_present(spec)
            except ConcurrentChangeError:
                if attempt == CONCURRENT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def applied(self, spec, plan):
        if spec.state == "absent":
            return plan.result
        network = self.connection.network(spec.name)
        result = dict(plan.result)
        if network is not None:
            result["network"] = summary(self._inactive_xml(network, spec.name), self._is(network, "isActive"),
                                        self._is(network, "autostart"))
        return result

    # -- state: absent
    def _plan_absent(self, spec):
        plan = Plan(spec.name)
        plan.result = dict(network={}, restarted=False)
        network = self.connection.network(spec.name)
        if network is None:
            return plan
        active = self._is(network, "isActive")
        persistent = self._is(network, "isPersistent")
        plan.differ("state", "present", "absent")
        if active:
            plan.differ("active", True, False)
            plan.add("stop network", lambda: self._call("stop network {0}".format(spec.name), network.destroy))
        if persistent:
            plan.add("undefine network", lambda: self._call("undefine network {0}".format(spec.name), network.undefine))
        return plan

    # -- state: present
    def _plan_present(self, spec):
        network = self.connection.network(spec.name)
        inactive = live = None
        active = autostart = False
        if network is not None:
            inactive = self._inactive_xml(network, spec.name)
            active = self._is(network, "isActive")
            autostart = self._is(network, "autostart")
            if active:
                live = parse(self._call("read network {0}".format(spec.name), network.XMLDesc, 0))
        changes = plan_definition(spec, inactive, live, active, autostart)
        self._check_bridge(spec, changes, live)
        self._check_dev(spec, changes)
        self._check_subnet(spec, changes, live, inactive)

        plan = changes.tracker
        plan.result = dict(network=changes.predicted, restarted=changes.restart, restart_required=changes.restart_required,
                           live_updated=bool(changes.live_update))
        _Apply(self.connection, spec, network, inactive, active, autostart).add_actions(plan, changes)
        return plan

    def _inactive_xml(self, network, name):
        """The definition libvirt would start the network with.  Drivers
        without VIR_NETWORK_XML_INACTIVE (the test driver) keep no separate
        live state, so their plain XML is that definition."""
        try:
            return parse(network.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                raise self.connection.error("read network {0}".format(name), e)
        return parse(self._call("read network {0}".format(name), network.XMLDesc, 0))

    def _check_bridge(self, spec, changes, live):
        """Before any write: a bridge-mode network needs its host bridge; any
        other mode creates its own and must not take an existing interface."""
        if spec.bridge is None or changes.define_xml is None:
            return
        mode = forward_mode(changes.define_xml)
        kind = self._interface_type(spec.bridge)
        if mode == "bridge":
            if kind is None:
                raise NotFoundError("bridge", "host bridge {0!r} does not exist; create it first (e.g. with kvmops.hypervisor.kvm_bridge)".format(
                    spec.bridge))
            if kind != "bridge":
                raise ValidationError("bridge", "host interface {0!r} is not a bridge (type {1})".format(spec.bridge, kind))
            return
        own = _bridge_name(live)
        if kind is not None and own != spec.bridge and live is None and self._started_meanwhile(spec.name):
            # Another run started this very network after our read: the bridge is its own.
            raise ConcurrentChangeError("start network {0}".format(spec.name), "another client started it while this run planned")
        if kind is not None and own != spec.bridge:
            raise ValidationError("bridge", "{0!r} is an existing host interface; with forward: {1} libvirt creates the bridge itself, "
                                  "so pick an unused name (e.g. virbr10)".format(spec.bridge, mode))

    def _check_dev(self, spec, changes):
        """Before any write: the host interface of a macvtap network exists."""
        if spec.dev is None or changes.define_xml is None or forward_mode(changes.define_xml) != "macvtap":
            return
        if self._interface_type(spec.dev) is None:
            raise NotFoundError("dev", "host interface {0!r} does not exist; give the host interface the guests share "
                                "(e.g. eno1)".format(spec.dev))

    def _check_subnet(self, spec, changes, live, inactive=None):
        """Before any write: the ipv4 subnet of a network this run starts must
        not be routed through another host interface (libvirt would refuse to
        start it).  The subnet given, else the one of the definition the
        network starts with (a run that only changes its mtu must not redefine
        it and then fail to start it).  Local URIs only: the routes read are
        this host's."""
        if not (changes.restart or changes.start) or not is_local(self.connection.uri):
            return
        subnet = spec.ipv4.subnet if spec.ipv4 is not None else _subnet(
            changes.define_xml if changes.define_xml is not None else inactive)
        table = _routes.read_table() if subnet is not None else None
        if table is None:
            return
        owner = _routes.owner(subnet, table, ignore=_bridge_name(live))
        if owner is not None and live is None and self._started_meanwhile(spec.name):
            # Another run started this very network after our read: its bridge
            # holds the subnet.  Plan again rather than blame the subnet.
            raise ConcurrentChangeError("start network {0}".format(spec.name),
                                        "another client started it while this run planned")
        if owner is not None:
            raise ValidationError("ipv4.address", "the subnet {0}{3} is already in use by host interface {1}; libvirt would refuse to "
                                  "start network {2}: pick another subnet".format(
                                      subnet, owner, spec.name, "" if spec.ipv4 is not None else " of the network's definition"))

    def _started_meanwhile(self, name):
        network = self.connection.network(name)
        return network is not None and self._is(network, "isActive")

    def _interface_type(self, name):
        """'bridge', another interface type, or None when there is no such host interface."""
        try:
            iface = self.connection.conn.interfaceLookupByName(name)
            xml = parse(iface.XMLDesc(0))
            return xml.get("type") or "unknown"
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_INTERFACE:
                return None
            if e.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
                raise LibvirtError("look up host interface {0}".format(name), e)
        # No interface driver in this libvirtd: look at the host this module runs on.
        if not os.path.exists(os.path.join("/sys/class/net", name)):
            return None
        return "bridge" if os.path.isdir(os.path.join("/sys/class/net", name, "bridge")) else "ethernet"

    def _is(self, network, method):
        return bool(self._call("check network {0}".format(network.name()), getattr(network, method)))

    def _call(self, action, func, *args):
        return self.connection.call(action, func, *args)


def _subnet(root):
    """The IPv4 subnet of a network XML, or None."""
    ipv4 = summary(root)["ipv4"] if root is not None else None
    if ipv4 is None or ipv4["prefix"] is None:
        return None
    return ipaddress.IPv4Network("{0}/{1}".format(ipv4["address"], ipv4["prefix"]), strict=False)


def _bridge_name(root):
    bridge = root.find("bridge") if root is not None else None
    return bridge.get("name") if bridge is not None else None


class _Apply:
    """The writes of one plan, in order, over one network handle.  Every step
    after the (re)definition is guarded: a failure that is not another
    client's doing puts back what this run changed."""

    def __init__(self, connection, spec, network, inactive, active, autostart):  # pylint: disable=too-many-arguments
        self.connection = connection
        self.spec = spec
        self.network = network
        self.inactive = inactive
        self.was_active = active
        self.was_autostart = autostart
        self.xml = None
        self.created = False
        self.redefined = False

    def add_actions(self, plan, changes):
        name = self.spec.name
        if changes.create:
            plan.add("define network", self._define)
        elif changes.live_update:
            for command, pair in changes.live_update:
                plan.add("{0} DHCP range {1}-{2} (live)".format(command, pair[0], pair[1]),
                         self._dhcp_update(command, pair, changes.dhcp_index))
        elif changes.define_xml is not None:
            plan.add("redefine network", self._redefine)
        if changes.define_xml is not None:
            self.xml = to_string(changes.define_xml)
        if changes.restart:
            plan.add("restart network", self._guarded(self._restart))
        if changes.stop:
            plan.add("stop network", self._guarded(lambda: self._call("stop network {0}".format(name), self.network.destroy)))
        if changes.set_autostart is not None:
            plan.add("{0} autostart".format("enable" if changes.set_autostart else "disable"),
                     self._guarded(lambda: self._call("set autostart of network {0}".format(name), self.network.setAutostart,
                                                      1 if changes.set_autostart else 0)))
        if changes.start:
            plan.add("start network", self._guarded(lambda: self._call("start network {0}".format(name), self.network.create)))

    def _call(self, action, func, *args):
        return self.connection.call(action, func, *args)

    def _define(self):
        self.network = self._call("define network {0}".format(self.spec.name), self.connection.conn.networkDefineXML, self.xml)
        self.created = True

    def _redefine(self):
        self.network = self._call("redefine network {0}".format(self.spec.name), self.connection.conn.networkDefineXML, self.xml)
        self.redefined = True

    def _dhcp_update(self, command, pair, index):
        def apply():
            flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
            commands = dict(add=libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, delete=libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE)
            self._call("update DHCP range of network {0}".format(self.spec.name), self.network.update,
                       commands[command], libvirt.VIR_NETWORK_SECTION_IP_DHCP_RANGE, index, range_xml(pair), flags)
        return apply

    def _restart(self):
        name = self.spec.name
        self._call("stop network {0} to apply its new definition".format(name), self.network.destroy)
        self._call("start network {0} with its new definition".format(name), self.network.create)

    def _guarded(self, step):
        def apply():
            try:
                step()
            except ConcurrentChangeError:
                # Another client started, stopped or redefined the network
                # after our read: what is there now is its work.  Re-planned
                # by the runner, never undone.
                raise
            except LibvirtError as e:
                self._undo(e)
        return apply

    def _undo(self, error):
        if self.created:
            # Nothing half-created: a network this run defined and could not
            # start is not left defined (one another client started is its own).
            try:
                if not self.network.isActive():
                    self.network.undefine()
            except libvirt.libvirtError:
                pass
            raise error
        self._restore(error)

    def _restore(self, error):
        """Put back the old definition (when this run replaced it), autostart
        and run state, then fail with `error`."""
        network = self.network
        inactive = self.inactive if self.redefined else None
        try:
            if inactive is not None:
                network = self.connection.conn.networkDefineXML(to_string(inactive))
            if bool(network.autostart()) != self.was_autostart:
                network.setAutostart(1 if self.was_autostart else 0)
            if self.was_active and not network.isActive():
                network.create()
            elif not self.was_active and network.isActive():
                network.destroy()
        except libvirt.libvirtError as e:
            raise KvmError("{0}; restoring the previous definition failed too: {1}".format(error, e.get_error_message() or e))
        raise KvmError("{0}; the network was left as it was{1}".format(
            error, " (previous definition restored{0})".format(" and started" if self.was_active else "") if inactive is not None else ""))
