# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_network: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    NET2_SUBNET,
    NETWORK,
    NETWORK_OFF,
    NEW,
    bad_ifname,
    blank,
    case,
    control_name,
    dot_name,
    generate_from_spec,
    ipv4_octets,
    new_name,
    not_int,
    not_ipv4,
    not_one_of,
    slash_name,
    st,
    strategy,
    suffix,
)


IPV4 = dict(address="10.213.78.1", prefix=24)


def _net(fields, **args):
    return case("kvm_network", fields, **args)


@strategy("kvm_network", "bad name", 8)
def _network_bad_name():
    surrounded = st.tuples(suffix, st.sampled_from([" ", "\t"]), st.booleans()).map(
        lambda t: (t[1] + NEW + t[0]) if t[2] else (NEW + t[0] + t[1]))
    return st.builds(lambda n: _net("name", name=n, ipv4=IPV4), st.one_of(slash_name, blank, dot_name, control_name, surrounded))


@strategy("kvm_network", "unknown state or forward", 4)
def _network_unknown_state_or_forward():
    return st.builds(lambda key, v, n: _net(key, name=n, ipv4=IPV4, **{key: v}), st.sampled_from(["state", "forward"]),
                     not_one_of(["present", "absent", "nat", "route", "bridge", "isolated"]), st.sampled_from([NEW + "s", NETWORK]))


@strategy("kvm_network", "forward bridge without bridge", 2)
def _network_forward_bridge_without_bridge():
    return st.sampled_from([NEW + "fb", NETWORK]).map(lambda n: _net("bridge", name=n, forward="bridge"))


@strategy("kvm_network", "bad bridge name", 5)
def _network_bad_bridge_name():
    return st.builds(lambda n, b, f: _net("bridge", name=n, bridge=b, forward=f, ipv4=None if f in ("bridge", "isolated") else IPV4),
                     st.sampled_from([NEW + "bn", NETWORK]), bad_ifname, st.sampled_from(["nat", "bridge", "isolated"]))


@strategy("kvm_network", "host bridge does not exist", 3)
def _network_host_bridge_does_not_exist():
    return st.builds(lambda n, b: _net("bridge", name=n, forward="bridge", bridge="kvrobno" + b[:8]),
                     st.sampled_from([NEW + "nb", NETWORK]), suffix.map(lambda s: s.replace("-", "")).filter(bool))


@strategy("kvm_network", "host interface is not a bridge", 2)
def _network_host_interface_is_not_a_bridge():
    return st.sampled_from([NEW + "lo", NETWORK]).map(lambda n: _net("bridge", name=n, forward="bridge", bridge="lo"))


@strategy("kvm_network", "bridge name taken by a host interface", 3)
def _network_bridge_name_taken_by_a_host_interface():
    return st.builds(lambda n, f: _net("bridge", name=n, forward=f, bridge="lo", ipv4=IPV4 if f != "isolated" else None),
                     st.sampled_from([NEW + "tk", NETWORK]), st.sampled_from(["nat", "route", "isolated"]))


@strategy("kvm_network", "bad mtu", 4)
def _network_bad_mtu():
    return st.builds(lambda n, m: _net("mtu", name=n, ipv4=IPV4, mtu=m), st.sampled_from([NEW + "mtu", NETWORK]),
                     st.one_of(st.integers(max_value=67, min_value=-(2 ** 31)), st.integers(min_value=65536, max_value=2 ** 40), not_int))


bad_domain = st.one_of(
    st.tuples(suffix, st.sampled_from(["_", " ", "/", "..", "*", "é"]), suffix).map(lambda t: "a" + t[0] + t[1] + t[2]),
    st.text(alphabet="abc", min_size=64, max_size=70).map(lambda s: s + ".example"),
    st.integers(26, 40).map(lambda n: ".".join(["abcdefghi"] * n)),
    suffix.map(lambda s: "-" + s + ".example"),
    st.sampled_from([".", "", "a..b"]),
    suffix.map(lambda s: "lab" + s + ".example\n"),
)


@strategy("kvm_network", "bad DNS domain", 6)
def _network_bad_dns_domain():
    return st.builds(lambda n, d: _net("domain", name=n, ipv4=IPV4, domain=d), st.sampled_from([NEW + "dom", NETWORK]), bad_domain)


@strategy("kvm_network", "bad ipv4 address", 4)
def _network_bad_ipv4_address():
    return st.builds(lambda n, a: _net("ipv4.address", name=n, ipv4=dict(address=a)), st.sampled_from([NEW + "ip", NETWORK]),
                     not_ipv4)


@strategy("kvm_network", "ipv4 without address", 1)
def _network_ipv4_without_address():
    return st.just(_net(("address", "ipv4"), name=NEW + "noaddr", ipv4=dict(prefix=24)))


@strategy("kvm_network", "bad prefix", 4)
def _network_bad_prefix():
    return st.builds(lambda n, p: _net("prefix", name=n, ipv4=dict(address="10.213.78.1", prefix=p)), st.sampled_from([NEW + "pf", NETWORK]),
                     st.one_of(st.integers(max_value=0, min_value=-(2 ** 31)), st.integers(min_value=33, max_value=2 ** 31), not_int))


@strategy("kvm_network", "network or broadcast address", 3)
def _network_network_or_broadcast_address():
    def build(n, prefix, octets, broadcast):
        import ipaddress  # pylint: disable=import-outside-toplevel
        net = ipaddress.IPv4Network("{0}/{1}".format(octets, prefix), strict=False)
        address = net.broadcast_address if broadcast else net.network_address
        return _net("ipv4.address", name=n, ipv4=dict(address=str(address), prefix=prefix))
    return st.builds(build, st.sampled_from([NEW + "nw", NETWORK]), st.integers(1, 30), ipv4_octets, st.booleans())


@strategy("kvm_network", "DHCP start or end alone", 2)
def _network_dhcp_start_or_end_alone():
    return st.sampled_from(["dhcp_start", "dhcp_end"]).map(
        lambda k: _net(("dhcp_start", "dhcp_end"), name=NEW + "d1", ipv4=dict(IPV4, **{k: "10.213.78.10"})))


@strategy("kvm_network", "DHCP range outside the subnet or reversed", 5)
def _network_dhcp_range_outside_the_subnet_or_reversed():
    def build(n, start, end, field):
        return _net(field, name=n, ipv4=dict(IPV4, dhcp_start="10.213.78.{0}".format(start), dhcp_end=end))
    outside = st.builds(lambda o, s: build(NEW + "dr", s, "10.213.{0}.20".format(o), "ipv4.dhcp_end"),
                        st.integers(0, 255).filter(lambda o: o != 78), st.integers(2, 254))
    reversed_ = st.builds(lambda s, e, n: build(n, s, "10.213.78.{0}".format(e), "ipv4.dhcp_end"),
                          st.integers(100, 254), st.integers(2, 99), st.sampled_from([NEW + "dr", NETWORK]))
    network_address = st.sampled_from([NEW + "dr", NETWORK]).map(
        lambda n: _net("ipv4.dhcp_start", name=n, ipv4=dict(IPV4, dhcp_start="10.213.78.0", dhcp_end="10.213.78.9")))
    return st.one_of(outside, reversed_, network_address)


@strategy("kvm_network", "addressing with forward bridge", 3)
def _network_addressing_with_forward_bridge():
    return st.builds(lambda n, key: _net(key, name=n, forward="bridge", bridge="kvrobnone",
                                         **{key: dict(ipv4=IPV4, domain="lab.example", mtu=1500)[key]}),
                     st.sampled_from([NEW + "ba", NETWORK]), st.sampled_from(["ipv4", "domain", "mtu"]))


@strategy("kvm_network", "NAT or routed network without ipv4", 2)
def _network_nat_or_routed_network_without_ipv4():
    return st.builds(lambda n, f: _net("ipv4", name=n, forward=f), new_name, st.sampled_from(["nat", "route"]))


@strategy("kvm_network", "subnet in use by another interface", 4)
def _network_subnet_in_use():
    return st.builds(lambda n, host, f: _net("ipv4.address", name=n, forward=f, ipv4=dict(address="{0}.{1}".format(NET2_SUBNET, host), prefix=24)),
                     st.sampled_from([NEW + "sub", NETWORK]), st.integers(2, 254), st.sampled_from(["nat", "route", "isolated"]))


@strategy("kvm_network", "a change to a network that cannot start", 3)
def _network_cannot_start():
    # NETWORK_OFF's subnet is NETWORK2's: the run redefines it, fails to start
    # it, and must put the old definition (and autostart) back.
    change = st.one_of(st.integers(1280, 9000).map(lambda m: dict(mtu=m)), suffix.map(lambda d: dict(domain="lab" + d.replace("-", "") + ".example")),
                       st.just(dict(autostart=True)))
    return change.map(lambda c: _net("already in use", name=NETWORK_OFF, **c))


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_network", _net, st.sampled_from([NEW + "b", NETWORK]), dict(ipv4=IPV4))
