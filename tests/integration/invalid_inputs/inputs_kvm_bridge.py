# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_bridge: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    bad_ifname,
    bad_mac,
    case,
    generate_from_spec,
    ipv4_octets,
    not_ip,
    not_ipv4,
    not_one_of,
    st,
    strategy,
    suffix,
    word,
)


# In the test host: eth0 (its only link) and a veth pair without addresses.
TH_VETH = "kvrobv0"


def _br(fields, **args):
    args.setdefault("name", "kvrobbr0")
    args.setdefault("backend", "networkd")
    return case("kvm_bridge", fields, **args)


@strategy("kvm_bridge", "bad bridge name", 4)
def _bridge_bad_bridge_name():
    return st.builds(lambda n, only: _br("name", name=n, ports=["eth0"], confirm_only=only), bad_ifname, st.booleans())


@strategy("kvm_bridge", "bad ports", 8)
def _bridge_bad_ports():
    return st.one_of(
        st.just(_br("ports", ports=[])),
        st.just(_br("ports", ports=["eth0", "eth0"])),
        st.just(_br("ports", name="kvrobbr1", ports=["eth0", "kvrobbr1"])),
        bad_ifname.map(lambda p: _br("ports", ports=["eth0", p])),
        suffix.map(lambda s: _br("ports", ports=["kvrobno" + s.replace("-", "")[:8]], state="present")),
    )


@strategy("kvm_bridge", "takeover without an address", 1)
def _bridge_takeover_without_an_address():
    return st.just(_br("ipv4", ports=[TH_VETH], ipv4="takeover"))


bad_ipcfg = st.one_of(
    not_one_of(["takeover", "dhcp"]).map(lambda v: (v, "")),
    st.sampled_from([(1, ""), ([], ""), (["10.0.0.1/24"], "")]),
    word.filter(lambda k: k not in ("address", "gateway", "dns")).map(lambda k: ({"address": "10.0.0.2/24", k: 1}, "")),
    st.just(({"gateway": "10.0.0.1"}, ".address")),
    not_ip.map(lambda a: ({"address": a + "/24"}, ".address")),
    ipv4_octets.map(lambda a: ({"address": a}, ".address")),
    not_ipv4.map(lambda g: ({"address": "10.0.0.2/24", "gateway": g}, ".gateway")),
    not_ip.map(lambda d: ({"address": "10.0.0.2/24", "dns": [d]}, ".dns")),
)


@strategy("kvm_bridge", "bad ipv4", 8)
def _bridge_bad_ipv4():
    return bad_ipcfg.map(lambda v: _br("ipv4" + v[1], ports=["eth0"], ipv4=v[0]))


@strategy("kvm_bridge", "bad ipv6", 3)
def _bridge_bad_ipv6():
    return st.one_of(
        st.just(_br("ipv6.address", ports=["eth0"], ipv6={"address": "10.0.0.2/24"})),
        st.just(_br("ipv6.gateway", ports=["eth0"], ipv6={"address": "fd00::2/64", "gateway": "10.0.0.1"})),
        not_one_of(["takeover", "dhcp"]).map(lambda v: _br("ipv6", ports=["eth0"], ipv6=v)),
    )


@strategy("kvm_bridge", "out of range", 6)
def _bridge_out_of_range():
    return st.one_of(
        st.one_of(st.integers(max_value=1, min_value=-(2 ** 31)), st.integers(31, 2 ** 31)).map(
            lambda v: _br("forward_delay", ports=["eth0"], forward_delay=v)),
        st.one_of(st.integers(max_value=67, min_value=-(2 ** 31)), st.integers(65536, 2 ** 31)).map(lambda v: _br("mtu", ports=["eth0"], mtu=v)),
        st.one_of(st.integers(max_value=4, min_value=-(2 ** 31)), st.integers(86401, 2 ** 31)).map(
            lambda v: _br("rollback_timeout", ports=["eth0"], rollback_timeout=v)),
    )


@strategy("kvm_bridge", "bad mac", 4)
def _bridge_bad_mac():
    multicast = st.integers(0, 127).map(lambda b: "{0:02x}:54:00:12:34:56".format(b * 2 + 1))
    return st.one_of(bad_mac, multicast).map(lambda m: _br("mac", ports=["eth0"], mac=m))


@strategy("kvm_bridge", "unknown choice", 3)
def _bridge_unknown_choice():
    return st.one_of(
        not_one_of(["auto", "networkmanager", "ifcfg", "ifupdown", "networkd"]).map(lambda b: _br("backend", ports=["eth0"], backend=b)),
        not_one_of(["present", "absent"]).map(lambda s: _br("state", ports=["eth0"], state=s)),
    )


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_bridge", _br, st.just("kvrobbr0"), dict(ports=["eth0"]))
