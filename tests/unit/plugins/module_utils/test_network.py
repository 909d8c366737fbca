# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_network's back end: validation and XML building/comparison (pure),
and plan/apply against libvirt's built-in test:///default driver."""

from __future__ import annotations

import ipaddress
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


from ansible_collections.kvmops.hypervisor.plugins.module_utils import _routes
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_backend import NetworkBackend, plan_definition
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_spec import NetworkSpec
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_xml import (
    build_definition,
    definition_differences,
    normalized,
    summary,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_network
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

URI = "test:///default"

# What libvirt returns for a NAT network it defined: uuid, mac, stp/delay filled in.
NAT_INACTIVE = """
<network>
  <name>lab</name>
  <uuid>310984a9-0b22-4302-aa0c-e399577cfb60</uuid>
  <forward mode='nat'/>
  <bridge name='kvmitbr1' stp='on' delay='0'/>
  <mac address='52:54:00:ba:71:66'/>
  <ip address='192.168.231.1' prefix='24'>
    <dhcp>
      <range start='192.168.231.100' end='192.168.231.199'/>
      <host mac='52:54:00:00:00:01' ip='192.168.231.50'/>
    </dhcp>
  </ip>
</network>
"""

# The live XML of the same network while it runs.
NAT_LIVE = NAT_INACTIVE.replace("<forward mode='nat'/>", "<forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>")

# libvirt's own default network is written with a netmask, and may carry IPv6.
NETMASK_INACTIVE = """
<network>
  <name>lab</name>
  <uuid>9a05da11-e96b-47f3-8253-a3a482e445f5</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:0a:cd:21'/>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""

BRIDGE_INACTIVE = """
<network>
  <name>lab</name>
  <uuid>310984a9-0b22-4302-aa0c-e399577cfb60</uuid>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
"""


def _diff(changes):
    """What a plan records for --diff."""
    return {"before": changes.tracker.before, "after": changes.tracker.after}


def spec(**kwargs):
    kwargs.setdefault("name", "lab")
    ipv4 = kwargs.pop("ipv4", None)
    params = dict(kwargs, ipv4=ipv4)
    return NetworkSpec.from_params(params)


def nat_ipv4(start="192.168.231.100", end="192.168.231.199"):
    return dict(address="192.168.231.1", prefix=24, dhcp_start=start, dhcp_end=end)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("ipv4, field", [
    (dict(address="192.168.231.300"), "ipv4.address"),
    (dict(address="not-an-ip"), "ipv4.address"),
    (dict(address="fd00::1"), "ipv4.address"),
    (dict(address=""), "ipv4.address"),
    (dict(prefix=24), "ipv4.address"),
    (dict(address="192.168.231.1", prefix=33), "ipv4.prefix"),
    (dict(address="192.168.231.1", prefix=0), "ipv4.prefix"),
    (dict(address="192.168.231.1", prefix=True), "ipv4.prefix"),
    (dict(address="192.168.231.1", prefix="24x"), "ipv4.prefix"),
    (dict(address="192.168.231.0", prefix=24), "ipv4.address"),
    (dict(address="192.168.231.255", prefix=24), "ipv4.address"),
    (dict(address="192.168.231.1", dhcp_start="192.168.232.10", dhcp_end="192.168.231.20"), "ipv4.dhcp_start"),
    (dict(address="192.168.231.1", dhcp_start="192.168.231.10", dhcp_end="192.168.232.20"), "ipv4.dhcp_end"),
    (dict(address="192.168.231.1", prefix=25, dhcp_start="192.168.231.10", dhcp_end="192.168.231.130"), "ipv4.dhcp_end"),
    (dict(address="192.168.231.1", dhcp_start="192.168.231.50", dhcp_end="192.168.231.20"), "ipv4.dhcp_end"),
    (dict(address="192.168.231.1", dhcp_start="192.168.231.10"), "ipv4.dhcp_end"),
    (dict(address="192.168.231.1", dhcp_end="192.168.231.10"), "ipv4.dhcp_start"),
    (dict(address="192.168.231.1", dhcp_start="192.168.231.0", dhcp_end="192.168.231.10"), "ipv4.dhcp_start"),
    (dict(address="192.168.231.1", dhcp_start="x", dhcp_end="192.168.231.10"), "ipv4.dhcp_start"),
    (dict(address="192.168.231.1", gateway="192.168.231.254"), "ipv4.gateway"),
])
def test_bad_ipv4_names_the_field(ipv4, field):
    with pytest.raises(ValidationError) as e:
        spec(ipv4=ipv4)
    assert e.value.field == field
    assert str(e.value).startswith(field + ":")


@pytest.mark.parametrize("params, field", [
    (dict(name="a/b"), "name"),
    (dict(name=""), "name"),
    (dict(name=" lab"), "name"),
    (dict(name="."), "name"),   # libvirt names the definition's file after the network
    (dict(name=".."), "name"),
    (dict(name="lab\x7f"), "name"),
    (dict(name=None), "name"),
    (dict(state="running"), "state"),
    (dict(forward="open"), "forward"),
    (dict(bridge="a" * 16), "bridge"),
    (dict(bridge="br 0"), "bridge"),
    (dict(bridge="br/0"), "bridge"),
    (dict(bridge=".."), "bridge"),
    (dict(bridge="br0\n"), "bridge"),  # a final newline passed the name check
    (dict(bridge="br:0"), "bridge"),   # the kernel's rule (issue 10): ':' was accepted here, refused by kvm_domain
    (dict(domain="lab.example\n"), "domain"),
    (dict(mtu=67), "mtu"),
    (dict(mtu=65536), "mtu"),
    (dict(mtu=True), "mtu"),
    (dict(domain="bad_domain"), "domain"),
    (dict(domain="-lab.example"), "domain"),
    (dict(forward="bridge"), "bridge"),
    (dict(forward="bridge", bridge="br0", ipv4=dict(address="10.0.0.1")), "ipv4"),
    (dict(forward="bridge", bridge="br0", mtu=9000), "mtu"),
    (dict(forward="bridge", bridge="br0", domain="lab.example"), "domain"),
    (dict(autostart="yes"), "autostart"),
])
def test_bad_input_names_the_field(params, field):
    with pytest.raises(ValidationError) as e:
        spec(**params)
    assert e.value.field == field


def test_good_input_is_normalised():
    s = spec(forward="nat", bridge="kvmitbr1", domain="lab.example", mtu=9000,
             ipv4=dict(address=" 192.168.231.1", prefix="24", dhcp_start="192.168.231.100", dhcp_end="192.168.231.199"))
    assert (s.ipv4.address, s.ipv4.prefix) == ("192.168.231.1", 24)
    assert str(s.ipv4.subnet) == "192.168.231.0/24"


def test_prefix_32_and_31_accept_any_address():
    assert spec(ipv4=dict(address="10.0.0.0", prefix=31)).ipv4.prefix == 31
    assert spec(ipv4=dict(address="10.0.0.7", prefix=32, dhcp_start="10.0.0.7", dhcp_end="10.0.0.7")).ipv4.prefix == 32


def test_absent_ignores_the_other_options():
    assert spec(state="absent", forward="bridge").state == "absent"


# ---------------------------------------------------------------- XML building

def test_desired_xml_of_a_nat_network():
    s = spec(forward="nat", bridge="kvmitbr1", mtu=1400, domain="lab.example", ipv4=nat_ipv4())
    assert to_string(s.desired_xml()) == (
        "<network>\n"
        "  <name>lab</name>\n"
        "  <forward mode=\"nat\"/>\n"
        "  <bridge name=\"kvmitbr1\"/>\n"
        "  <mtu size=\"1400\"/>\n"
        "  <domain name=\"lab.example\"/>\n"
        "  <ip address=\"192.168.231.1\" prefix=\"24\">\n"
        "    <dhcp>\n"
        "      <range start=\"192.168.231.100\" end=\"192.168.231.199\"/>\n"
        "    </dhcp>\n"
        "  </ip>\n"
        "</network>\n")


def test_isolated_has_no_forward_and_a_new_network_defaults_to_nat():
    assert spec(forward="isolated").desired_xml(forward="nat").find("forward") is None
    new = build_definition(spec(ipv4=dict(address="10.0.0.1")), None)
    assert new.find("forward").get("mode") == "nat"
    assert new.find("ip").get("address") == "10.0.0.1"


def test_normalized_turns_netmask_into_prefix_and_drops_ipv6():
    root = normalized(parse(NETMASK_INACTIVE))
    ips = root.findall("ip")
    assert len(ips) == 1
    assert ips[0].get("prefix") == "24" and ips[0].get("netmask") is None


def test_summary():
    info = summary(parse(NETMASK_INACTIVE), True, False)
    assert info == dict(
        name="lab", uuid="9a05da11-e96b-47f3-8253-a3a482e445f5", forward="nat", bridge="virbr0",
        ipv4=dict(address="192.168.122.1", prefix=24, dhcp_start="192.168.122.2", dhcp_end="192.168.122.254"),
        domain=None, mtu=None, active=True, autostart=False)
    isolated = summary(parse("<network><name>x</name><bridge name='virbr5'/></network>"))
    assert isolated["forward"] == "isolated" and isolated["ipv4"] is None


# ---------------------------------------------------------------- comparison

def test_what_libvirt_fills_in_is_no_difference():
    s = spec(forward="nat", bridge="kvmitbr1", ipv4=nat_ipv4())
    assert definition_differences(s, parse(NAT_INACTIVE)) == []
    assert definition_differences(s, parse(NAT_LIVE)) == []


def test_netmask_equals_prefix():
    s = spec(ipv4=dict(address="192.168.122.1", prefix=24, dhcp_start="192.168.122.2", dhcp_end="192.168.122.254"))
    assert definition_differences(s, parse(NETMASK_INACTIVE)) == []


def test_only_what_is_specified_is_compared():
    assert definition_differences(spec(), parse(NAT_INACTIVE)) == []
    assert definition_differences(spec(ipv4=dict(address="192.168.231.1")), parse(NAT_INACTIVE)) == []


@pytest.mark.parametrize("params, path", [
    (dict(forward="route"), "network/forward/@mode"),
    (dict(forward="isolated"), "network/forward"),
    (dict(bridge="kvmitbr2"), "network/bridge/@name"),
    (dict(mtu=1400), "network/mtu"),
    (dict(domain="lab.example"), "network/domain"),
    (dict(ipv4=dict(address="192.168.231.2")), "network/ip/@address"),
    (dict(ipv4=dict(address="192.168.231.1", prefix=25)), "network/ip/@prefix"),
    (dict(ipv4=nat_ipv4(end="192.168.231.149")), "network/ip/dhcp/range/@end"),
])
def test_each_specified_field_is_compared(params, path):
    found = definition_differences(spec(**params), parse(NAT_INACTIVE))
    assert [p for p, _w, _h in found] == [path]


def test_a_second_dhcp_range_is_a_difference():
    two = NAT_INACTIVE.replace("<host ", "<range start='192.168.231.200' end='192.168.231.210'/><host ")
    found = definition_differences(spec(ipv4=nat_ipv4()), parse(two))
    assert [p for p, _w, _h in found] == ["network/ip/dhcp/range"]


# ---------------------------------------------------------------- redefinition

def test_update_keeps_what_libvirt_assigned():
    new = build_definition(spec(ipv4=nat_ipv4(end="192.168.231.149")), parse(NAT_INACTIVE))
    assert new.findtext("uuid") == "310984a9-0b22-4302-aa0c-e399577cfb60"
    assert new.find("mac").get("address") == "52:54:00:ba:71:66"
    assert new.find("bridge").get("stp") == "on"
    assert [(r.get("start"), r.get("end")) for r in new.findall("ip/dhcp/range")] == [("192.168.231.100", "192.168.231.149")]
    assert new.find("ip/dhcp/host").get("ip") == "192.168.231.50"


def test_forward_change_replaces_the_forward_element():
    new = build_definition(spec(forward="route"), parse(NAT_LIVE))
    assert to_string(new.find("forward")).strip() == '<forward mode="route"/>'
    assert new.index(new.find("forward")) == 2  # after name and uuid
    assert build_definition(spec(forward="isolated"), parse(NAT_LIVE)).find("forward") is None
    back = build_definition(spec(forward="nat"), build_definition(spec(forward="isolated"), parse(NAT_INACTIVE)))
    assert back.find("forward").get("mode") == "nat"


def test_to_bridge_mode_drops_what_libvirt_refuses_there():
    inactive = parse(NAT_INACTIVE.replace("<mac ", "<mtu size='1400'/><domain name='lab.example'/><mac "))
    new = build_definition(spec(forward="bridge", bridge="br0"), inactive)
    assert [child.tag for child in new] == ["name", "uuid", "forward", "bridge"]
    assert dict(new.find("bridge").attrib) == {"name": "br0"}


def test_from_bridge_mode_without_a_bridge_name_lets_libvirt_pick_one():
    new = build_definition(spec(forward="nat", ipv4=nat_ipv4()), parse(BRIDGE_INACTIVE))
    assert new.find("bridge") is None
    named = build_definition(spec(forward="nat", bridge="kvmitbr1"), parse(BRIDGE_INACTIVE))
    assert named.find("bridge").get("name") == "kvmitbr1"


def test_prefix_replaces_netmask_and_ipv6_is_kept():
    new = build_definition(spec(ipv4=dict(address="192.168.122.1", prefix=23)), parse(NETMASK_INACTIVE))
    ipv4 = [ip for ip in new.findall("ip") if ip.get("family") != "ipv6"][0]
    assert dict(ipv4.attrib) == {"address": "192.168.122.1", "prefix": "23"}
    assert new.find("ip").get("family") == "ipv6"


FORWARDS = st.sampled_from([None, "nat", "route", "isolated"])
BRIDGES = st.sampled_from([None, "kvmitbr1", "virbr7"])
IPV4S = st.one_of(st.none(), st.builds(
    lambda host, prefix, dhcp: dict(
        address="10.20.0.{0}".format(host), prefix=prefix,
        **(dict(dhcp_start="10.20.0.{0}".format(host + 1), dhcp_end="10.20.0.{0}".format(host + 1 + dhcp)) if dhcp is not None else {})),
    st.integers(1, 50), st.sampled_from([24, 25, 26]), st.one_of(st.none(), st.integers(0, 3))))


@settings(max_examples=200, deadline=None)
@given(forward=FORWARDS, bridge=BRIDGES, ipv4=IPV4S, mtu=st.one_of(st.none(), st.integers(68, 9000)),
       base=st.sampled_from([NAT_INACTIVE, NETMASK_INACTIVE, BRIDGE_INACTIVE, None]))
def test_a_built_definition_has_no_differences_left(forward, bridge, ipv4, mtu, base):
    """Whatever the request and the starting point, the XML we would define
    compares equal to the request: so a second run is unchanged."""
    if base is BRIDGE_INACTIVE and forward is None and (ipv4 is not None or mtu is not None):
        return  # refused up front: not supported on a bridge-mode network
    s = spec(forward=forward, bridge=bridge, ipv4=ipv4, mtu=mtu)
    new = build_definition(s, parse(base) if base else None)
    assert definition_differences(s, parse(to_string(new))) == []


# ---------------------------------------------------------------- macvtap (issue 14)

MACVTAP_INACTIVE = """
<network>
  <name>lab</name>
  <uuid>50518d8d-a241-4571-811c-8877e3060658</uuid>
  <forward dev='veth1' mode='bridge'>
    <interface dev='veth1'/>
  </forward>
</network>
"""


@pytest.mark.parametrize("params, field", [
    (dict(forward="macvtap"), "dev"),
    (dict(forward="macvtap", dev="veth:1"), "dev"),
    (dict(forward="macvtap", dev="a" * 16), "dev"),
    (dict(forward="macvtap", dev="veth1", macvtap_mode="trunk"), "macvtap_mode"),
    (dict(forward="macvtap", dev="veth1", ipv4=dict(address="10.0.0.1")), "ipv4"),
    (dict(forward="macvtap", dev="veth1", bridge="virbr7"), "bridge"),
    (dict(forward="macvtap", dev="veth1", domain="lab.example"), "domain"),
    (dict(forward="macvtap", dev="veth1", mtu=9000), "mtu"),
    (dict(forward="nat", dev="veth1"), "dev"),
    (dict(forward="isolated", macvtap_mode="vepa"), "macvtap_mode"),
])
def test_bad_macvtap_input_names_the_field(params, field):
    with pytest.raises(ValidationError) as e:
        spec(**params)
    assert e.value.field == field


def test_a_new_macvtap_network_is_written_as_libvirt_reads_it_back():
    s = spec(forward="macvtap", dev="veth1")
    new = build_definition(s, None)
    forward = new.find("forward")
    assert (forward.get("mode"), forward.get("dev"), [i.get("dev") for i in forward.findall("interface")]) == ("bridge", "veth1", ["veth1"])
    assert new.find("bridge") is None and new.find("ip") is None
    assert definition_differences(s, parse(MACVTAP_INACTIVE)) == []
    info = summary(parse(MACVTAP_INACTIVE), True, True)
    assert (info["forward"], info["dev"], info["macvtap_mode"], info["bridge"]) == ("macvtap", "veth1", "bridge", None)
    plan = plan_definition(s, None)
    assert plan.create and plan.predicted["forward"] == "macvtap" and plan.predicted["dev"] == "veth1"
    assert _diff(plan)["after"]["macvtap_mode"] == "bridge"


def test_a_host_bridge_network_is_not_a_macvtap_one():
    """<forward mode='bridge'> with a <bridge> is a host bridge, whatever else matches."""
    assert summary(parse(BRIDGE_INACTIVE))["forward"] == "bridge" and "dev" not in summary(parse(BRIDGE_INACTIVE))
    s = spec(forward="macvtap", dev="veth1", macvtap_mode="bridge")
    found = definition_differences(s, parse(BRIDGE_INACTIVE))
    assert found
    new = build_definition(s, parse(BRIDGE_INACTIVE))
    assert new.find("bridge") is None and summary(new)["forward"] == "macvtap"
    assert definition_differences(s, parse(to_string(new))) == []


def test_nat_to_macvtap_drops_what_a_macvtap_network_has_no_use_for():
    s = spec(forward="macvtap", dev="veth1")
    plan = plan_definition(s, parse(NAT_INACTIVE), parse(NAT_LIVE), True, True)
    assert plan.restart
    tags = [child.tag for child in plan.define_xml]
    assert tags == ["name", "uuid", "forward"], tags
    assert plan.define_xml.findtext("uuid") == "310984a9-0b22-4302-aa0c-e399577cfb60"
    assert _diff(plan)["after"]["forward"] == "macvtap" and _diff(plan)["after"]["dev"] == "veth1"


def test_macvtap_mode_and_dev_change_on_an_existing_network():
    plan = plan_definition(spec(macvtap_mode="vepa"), parse(MACVTAP_INACTIVE), parse(MACVTAP_INACTIVE), True, True)
    assert plan.restart and _diff(plan) == {"before": {"macvtap_mode": "bridge"}, "after": {"macvtap_mode": "vepa"}}
    assert plan.define_xml.find("forward").get("dev") == "veth1"
    plan = plan_definition(spec(dev="veth2"), parse(MACVTAP_INACTIVE), None, False, True)
    forward = plan.define_xml.find("forward")
    assert (forward.get("mode"), forward.get("dev"), [i.get("dev") for i in forward.findall("interface")]) == ("bridge", "veth2", ["veth2"])
    assert not plan_definition(spec(forward="macvtap", dev="veth1"), parse(MACVTAP_INACTIVE), parse(MACVTAP_INACTIVE), True, True).changed


def test_options_of_an_existing_macvtap_network_follow_its_mode():
    with pytest.raises(ValidationError) as e:
        plan_definition(spec(ipv4=dict(address="10.0.0.1")), parse(MACVTAP_INACTIVE))
    assert e.value.field == "ipv4"
    with pytest.raises(ValidationError) as e:
        plan_definition(spec(dev="veth1"), parse(NAT_INACTIVE))
    assert e.value.field == "dev"
    with pytest.raises(ValidationError) as e:  # back to NAT needs an address
        plan_definition(spec(forward="nat"), parse(MACVTAP_INACTIVE))
    assert e.value.field == "ipv4"


def test_macvtap_on_the_test_driver(connection, name, run):
    with pytest.raises(NotFoundError) as e:
        plan_of(connection, name=name, forward="macvtap", dev="kvnosuchdev0")
    assert e.value.field == "dev" and connection.network(name) is None
    args = dict(name=name, forward="macvtap", dev="eth1", macvtap_mode="private")  # eth1: the test driver's NIC
    try:
        assert run(connection, check_mode=True, **args)["changed"] and connection.network(name) is None
        created = run(connection, **args)
        assert created["changed"] and created["actions"] == ["define network", "enable autostart", "start network"]
        assert (created["network"]["forward"], created["network"]["dev"], created["network"]["macvtap_mode"]) == ("macvtap", "eth1", "private")
        forward = xml_of(connection, name).find("forward")
        assert forward.get("mode") == "private" and [i.get("dev") for i in forward.findall("interface")] == ["eth1"]
        assert not run(connection, **args)["changed"]
    finally:
        if connection.network(name) is not None:
            run(connection, name=name, state="absent")


# ---------------------------------------------------------------- plans (pure)

def test_plan_dhcp_change_on_a_running_network_is_a_live_update():
    plan = plan_definition(spec(ipv4=nat_ipv4(end="192.168.231.149")), parse(NAT_INACTIVE), parse(NAT_LIVE), True, True)
    assert plan.changed and not plan.restart
    assert plan.live_update == [("add", ("192.168.231.100", "192.168.231.149")), ("delete", ("192.168.231.100", "192.168.231.199"))]
    assert plan.dhcp_index == 0
    assert _diff(plan) == {"before": {"ipv4.dhcp_end": "192.168.231.199"}, "after": {"ipv4.dhcp_end": "192.168.231.149"}}
    assert plan.predicted["ipv4"]["dhcp_end"] == "192.168.231.149"


def test_plan_dhcp_index_counts_ipv6_elements():
    live = NETMASK_INACTIVE
    plan = plan_definition(spec(ipv4=dict(address="192.168.122.1", dhcp_start="192.168.122.2", dhcp_end="192.168.122.99")),
                           parse(NETMASK_INACTIVE), parse(live), True, False)
    assert plan.live_update and plan.dhcp_index == 1


def test_plan_other_change_on_a_running_network_restarts_it():
    plan = plan_definition(spec(forward="route", ipv4=nat_ipv4(end="192.168.231.149")), parse(NAT_INACTIVE), parse(NAT_LIVE), True, True)
    assert plan.restart and not plan.live_update
    assert plan.define_xml.find("forward").get("mode") == "route"


def test_plan_without_restart_reports_restart_required():
    s = spec(forward="route", restart=False)
    plan = plan_definition(s, parse(NAT_INACTIVE), parse(NAT_LIVE), True, True)
    assert plan.changed and not plan.restart and plan.restart_required
    # Next run: the definition matches, the running network does not.
    saved = to_string(plan.define_xml)
    again = plan_definition(s, parse(saved), parse(NAT_LIVE), True, True)
    assert not again.changed and again.restart_required
    restart = plan_definition(spec(forward="route"), parse(saved), parse(NAT_LIVE), True, True)
    assert restart.changed and restart.restart and restart.define_xml is None


def test_plan_on_a_stopped_network_does_not_restart_but_starts():
    plan = plan_definition(spec(forward="route"), parse(NAT_INACTIVE), None, False, True)
    assert plan.define_xml is not None and not plan.restart and plan.start
    assert _diff(plan)["after"] == {"forward": "route", "active": True}


def test_plan_unchanged_and_state_flags():
    s = spec(forward="nat", ipv4=nat_ipv4())
    assert not plan_definition(s, parse(NAT_INACTIVE), parse(NAT_LIVE), True, True).changed
    stop = plan_definition(spec(active=False, autostart=False), parse(NAT_INACTIVE), parse(NAT_LIVE), True, True)
    assert stop.stop and stop.set_autostart is False and not stop.restart
    assert _diff(stop) == {"before": {"active": True, "autostart": True}, "after": {"active": False, "autostart": False}}


def test_plan_refuses_ipv4_on_an_existing_bridge_mode_network():
    with pytest.raises(ValidationError) as e:
        plan_definition(spec(ipv4=dict(address="10.0.0.1")), parse(BRIDGE_INACTIVE))
    assert e.value.field == "ipv4"


@pytest.mark.parametrize("params, base", [
    (dict(), None),
    (dict(forward="route"), None),
    (dict(forward="nat", bridge="virbr7"), BRIDGE_INACTIVE),
    (dict(forward="route", bridge="virbr7"), BRIDGE_INACTIVE),
])
def test_nat_and_route_need_an_address(params, base):
    with pytest.raises(ValidationError) as e:
        plan_definition(spec(**params), parse(base) if base else None)
    assert e.value.field == "ipv4"


def test_isolated_needs_no_address_and_ipv6_is_an_address():
    assert plan_definition(spec(forward="isolated"), None).create
    ipv6_only = ("<network><name>lab</name><forward mode='nat'/><bridge name='virbr7'/>"
                 "<ip family='ipv6' address='fd00::1' prefix='64'/></network>")
    plan = plan_definition(spec(forward="route"), parse(ipv6_only))
    assert plan.define_xml.find("forward").get("mode") == "route"


def test_plan_create():
    plan = plan_definition(spec(bridge="virbr7", active=False, autostart=False, ipv4=dict(address="10.0.0.1")), None)
    assert plan.create and not plan.start and plan.set_autostart is None
    assert plan.predicted["uuid"] is None and plan.predicted["forward"] == "nat"


# ---------------------------------------------------------------- test:///default

@pytest.fixture
def connection():
    conn = Connection(URI)
    yield conn
    conn.close()


@pytest.fixture
def name():
    return "u{0}-net".format(uuid.uuid4().hex[:8])


class Failed(Exception):
    """The module failed; .result is what it returned."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


def run_network(check_mode=False, **params):
    """kvm_network's main() in this process, as Ansible runs it (the real
    AnsibleModule, argument spec and runner), on the test:/// driver."""
    result = run_main(kvm_network.main, dict(params, uri=URI), check_mode)
    if result.get("failed"):
        raise Failed(result)
    return result


def backend(connection, check_mode=False):
    """The back end alone, for what it raises before the runner words it."""
    module = type("Module", (), dict(params={}, check_mode=check_mode))()
    return NetworkBackend(module, connection)


@pytest.fixture
def run(connection):
    def run_(_connection, check_mode=False, **params):
        result = run_network(check_mode, **params)
        if "diff" in result:  # the fields that differ, as before the runner added headers
            result["diff"] = dict(before=result["diff"]["before"], after=result["diff"]["after"])
        return result
    return run_


def plan_of(connection, **params):
    """NetworkBackend.plan of `params` (raises what the runner would report)."""
    b = backend(connection)
    return b.plan(b.specs(dict(params))[0])


def xml_of(connection, name):
    # The test driver has no VIR_NETWORK_XML_INACTIVE; its XML is the definition.
    return parse(connection.network(name).XMLDesc(0))


def test_create_update_remove_on_the_test_driver(connection, name, run):
    args = dict(name=name, forward="nat", bridge="virbr91", ipv4=dict(address="10.91.0.1", prefix=24, dhcp_start="10.91.0.10", dhcp_end="10.91.0.99"))
    predicted = run(connection, check_mode=True, **args)
    assert predicted["changed"] and connection.network(name) is None
    created = run(connection, **args)
    assert created["changed"] and created["network"]["active"] and created["network"]["autostart"]
    assert dict(created["network"], uuid=None) == predicted["network"]
    assert not run(connection, **args)["changed"]
    assert not run(connection, check_mode=True, **args)["changed"]

    args["ipv4"]["dhcp_end"] = "10.91.0.49"
    check = run(connection, check_mode=True, **args)
    assert check["changed"] and check["live_updated"]
    assert xml_of(connection, name).find("ip/dhcp/range").get("end") == "10.91.0.99"
    done = run(connection, **args)
    assert done["live_updated"] and not done["restarted"] and done["diff"] == check["diff"]
    assert [r.get("end") for r in xml_of(connection, name).findall("ip/dhcp/range")] == ["10.91.0.49"]
    assert done["network"]["uuid"] == created["network"]["uuid"]

    # The test driver drops a definition saved while the network runs (the
    # restart path is covered by the plan tests and the integration target),
    # so change the forward mode of the stopped network.
    stopped = run(connection, **dict(args, active=False))
    assert stopped["changed"] and not stopped["network"]["active"]
    args["forward"] = "route"
    routed = run(connection, **dict(args, active=False))
    assert routed["changed"] and not routed["restarted"] and routed["network"]["forward"] == "route"
    assert xml_of(connection, name).find("forward").get("mode") == "route"
    assert xml_of(connection, name).findtext("uuid") == created["network"]["uuid"]
    started = run(connection, **args)
    assert started["changed"] and started["network"]["active"] and not started["restarted"]
    assert not run(connection, **args)["changed"]

    assert run(connection, check_mode=True, name=name, state="absent")["changed"]
    assert connection.network(name) is not None
    gone = run(connection, name=name, state="absent")
    assert gone["changed"] and gone["network"] == {} and connection.network(name) is None
    assert not run(connection, name=name, state="absent")["changed"]


def test_forward_bridge_needs_an_existing_bridge(connection, name):
    with pytest.raises(NotFoundError) as e:
        plan_of(connection, name=name, forward="bridge", bridge="nosuchbr0")
    assert e.value.field == "bridge"
    with pytest.raises(ValidationError) as e:
        plan_of(connection, name=name, forward="bridge", bridge="eth1")  # the test driver's ethernet NIC
    assert e.value.field == "bridge" and "not a bridge" in str(e.value)
    assert connection.network(name) is None


def test_a_nat_network_may_not_take_an_existing_interface(connection, name):
    with pytest.raises(ValidationError) as e:
        plan_of(connection, name=name, forward="nat", bridge="eth1", ipv4=dict(address="10.92.0.1"))
    assert e.value.field == "bridge" and "existing host interface" in str(e.value)
    assert connection.network(name) is None


def test_forward_bridge_on_a_test_driver_bridge(connection, name, run):
    bridge = "b{0}".format(uuid.uuid4().hex[:8])
    iface = connection.conn.interfaceDefineXML(
        "<interface type='bridge' name='{0}'><bridge><interface type='ethernet' name='{0}p'/></bridge></interface>".format(bridge))
    try:
        result = run(connection, name=name, forward="bridge", bridge=bridge)
        assert result["changed"] and result["network"]["forward"] == "bridge" and result["network"]["bridge"] == bridge
        assert not run(connection, name=name, forward="bridge", bridge=bridge)["changed"]
        assert [child.tag for child in xml_of(connection, name)] == ["name", "uuid", "forward", "bridge"]
    finally:
        if connection.network(name) is not None:
            run(connection, name=name, state="absent")
        iface.undefine()


# /proc/net/route: addresses are hex words in host byte order.
def _hex(address):
    return "{0:08X}".format(struct.unpack("=I", ipaddress.IPv4Address(address).packed)[0])


ROUTES = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" + "".join(
    "{0}\t{1}\t{2}\t0001\t0\t0\t0\t{3}\t0\t0\t0\n".format(iface, _hex(dest), _hex(gw), _hex(mask))
    for iface, dest, gw, mask in [("eth0", "0.0.0.0", "10.88.0.1", "0.0.0.0"), ("eth0", "10.88.0.0", "0.0.0.0", "255.255.0.0"),
                                  ("virbr0", "192.168.122.0", "0.0.0.0", "255.255.255.0")])


@pytest.mark.parametrize("subnet, ignore, owner", [
    ("192.168.122.0/24", None, "virbr0"),   # libvirt would refuse to start a network there
    ("10.88.0.0/16", None, "eth0"),
    ("192.168.122.0/24", "virbr0", None),   # the network's own bridge: free again once restarted
    ("192.168.122.0/25", None, None),       # libvirt compares address and mask exactly
    ("10.88.0.0/24", None, None),
    ("192.168.123.0/24", None, None),
])
def test_route_owner(subnet, ignore, owner):
    assert _routes.owner(ipaddress.IPv4Network(subnet), ROUTES, ignore=ignore) == owner


def test_route_owner_skips_lines_it_cannot_read():
    assert _routes.owner(ipaddress.IPv4Network("10.0.0.0/8"), ROUTES.splitlines()[0] + "\nshort line\nx\tZZ\t0\t0\t0\t0\t0\tZZ\n") is None


def _routed_subnet():
    """A subnet this host routes through an interface (as _routes.owner reads it), or None."""
    for route in _routes.parse(_routes.read_table()):
        if int(route.destination) and route.iface != "lo":
            return ipaddress.IPv4Network("{0}/{1}".format(route.destination, route.netmask))
    return None


def test_subnet_taken_by_a_network_another_run_started_is_a_concurrent_change(connection, name, run):
    """Two runs create the same network: the second read it as absent, then
    found the first one's bridge holding the subnet.  That is a race to plan
    again (run() does), not a bad ipv4.address."""
    subnet = _routed_subnet()
    if subnet is None:
        pytest.skip("this host routes no subnet through an interface")
    address = str(next(subnet.hosts()))
    spec = NetworkSpec.from_params(dict(name=name, forward="nat", ipv4=dict(address=address, prefix=subnet.prefixlen)))
    manager = backend(connection)
    plan = plan_definition(spec, None, None, False, False)
    with pytest.raises(ValidationError, match=r"^ipv4\.address: the subnet .* is already in use by host interface"):
        manager._check_subnet(spec, plan, None)  # pylint: disable=protected-access
    # The other run's network, started after this run read it as absent (the
    # test driver does not look at host routes, so it starts on any subnet).
    run(connection, name=name, forward="nat", ipv4=dict(address="10.93.0.1", prefix=24))
    try:
        with pytest.raises(ConcurrentChangeError, match="another client started it"):
            manager._check_subnet(spec, plan, None)  # pylint: disable=protected-access
    finally:
        run(connection, name=name, state="absent")


def test_the_subnet_of_the_definition_is_checked_when_ipv4_is_not_given(connection, name):
    """A run that changes only the mtu of a stopped network whose subnet is
    routed elsewhere fails before it redefines anything (it used to redefine,
    fail to start, restore, and report changed)."""
    subnet = _routed_subnet()
    if subnet is None:
        pytest.skip("this host routes no subnet through an interface")
    inactive = parse("<network><name>{0}</name><forward mode='nat'/><ip address='{1}' prefix='{2}'/></network>".format(
        name, next(subnet.hosts()), subnet.prefixlen))
    s = NetworkSpec.from_params(dict(name=name, mtu=1400))
    changes = plan_definition(s, inactive, None, False, False)
    assert changes.define_xml is not None and changes.start
    with pytest.raises(ValidationError, match=r"^ipv4\.address: the subnet {0} of the network's definition is already in use".format(subnet)):
        backend(connection)._check_subnet(s, changes, None, inactive)  # pylint: disable=protected-access


def test_bridge_of_a_network_another_run_started_is_a_concurrent_change(connection, name, run):
    """The same race on the bridge name: the second run read the network as
    absent, then finds the bridge the first run's start created."""
    spec = NetworkSpec.from_params(dict(name=name, forward="isolated", bridge="eth1"))
    manager = backend(connection)
    plan = plan_definition(spec, None, None, False, False)
    with pytest.raises(ValidationError, match=r"^bridge: 'eth1' is an existing host interface"):
        manager._check_bridge(spec, plan, None)  # pylint: disable=protected-access
    # The test driver has no bridges: its eth1 stands for the bridge that start created.
    run(connection, name=name, forward="isolated", bridge="virbr93")
    try:
        with pytest.raises(ConcurrentChangeError, match="another client started it"):
            manager._check_bridge(spec, plan, None)  # pylint: disable=protected-access
    finally:
        run(connection, name=name, state="absent")
