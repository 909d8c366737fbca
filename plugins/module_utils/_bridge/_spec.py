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
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import BOND_MODES, BondConfig, VlanConfig

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


XMIT_HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac")
_HASHED_MODES = ("balance-xor", "802.3ad", "balance-tlb", "balance-alb")  # the modes that use xmit_hash_policy
_BOND_KEYS = ("name", "mode", "ports", "miimon", "lacp_rate", "xmit_hash_policy", "primary")
_VLAN_KEYS = ("id", "parent", "name")


def _keys(field, value, accepted):
    if not isinstance(value, dict):
        raise ValidationError(field, "expected a dict with {0}".format(", ".join(accepted)))
    unknown = sorted(k for k, v in value.items() if k not in accepted and v is not None)
    if unknown:
        raise ValidationError(field, "unknown keys {0}; accepted: {1}".format(", ".join(unknown), ", ".join(accepted)))


def _int(field, value):
    if isinstance(value, bool):
        raise ValidationError(field, "{0!r} is not a whole number".format(value))
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValidationError(field, "{0!r} is not a whole number".format(value))


def parse_bond(value):
    """BondConfig from the `bond` option (None when not given).  Defaults: mode active-backup, miimon 100."""
    if value is None:
        return None
    _keys("bond", value, _BOND_KEYS)
    name = validate_ifname("bond.name", value.get("name"))
    mode = value.get("mode") or "active-backup"
    if mode not in BOND_MODES:
        raise ValidationError("bond.mode", "{0!r} is not a bonding mode; expected one of {1}".format(mode, ", ".join(BOND_MODES)))
    ports = [validate_ifname("bond.ports", p) for p in _as_list(value.get("ports"))]
    if not ports:
        raise ValidationError("bond.ports", "at least one NIC is required")
    if len(set(ports)) != len(ports):
        raise ValidationError("bond.ports", "lists a NIC twice")
    if name in ports:
        raise ValidationError("bond.ports", "the bond {0!r} cannot be its own port".format(name))
    miimon = value.get("miimon")
    miimon = 100 if miimon is None else _int("bond.miimon", miimon)
    if not 0 <= miimon <= 60000:
        raise ValidationError("bond.miimon", "{0} is out of range; expected 0 (off) to 60000 ms".format(miimon))
    lacp_rate = value.get("lacp_rate")
    if lacp_rate is not None:
        if lacp_rate not in ("slow", "fast"):
            raise ValidationError("bond.lacp_rate", "{0!r}: expected slow or fast".format(lacp_rate))
        if mode != "802.3ad":
            raise ValidationError("bond.lacp_rate", "applies to mode 802.3ad only, not {0}".format(mode))
    policy = value.get("xmit_hash_policy")
    if policy is not None:
        if policy not in XMIT_HASH_POLICIES:
            raise ValidationError("bond.xmit_hash_policy", "{0!r}: expected one of {1}".format(policy, ", ".join(XMIT_HASH_POLICIES)))
        if mode not in _HASHED_MODES:
            raise ValidationError("bond.xmit_hash_policy", "applies to modes {0} only, not {1}".format(", ".join(_HASHED_MODES), mode))
    primary = value.get("primary")
    if primary is not None:
        if mode != "active-backup":
            raise ValidationError("bond.primary", "applies to mode active-backup only, not {0}".format(mode))
        if primary not in ports:
            raise ValidationError("bond.primary", "{0!r} is not one of bond.ports ({1})".format(primary, ", ".join(ports)))
    return BondConfig(name, mode, ports, miimon, lacp_rate, policy, primary)


def parse_vlan(value, bond):
    """VlanConfig from the `vlan` option (None when not given); the parent defaults to the bond."""
    if value is None:
        return None
    _keys("vlan", value, _VLAN_KEYS)
    if value.get("id") is None:
        raise ValidationError("vlan.id", "required (1 to 4094)")
    vid = _int("vlan.id", value["id"])
    if not 1 <= vid <= 4094:
        raise ValidationError("vlan.id", "{0} is out of range; 802.1Q VLAN ids are 1 to 4094".format(vid))
    parent = value.get("parent")
    if parent is None:
        if bond is None:
            raise ValidationError("vlan.parent", "required without bond (the NIC that carries the VLAN)")
        parent = bond.name
    parent = validate_ifname("vlan.parent", parent)
    if bond is not None and parent != bond.name:
        raise ValidationError("vlan.parent", "{0!r}: with bond the VLAN's parent is the bond {1!r}".format(parent, bond.name))
    name = value.get("name")
    if name is None:
        name = "{0}.{1}".format(parent, vid)
        if len(name.encode("utf-8")) > 15:
            raise ValidationError("vlan.name", "the default name {0!r} is longer than 15 bytes (the kernel's limit); "
                                  "give vlan.name".format(name))
    name = validate_ifname("vlan.name", name)
    if name == parent or (bond is not None and name in bond.ports):
        raise ValidationError("vlan.name", "{0!r} names the VLAN's parent or a bond port".format(name))
    return VlanConfig(vid, parent, name)


class BridgeSpec:
    def __init__(self, name, ports, ipv4, ipv6, stp, forward_delay, mtu, mac, backend, state, rollback_timeout, confirm,
                 bond=None, vlan=None):
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
        self.bond = bond
        self.vlan = vlan

    @property
    def families(self):
        return [c for c in (self.ipv4, self.ipv6) if c.managed]

    @property
    def upper(self):
        """The bridge's port made by the module (the VLAN, else the bond), or None."""
        if self.vlan is not None:
            return self.vlan.name
        return self.bond.name if self.bond is not None else None

    @property
    def bridge_ports(self):
        """Every port of the bridge: the upper device first, then `ports`."""
        return ([self.upper] if self.upper else []) + list(self.ports)

    @property
    def source(self):
        """The NIC whose address `takeover` takes: the bond's first port, the VLAN's parent NIC, else ports[0]."""
        if self.bond is not None:
            return self.bond.ports[0]
        if self.vlan is not None:
            return self.vlan.parent
        return self.ports[0] if self.ports else None

    @property
    def lower(self):
        """The NICs under the upper device: the bond's ports, or the VLAN's parent NIC."""
        if self.bond is not None:
            return list(self.bond.ports)
        return [self.vlan.parent] if self.vlan is not None else []

    @classmethod
    def from_params(cls, params):
        name = validate_ifname("name", params["name"])
        ports = [validate_ifname("ports", p) for p in (params.get("ports") or [])]
        state = params.get("state") or "present"
        bond = parse_bond(params.get("bond"))
        vlan = parse_vlan(params.get("vlan"), bond)
        if state == "present" and not ports and bond is None and vlan is None:
            raise ValidationError("ports", "at least one port (or bond or vlan) is required with state=present")
        if len(set(ports)) != len(ports):
            raise ValidationError("ports", "lists a port twice")
        if name in ports:
            raise ValidationError("ports", "the bridge {0!r} cannot be its own port".format(name))
        made = ([bond.name] + bond.ports if bond else []) + ([vlan.name, vlan.parent] if vlan else [])
        for port in ports:
            if port in made:
                raise ValidationError("ports", "{0!r} is the bond, a bond port, the VLAN or its parent; ports lists only "
                                      "other ports".format(port))
        if name in made:
            raise ValidationError("name", "the bridge {0!r} has the name of its bond, VLAN or one of their ports".format(name))
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
                   timeout, True if confirm is None else bool(confirm), bond, vlan)
