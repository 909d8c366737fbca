# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired bridge, validated from the module parameters.  Every error
names its field and is raised before anything is read or written."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

BACKENDS = ("auto", "netplan", "networkmanager", "ifcfg", "ifupdown", "networkd")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def validate_ifname(field, name):
    """The kernel's rules (_validate.ifname): quotes, '$' and '()' are valid
    interface names, so whatever reaches a shell is quoted; ':' is not."""
    return _validate.ifname(field, name)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class IpConfig:
    """One address family: mode takeover | dhcp | static (addresses, gateway, dns) | None (not managed)."""

    def __init__(self, family, mode, addresses=(), gateway=None, dns=()):
        self.family = family
        self.mode = mode
        self.addresses = list(addresses)
        self.gateway = gateway
        self.dns = list(dns)

    @classmethod
    def parse(cls, field, family, value):
        if value is None:
            return cls(family, None)
        if isinstance(value, str):
            if value in ("takeover", "dhcp"):
                return cls(family, value)
            raise ValidationError(field, "{0!r}: expected 'takeover', 'dhcp' or a dict with address, gateway, dns".format(value))
        if not isinstance(value, dict):
            raise ValidationError(field, "expected 'takeover', 'dhcp' or a dict with address, gateway, dns")
        unknown = sorted(set(value) - {"address", "gateway", "dns"})
        if unknown:
            raise ValidationError(field, "unknown keys {0}; accepted: address, gateway, dns".format(", ".join(unknown)))
        addresses = []
        for item in _as_list(value.get("address")):
            try:
                iface = ipaddress.ip_interface(str(item).strip())
            except ValueError:
                raise ValidationError(field + ".address", "{0!r} is not an address with a prefix such as 20.0.0.16/24".format(item))
            if "/" not in str(item):
                raise ValidationError(field + ".address", "{0!r} needs a prefix length, such as 20.0.0.16/24".format(item))
            if iface.version != family:
                raise ValidationError(field + ".address", "{0!r} is not an IPv{1} address".format(item, family))
            addresses.append(str(iface))
        if not addresses:
            raise ValidationError(field + ".address", "required (for example 20.0.0.16/24)")
        gateway = value.get("gateway")
        if gateway is not None:
            gateway = cls._ip(field + ".gateway", gateway, family)
        dns = [str(cls._ip(field + ".dns", d, None)) for d in _as_list(value.get("dns"))]
        return cls(family, "static", addresses, gateway, dns)

    @staticmethod
    def _ip(field, value, family):
        try:
            ip = ipaddress.ip_address(str(value).strip())
        except ValueError:
            raise ValidationError(field, "{0!r} is not an IP address".format(value))
        if family and ip.version != family:
            raise ValidationError(field, "{0!r} is not an IPv{1} address".format(value, family))
        return str(ip)

    @property
    def managed(self):
        return self.mode is not None


class BridgeSpec:
    def __init__(self, name, ports, ipv4, ipv6, stp, forward_delay, mtu, mac, backend, state, rollback_timeout, confirm):
        self.name = name
        self.ports = ports
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.stp = stp
        self.forward_delay = forward_delay
        self.mtu = mtu
        self.mac = mac
        self.backend = backend
        self.state = state
        self.rollback_timeout = rollback_timeout
        self.confirm = confirm

    @property
    def families(self):
        return [c for c in (self.ipv4, self.ipv6) if c.managed]

    @classmethod
    def from_params(cls, params):
        name = validate_ifname("name", params["name"])
        ports = [validate_ifname("ports", p) for p in (params.get("ports") or [])]
        state = params.get("state") or "present"
        if state == "present" and not ports:
            raise ValidationError("ports", "at least one port is required with state=present")
        if len(set(ports)) != len(ports):
            raise ValidationError("ports", "lists a port twice")
        if name in ports:
            raise ValidationError("ports", "the bridge {0!r} cannot be its own port".format(name))
        ipv4 = IpConfig.parse("ipv4", 4, params.get("ipv4", "takeover"))
        ipv6 = IpConfig.parse("ipv6", 6, params.get("ipv6"))
        forward_delay = params.get("forward_delay")
        if forward_delay is not None and not 2 <= forward_delay <= 30:
            raise ValidationError("forward_delay", "{0} is out of range; the kernel accepts 2 to 30 seconds".format(forward_delay))
        mtu = params.get("mtu")
        if mtu is not None and not 68 <= mtu <= 65535:
            raise ValidationError("mtu", "{0} is out of range; expected 68 to 65535".format(mtu))
        mac = params.get("mac")
        if mac is not None:
            mac = str(mac).strip().lower().replace("-", ":")
            if not _MAC.match(mac):
                raise ValidationError("mac", "{0!r} is not a MAC address such as 52:54:00:12:34:56".format(params.get("mac")))
            if int(mac[:2], 16) & 1:
                raise ValidationError("mac", "{0!r} is a multicast address; a bridge needs a unicast MAC".format(mac))
        backend = params.get("backend") or "auto"
        if backend not in BACKENDS:
            raise ValidationError("backend", "{0!r}: expected one of {1}".format(backend, ", ".join(BACKENDS)))
        timeout = params.get("rollback_timeout")
        timeout = 60 if timeout is None else timeout
        if not 5 <= timeout <= 86400:
            raise ValidationError("rollback_timeout", "{0} is out of range; expected 5 to 86400 seconds".format(timeout))
        confirm = params.get("confirm")
        return cls(name, ports, ipv4, ipv6, bool(params.get("stp")), forward_delay, mtu, mac, backend, state,
                   timeout, True if confirm is None else bool(confirm))
