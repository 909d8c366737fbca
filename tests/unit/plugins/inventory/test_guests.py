# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guests inventory plugin against libvirt's test driver: test:///default
(shared by every connection of this process, so the domains defined here are
what the plugin reads) and a test:///<file> node of its own for a second
hypervisor.  The test driver answers every address source with a made-up
address for each interface of a running guest."""

from __future__ import annotations

import uuid

import libvirt
import pytest
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader

init_plugin_loader()
from ansible.plugins.loader import inventory_loader  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kvmops.hypervisor.plugins.inventory import guests  # noqa: E402
from ansible_collections.kvmops.hypervisor.plugins.module_utils import _metadata  # noqa: E402

DOMAIN = """<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os>
<devices>{interfaces}</devices></domain>"""
NIC = "<interface type='network'><mac address='{mac}'/><source network='default'/></interface>"


@pytest.fixture
def lab():
    conn = libvirt.open("test:///default")
    prefix = "i{0}-".format(uuid.uuid4().hex[:8])

    def define(suffix, state="running", nics=1, tags=None):
        interfaces = "".join(NIC.format(mac="52:54:00:aa:00:{0:02x}".format(index)) for index in range(nics))
        dom = conn.defineXML(DOMAIN.format(name=prefix + suffix, interfaces=interfaces))
        if tags:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _metadata.tags_xml(tags), _metadata.PREFIX,
                            _metadata.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        if state in ("running", "paused"):
            dom.create()
        if state == "paused":
            dom.suspend()
        return dom

    yield conn, prefix, define
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    conn.close()


def parse(tmp_path, prefix, config="", name="test.guests.yml", cache=True):
    """Run the plugin on an inventory file (only this test's guests) and return the InventoryData."""
    path = tmp_path / name
    path.write_text("plugin: kvmops.hypervisor.guests\n" + config +
                    ("\nfilters:\n  - exclude: \"not kvm_name.startswith('{0}')\"\n".format(prefix)
                     if "filters" not in config else ""))
    plugin = inventory_loader.get("kvmops.hypervisor.guests")
    assert plugin.verify_file(str(path))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    # As InventoryManager does after parse(): write what the plugin put into its cache.
    if "cache: true" in config:
        plugin.update_cache_if_changed()
    return inventory


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts()) if group in inventory.groups else []


def test_groups_and_addresses(lab, tmp_path):
    conn, prefix, define = lab
    define("web", tags=["web", "prod eu"])
    define("db", state="shutoff", tags=["db"])
    define("bare", nics=0)
    define("idle", state="paused")
    inventory = parse(tmp_path, prefix, "uris: ['test:///default']\n")
    web, db, bare, idle = (prefix + suffix for suffix in ("web", "db", "bare", "idle"))
    assert members(inventory, "kvm_guests") == sorted([web, db, bare, idle])
    assert members(inventory, "kvm_hypervisor_localhost") == sorted([web, db, bare, idle])
    assert members(inventory, "kvm_state_running") == sorted([web, bare])
    assert members(inventory, "kvm_state_shutoff") == [db]
    assert members(inventory, "kvm_state_paused") == [idle]
    assert members(inventory, "kvm_tag_web") == [web]
    assert members(inventory, "kvm_tag_prod_eu") == [web]
    assert members(inventory, "kvm_tag_db") == [db]

    hostvars = inventory.get_host(web).vars
    assert hostvars["ansible_host"].startswith("192.168.122.")
    assert hostvars["kvm_address_source"] == "agent"
    assert hostvars["kvm_tags"] == ["web", "prod eu"]
    assert hostvars["kvm_uri"] == "test:///default" and hostvars["kvm_hypervisor"] == "localhost"
    assert hostvars["kvm_uuid"] == conn.lookupByName(web).UUIDString()
    (nic,) = hostvars["kvm_interfaces"]
    assert nic["mac"] == "52:54:00:aa:00:00" and nic["source"] == "default" and nic["private"] is True
    assert {item["source"] for item in nic["addresses"]} == {"agent", "lease"}
    assert "kvm_no_address" not in hostvars
    # Local hypervisor: no ProxyJump.
    assert "ansible_ssh_common_args" not in hostvars

    assert "ansible_host" not in inventory.get_host(db).vars
    assert inventory.get_host(db).vars["kvm_no_address"] == "the guest is shutoff"
    assert inventory.get_host(idle).vars["kvm_no_address"] == "the guest is paused"
    assert inventory.get_host(bare).vars["kvm_no_address"] == "the guest has no network interface"


def test_address_source_order(lab, tmp_path):
    _, prefix, define = lab
    define("web")
    inventory = parse(tmp_path, prefix, "uris: ['test:///default']\naddress_source: [arp, lease]\n")
    hostvars = inventory.get_host(prefix + "web").vars
    assert hostvars["kvm_address_source"] == "arp"
    assert {item["source"] for item in hostvars["kvm_interfaces"][0]["addresses"]} == {"arp", "lease"}
    inventory = parse(tmp_path, prefix, "uris: ['test:///default']\naddress_family: ipv6\n")
    assert inventory.get_host(prefix + "web").vars["kvm_no_address"] == "no ipv6 address"


def test_bad_address_source(lab, tmp_path):
    _, prefix, _ = lab
    with pytest.raises(AnsibleError, match="address_source"):
        parse(tmp_path, prefix, "uris: ['test:///default']\naddress_source: [agent, dhcp]\n")


def test_constructed_and_states(lab, tmp_path):
    _, prefix, define = lab
    define("web", tags=["web"])
    define("db", state="shutoff")
    config = (
        "uris: ['test:///default']\n"
        "states: [running]\n"
        "compose:\n  ansible_user: \"'debian'\"\n  role: kvm_tags | first | default('none')\n"
        "groups:\n  tagged: kvm_tags | length > 0\n"
        "keyed_groups:\n  - key: kvm_state\n    prefix: st\n"
    )
    inventory = parse(tmp_path, prefix, config)
    web = prefix + "web"
    assert members(inventory, "kvm_guests") == [web]
    assert inventory.get_host(web).vars["ansible_user"] == "debian"
    assert inventory.get_host(web).vars["role"] == "web"
    assert members(inventory, "tagged") == [web]
    assert members(inventory, "st_running") == [web]


def test_filters(lab, tmp_path):
    _, prefix, define = lab
    define("web", tags=["web"])
    define("tmpl", tags=["template"])
    define("db", state="shutoff")
    config = (
        "uris: ['test:///default']\n"
        "filters:\n"
        "  - exclude: \"not kvm_name.startswith('{0}')\"\n"
        "  - exclude: \"'template' in kvm_tags\"\n"
        "  - include: kvm_state == 'running'\n"
        "  - exclude: true\n"
    ).format(prefix)
    assert members(parse(tmp_path, prefix, config), "kvm_guests") == [prefix + "web"]
    with pytest.raises(AnsibleError, match=r"filters\[0\]"):
        parse(tmp_path, prefix, "uris: ['test:///default']\nfilters:\n  - only: true\n")


def test_same_name_on_two_uris(lab, tmp_path):
    _, prefix, define = lab
    define("web")
    node = tmp_path / "node.xml"
    node.write_text("<node>" + DOMAIN.format(name=prefix + "web", interfaces=NIC.format(mac="52:54:00:bb:00:01")) +
                    "<network><name>default</name><forward mode='nat'/>"
                    "<ip address='192.168.122.1' netmask='255.255.255.0'/></network></node>")
    uris = "uris: ['test:///default', 'test://{0}']\n".format(node)
    with pytest.raises(AnsibleError, match="is on test:///default and on test://"):
        parse(tmp_path, prefix, uris)
    inventory = parse(tmp_path, prefix, uris + "hostname_template: '{name}@{uri}'\n"
                      "filters:\n  - include: \"kvm_name.startswith('%s')\"\n  - exclude: true\n" % prefix)
    assert members(inventory, "kvm_guests") == sorted([
        prefix + "web@test:///default", "{0}web@test://{1}".format(prefix, node)])
    with pytest.raises(AnsibleError, match="hostname_template"):
        parse(tmp_path, prefix, uris + "hostname_template: '{name}.{nope}'\n")


def test_cache(lab, tmp_path):
    _, prefix, define = lab
    define("web")
    config = ("uris: ['test:///default']\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
              "cache_connection: {0}\n".format(tmp_path / "cache"))
    # cache=False: read the hypervisor, write the cache.
    assert members(parse(tmp_path, prefix, config, cache=False), "kvm_guests") == [prefix + "web"]
    define("db")
    # cache=True: served from the cache, the new guest is not read.
    assert members(parse(tmp_path, prefix, config, cache=True), "kvm_guests") == [prefix + "web"]
    assert members(parse(tmp_path, prefix, config, cache=False), "kvm_guests") == sorted([prefix + "web", prefix + "db"])


def test_unreachable_uri(tmp_path):
    with pytest.raises(AnsibleError, match="cannot connect to test:///nonexistent"):
        parse(tmp_path, "x", "uris: ['test:///nonexistent/node.xml']\n")


@pytest.mark.parametrize("name, ok", [("guests.yml", True), ("prod.guests.yaml", True), ("guests.json", False),
                                      ("hosts.yml", False)])
def test_verify_file(tmp_path, name, ok):
    path = tmp_path / name
    path.write_text("plugin: kvmops.hypervisor.guests\n")
    assert inventory_loader.get("kvmops.hypervisor.guests").verify_file(str(path)) is ok


def _record(uri, private=True):
    return {"name": "g", "uuid": "u", "uri": uri, "hypervisor": guests.hypervisor_name(uri), "state": "running",
            "tags": [], "sources": ["agent"],
            "interfaces": [{"mac": "52:54:00:00:00:01", "private": private,
                            "addresses": [{"address": "192.168.122.5", "prefix": 24, "family": "ipv4",
                                           "source": "agent"}]}]}


@pytest.mark.parametrize("uri, private, mode, jump", [
    ("qemu+ssh://root@kvm1.example.com/system", True, "auto", "-o ProxyJump=root@kvm1.example.com"),
    ("qemu+ssh://ops@kvm1:2222/system", True, "auto", "-o ProxyJump=ops@kvm1:2222"),
    ("qemu+ssh://root@kvm1/system", False, "auto", None),
    ("qemu+ssh://root@kvm1/system", False, "always", "-o ProxyJump=root@kvm1"),
    ("qemu+ssh://root@kvm1/system", True, "never", None),
    ("qemu+tls://kvm1/system", True, "auto", None),
    ("qemu:///system", True, "always", None),
])
def test_proxy_jump(uri, private, mode, jump):
    hostvars = guests.host_vars(_record(uri, private), "ipv4", mode)
    assert hostvars["ansible_host"] == "192.168.122.5"
    assert hostvars.get("ansible_ssh_common_args") == jump
    assert guests.hypervisor_name("qemu+ssh://root@kvm1:2222/system") == "kvm1"
    assert guests.hypervisor_name("qemu:///system") == "localhost"


def test_through_inventory_manager(lab, tmp_path):
    """The path ansible-inventory and ansible-playbook take (InventoryManager wraps the inventory data)."""
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    _, prefix, define = lab
    define("web", tags=["web"])
    path = tmp_path / "lab.guests.yml"
    path.write_text("plugin: kvmops.hypervisor.guests\nuris: ['test:///default']\n"
                    "filters:\n  - include: \"kvm_name.startswith('{0}')\"\n  - exclude: true\n".format(prefix))
    manager = InventoryManager(loader=DataLoader(), sources=[str(path)])
    assert [host.name for host in manager.get_hosts("kvm_tag_web")] == [prefix + "web"]
    assert manager.get_host(prefix + "web").vars["ansible_host"].startswith("192.168.122.")
