# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_network's input, validated: NetworkSpec (and its Ipv4Spec).  Names
and interface names go through _validate, like every module's; what is
checked here is what only a network has (addresses, DHCP range, forward
modes and the options each allows)."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _network_xml, _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

FORWARD_MODES = ("nat", "route", "bridge", "isolated", "macvtap")
# How guests share the host interface of a macvtap network (libvirt writes it as the forward mode).
MACVTAP_MODES = _network_xml.MACVTAP_MODES

_DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def _ipv4(field, value):
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        raise ValidationError(field, "{0!r} is not an IPv4 address (e.g. 192.168.200.1)".format(value))


class Ipv4Spec:
    """The network's IPv4 address on its bridge, its prefix and one DHCP range."""

    def __init__(self, address, prefix=24, dhcp_start=None, dhcp_end=None):
        self.address = address
        self.prefix = prefix
        self.dhcp_start = dhcp_start
        self.dhcp_end = dhcp_end

    @classmethod
    def from_params(cls, params):
        if not isinstance(params, dict):
            raise ValidationError("ipv4", "must be a dictionary with address, prefix, dhcp_start, dhcp_end")
        unknown = sorted(set(params) - set(("address", "prefix", "dhcp_start", "dhcp_end")))
        if unknown:
            raise ValidationError("ipv4.{0}".format(unknown[0]), "unknown option; accepted: address, prefix, dhcp_start, dhcp_end")
        if params.get("address") in (None, ""):
            raise ValidationError("ipv4.address", "is required when ipv4 is given")
        prefix = params.get("prefix")
        spec = cls(params["address"], 24 if prefix is None else prefix, params.get("dhcp_start"), params.get("dhcp_end"))
        spec.validate()
        return spec

    def validate(self):
        address = _ipv4("ipv4.address", self.address)
        prefix = self.prefix
        if isinstance(prefix, str) and prefix.strip().isdigit():
            prefix = int(prefix)
        if isinstance(prefix, bool) or not isinstance(prefix, int) or not 1 <= prefix <= 32:
            raise ValidationError("ipv4.prefix", "{0!r} is not a prefix length; expected an integer from 1 to 32".format(self.prefix))
        self.prefix = prefix
        self.address = str(address)
        subnet = self.subnet
        if prefix <= 30 and address in (subnet.network_address, subnet.broadcast_address):
            raise ValidationError("ipv4.address", "{0} is the network or broadcast address of {1}; use a host address such as {2}".format(
                address, subnet, subnet.network_address + 1))
        if (self.dhcp_start is None) != (self.dhcp_end is None):
            missing = "ipv4.dhcp_end" if self.dhcp_end is None else "ipv4.dhcp_start"
            raise ValidationError(missing, "dhcp_start and dhcp_end must be given together")
        if self.dhcp_start is None:
            return
        start = _ipv4("ipv4.dhcp_start", self.dhcp_start)
        end = _ipv4("ipv4.dhcp_end", self.dhcp_end)
        for field, value in (("ipv4.dhcp_start", start), ("ipv4.dhcp_end", end)):
            if value not in subnet:
                raise ValidationError(field, "{0} is outside the subnet {1} of ipv4.address/ipv4.prefix".format(value, subnet))
            if prefix <= 30 and value in (subnet.network_address, subnet.broadcast_address):
                raise ValidationError(field, "{0} is the network or broadcast address of {1}".format(value, subnet))
        if int(end) < int(start):
            raise ValidationError("ipv4.dhcp_end", "{0} is before ipv4.dhcp_start {1}".format(end, start))
        self.dhcp_start, self.dhcp_end = str(start), str(end)

    @property
    def subnet(self):
        return ipaddress.IPv4Network("{0}/{1}".format(self.address, self.prefix), strict=False)

    @property
    def has_dhcp(self):
        return self.dhcp_start is not None


class NetworkSpec:
    """What the user asked for, validated.  None means "not specified": such a
    field is neither compared nor changed on an existing network."""

    def __init__(self, name, state="present", forward=None, bridge=None, ipv4=None, domain=None, mtu=None,  # pylint: disable=too-many-arguments
                 autostart=True, active=True, restart=True, dev=None, macvtap_mode=None):
        self.name = name
        self.state = state
        self.forward = forward
        self.bridge = bridge
        self.dev = dev
        self.macvtap_mode = macvtap_mode
        self.ipv4 = ipv4
        self.domain = domain
        self.mtu = mtu
        self.autostart = autostart
        self.active = active
        self.restart = restart

    @classmethod
    def from_params(cls, params):
        ipv4 = params.get("ipv4")
        spec = cls(
            name=params.get("name"),
            state=params.get("state") or "present",
            forward=params.get("forward"),
            bridge=params.get("bridge"),
            dev=params.get("dev"),
            macvtap_mode=params.get("macvtap_mode"),
            ipv4=Ipv4Spec.from_params(ipv4) if ipv4 is not None else None,
            domain=params.get("domain"),
            mtu=params.get("mtu"),
            autostart=params.get("autostart", True),
            active=params.get("active", True),
            restart=params.get("restart", True),
        )
        spec.validate()
        return spec

    def validate(self):
        _validate.name("name", self.name)
        if self.state not in ("present", "absent"):
            raise ValidationError("state", "{0!r} is not one of present, absent".format(self.state))
        if self.state == "absent":
            return
        if self.forward is not None and self.forward not in FORWARD_MODES:
            raise ValidationError("forward", "{0!r} is not one of {1}".format(self.forward, ", ".join(FORWARD_MODES)))
        if self.bridge is not None:
            _validate.ifname("bridge", self.bridge)
        if self.dev is not None:
            _validate.ifname("dev", self.dev)
        if self.macvtap_mode is not None and self.macvtap_mode not in MACVTAP_MODES:
            raise ValidationError("macvtap_mode", "{0!r} is not one of {1}".format(self.macvtap_mode, ", ".join(MACVTAP_MODES)))
        if self.mtu is not None:
            if isinstance(self.mtu, bool) or not isinstance(self.mtu, int) or not 68 <= self.mtu <= 65535:
                raise ValidationError("mtu", "{0!r} is not an MTU; expected an integer from 68 to 65535".format(self.mtu))
        if self.domain is not None:
            _validate.text("domain", self.domain)
            labels = self.domain.rstrip(".").split(".") if isinstance(self.domain, str) else [""]
            if len(self.domain) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
                raise ValidationError("domain", "{0!r} is not a DNS domain name (e.g. lab.example)".format(self.domain))
        if self.ipv4 is not None:
            self.ipv4.validate()
        for field in ("autostart", "active", "restart"):
            if not isinstance(getattr(self, field), bool):
                raise ValidationError(field, "must be a boolean")
        if self.forward is not None:
            self.check_forward(self.forward)

    def check_forward(self, mode):
        """Options that only make sense with some forward modes.  Also called
        with the mode of the existing network when `forward` is not given."""
        if mode == "macvtap":
            if self.dev is None and self.forward == "macvtap":
                raise ValidationError("dev", "is required with forward: macvtap (the host interface the guests share, e.g. eno1)")
            for field in ("bridge", "ipv4", "domain", "mtu"):
                if getattr(self, field) is not None:
                    raise ValidationError(field, "is not supported with forward: macvtap (guests are on the network of the host "
                                          "interface in dev)")
            return
        for field in ("dev", "macvtap_mode"):
            if getattr(self, field) is not None:
                raise ValidationError(field, "is only used with forward: macvtap (this network's forward mode is {0})".format(mode))
        if mode == "bridge":
            if self.bridge is None and self.forward == "bridge":
                raise ValidationError("bridge", "is required with forward: bridge (the name of an existing host bridge, e.g. br0)")
            for field in ("ipv4", "domain", "mtu"):
                if getattr(self, field) is not None:
                    raise ValidationError(field, "is not supported with forward: bridge (the host bridge carries the addressing)")

    def desired_xml(self, forward=None):
        """The <network> element holding only what the user specified (see
        _network_xml.desired)."""
        return _network_xml.desired(self, forward)
