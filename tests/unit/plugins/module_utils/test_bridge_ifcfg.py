# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ifcfg rendering against the tutorial's own files (tests/unit/fixtures/bridge,
copied verbatim from seed/kvm-tutorial.zh.txt): ifcfg-ens33 before (address
in place) -> after (address commented out, BRIDGE=br0), and ifcfg-br0."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._ifcfg import (
    IfcfgBackend,
    render_bridge,
    render_port,
    render_released_port,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._spec import BridgeSpec, IpConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._backend import NetConfig
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._files import Files

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bridge"


def _fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def _tutorial_cfg(**kwargs):
    ipv4 = IpConfig(4, "static", ["20.0.0.16/24"], "20.0.0.2", [])
    values = dict(name="br0", ports=["ens33"], mac="00:0c:29:aa:bb:cc", mac_in_files=False, ipcfgs=[ipv4])
    values.update(kwargs)
    return NetConfig(**values)


def test_port_file_is_the_tutorials():
    assert render_port(_fixture("ifcfg-ens33.before"), "ens33", "br0") == _fixture("ifcfg-ens33.after")


def test_port_file_is_stable():
    after = _fixture("ifcfg-ens33.after")
    assert render_port(after, "ens33", "br0") == after


def test_bridge_file_is_the_tutorials():
    assert render_bridge(_tutorial_cfg()) == _fixture("ifcfg-br0")


def test_bridge_file_from_the_module_parameters():
    spec = BridgeSpec.from_params(dict(name="br0", ports=["ens33"], ipv4=dict(address="20.0.0.16/24", gateway="20.0.0.2")))
    cfg = _tutorial_cfg(ipcfgs=spec.families, stp=spec.stp, forward_delay=spec.forward_delay, mtu=spec.mtu)
    assert render_bridge(cfg) == _fixture("ifcfg-br0")


def test_bridge_file_options():
    text = render_bridge(_tutorial_cfg(stp=True, forward_delay=4, mtu=9000, mac_in_files=True,
                                       ipcfgs=[IpConfig(4, "static", ["20.0.0.16/24", "20.0.1.16/24"], "20.0.0.2", ["20.0.0.2", "1.1.1.1"])]))
    lines = text.splitlines()
    for line in ("IPADDR=20.0.0.16", "NETMASK=255.255.255.0", "IPADDR1=20.0.1.16", "NETMASK1=255.255.255.0",
                 "DNS1=20.0.0.2", "DNS2=1.1.1.1", "STP=yes", "DELAY=4", "MACADDR=00:0c:29:aa:bb:cc", "MTU=9000"):
        assert line in lines


def test_bridge_file_dhcp():
    text = render_bridge(_tutorial_cfg(ipcfgs=[IpConfig(4, "dhcp")]))
    assert "BOOTPROTO=dhcp" in text.splitlines() and "IPADDR" not in text


def test_port_without_a_file():
    assert render_port(None, "ens33", "br0").splitlines() == [
        "TYPE=Ethernet", "BOOTPROTO=none", "NAME=ens33", "DEVICE=ens33", "ONBOOT=yes", "BRIDGE=br0"]


def test_released_port_gets_the_address_back():
    port = NetConfig("ens33", ipcfgs=[IpConfig(4, "static", ["20.0.0.16/24"], "20.0.0.2", ["20.0.0.2"])])
    text = render_released_port(_fixture("ifcfg-ens33.after"), port)
    lines = text.splitlines()
    assert "BRIDGE=br0" not in lines
    assert not [line for line in lines if line.startswith("#IPADDR")]
    assert lines[-4:] == ["IPADDR=20.0.0.16", "NETMASK=255.255.255.0", "GATEWAY=20.0.0.2", "DNS1=20.0.0.2"]
    assert "BOOTPROTO=none" in lines and "UUID=7d6ddb70-e11a-4e7b-a7c7-aa0939a32489" in lines


def test_backend_reads_the_existing_port_file(tmp_path):
    scripts = tmp_path / "etc" / "sysconfig" / "network-scripts"
    scripts.mkdir(parents=True)
    (scripts / "ifcfg-ens33").write_text(_fixture("ifcfg-ens33.before"), encoding="utf-8")
    files = IfcfgBackend(Files(str(tmp_path))).present(_tutorial_cfg())
    assert files == {
        "/etc/sysconfig/network-scripts/ifcfg-br0": _fixture("ifcfg-br0"),
        "/etc/sysconfig/network-scripts/ifcfg-ens33": _fixture("ifcfg-ens33.after"),
    }
    absent = IfcfgBackend(Files(str(tmp_path))).absent("br0", None)
    assert absent == {"/etc/sysconfig/network-scripts/ifcfg-br0": None}
