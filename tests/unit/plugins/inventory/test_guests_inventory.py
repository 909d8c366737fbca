# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guests inventory plugin against libvirt's test driver: test:///default
and a test:///<file> node for a second hypervisor.  The test driver answers
every address source with a made-up address for each interface of a running
guest.  Each test's steps (define domains, run the plugin) run in a Python of
their own (inventory_child.py): the plugin loader that runs the plugin
installs Ansible's collection finder for the whole process, and
test:///default's state lives as long as that process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.kvmops.hypervisor.plugins.inventory import guests

CHILD = str(Path(__file__).with_name("inventory_child.py"))
# test:///default has a domain of its own, "test": left out unless a test's filters say otherwise.
NOT_TEST = "\nfilters:\n  - exclude: kvm_name == 'test'\n"


class Steps:
    """define(...) and parse(config) steps, run in one child process by run()."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.steps = []

    def define(self, name, state="running", nics=1, tags=None):
        self.steps.append({"define": {"name": name, "state": state, "nics": nics, "tags": tags}})
        return self

    def parse(self, config, cache=True, manager=False, name=None):
        """Write `config` to `name` (default: a file of this step's own) and parse it."""
        path = self.tmp_path / (name or "{0}-test.guests.yml".format(len(self.steps)))
        path.write_text("plugin: kvmops.hypervisor.guests\n" + config + ("" if "filters" in config else NOT_TEST))
        self.steps.append({"parse": {"path": str(path), "cache": cache, "manager": manager}})
        return self

    def run(self):
        proc = subprocess.run([sys.executable, CHILD], input=json.dumps(self.steps), capture_output=True, text=True,
                              env=dict(os.environ), check=False, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)


def one(tmp_path, config, *defines):
    """Define the domains (name, kwargs) and parse once; the result."""
    steps = Steps(tmp_path)
    for name, kwargs in defines:
        steps.define(name, **kwargs)
    (result,) = steps.parse(config).run()
    return result


def members(result, group):
    assert "error" not in result, result
    return result["groups"].get(group, [])


def test_groups_and_addresses(tmp_path):
    result = one(tmp_path, "uris: ['test:///default']\n",
                 ("web", {"tags": ["web", "prod eu"]}), ("db", {"state": "shutoff", "tags": ["db"]}),
                 ("bare", {"nics": 0}), ("idle", {"state": "paused"}))
    assert members(result, "kvm_guests") == ["bare", "db", "idle", "web"]
    assert members(result, "kvm_hypervisor_localhost") == ["bare", "db", "idle", "web"]
    assert members(result, "kvm_state_running") == ["bare", "web"]
    assert members(result, "kvm_state_shutoff") == ["db"]
    assert members(result, "kvm_state_paused") == ["idle"]
    assert members(result, "kvm_tag_web") == ["web"]
    assert members(result, "kvm_tag_prod_eu") == ["web"]
    assert members(result, "kvm_tag_db") == ["db"]

    hostvars = result["hostvars"]["web"]
    assert hostvars["ansible_host"].startswith("192.168.122.")
    assert hostvars["kvm_address_source"] == "agent"
    assert hostvars["kvm_tags"] == ["web", "prod eu"]
    assert hostvars["kvm_uri"] == "test:///default" and hostvars["kvm_hypervisor"] == "localhost"
    assert len(hostvars["kvm_uuid"]) == 36
    (nic,) = hostvars["kvm_interfaces"]
    assert nic["mac"] == "52:54:00:aa:00:00" and nic["source"] == "default" and nic["private"] is True
    assert {item["source"] for item in nic["addresses"]} == {"agent", "lease"}
    assert hostvars["kvm_addresses"] == [hostvars["ansible_host"]] * 2
    assert "kvm_no_address" not in hostvars
    # Local hypervisor: no ProxyJump.
    assert "ansible_ssh_common_args" not in hostvars

    assert "ansible_host" not in result["hostvars"]["db"]
    assert result["hostvars"]["db"]["kvm_no_address"] == "the guest is shutoff"
    assert result["hostvars"]["idle"]["kvm_no_address"] == "the guest is paused"
    assert result["hostvars"]["bare"]["kvm_no_address"] == "the guest has no network interface"


def test_address_source_order(tmp_path):
    arp, ipv6 = (Steps(tmp_path).define("web")
                 .parse("uris: ['test:///default']\naddress_source: [arp, lease]\n")
                 .parse("uris: ['test:///default']\naddress_family: ipv6\n").run())
    hostvars = arp["hostvars"]["web"]
    assert hostvars["kvm_address_source"] == "arp"
    assert {item["source"] for item in hostvars["kvm_interfaces"][0]["addresses"]} == {"arp", "lease"}
    assert ipv6["hostvars"]["web"]["kvm_no_address"] == "no ipv6 address"


def test_bad_address_source(tmp_path):
    result = one(tmp_path, "uris: ['test:///default']\naddress_source: [agent, dhcp]\n")
    assert "address_source" in result["error"] and "dhcp" in result["error"]


def test_constructed_and_states(tmp_path):
    config = (
        "uris: ['test:///default']\n"
        "states: [running]\n"
        "compose:\n  ansible_user: \"'debian'\"\n  role: kvm_tags | first | default('none')\n"
        "groups:\n  tagged: kvm_tags | length > 0\n"
        "keyed_groups:\n  - key: kvm_state\n    prefix: st\n"
    )
    result = one(tmp_path, config, ("web", {"tags": ["web"]}), ("db", {"state": "shutoff"}))
    assert members(result, "kvm_guests") == ["web"]
    assert result["hostvars"]["web"]["ansible_user"] == "debian"
    assert result["hostvars"]["web"]["role"] == "web"
    assert members(result, "tagged") == ["web"]
    assert members(result, "st_running") == ["web"]


def test_filters(tmp_path):
    config = (
        "uris: ['test:///default']\n"
        "filters:\n"
        "  - exclude: kvm_name == 'test'\n"
        "  - exclude: \"'template' in kvm_tags\"\n"
        "  - include: kvm_state == 'running'\n"
        "  - exclude: true\n"
    )
    good, bad = (Steps(tmp_path).define("web", tags=["web"]).define("tmpl", tags=["template"])
                 .define("db", state="shutoff").parse(config)
                 .parse("uris: ['test:///default']\nfilters:\n  - only: true\n").run())
    assert members(good, "kvm_guests") == ["web"]
    assert "filters[0]" in bad["error"]


def test_same_name_on_two_uris(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text("<node><domain type='test'><name>web</name><memory>65536</memory><os><type>hvm</type></os>"
                    "<devices><interface type='network'><mac address='52:54:00:bb:00:01'/>"
                    "<source network='default'/></interface></devices></domain>"
                    "<network><name>default</name><forward mode='nat'/>"
                    "<ip address='192.168.122.1' netmask='255.255.255.0'/></network></node>")
    uris = "uris: ['test:///default', 'test://{0}']\n".format(node)
    clash, named, bad = (Steps(tmp_path).define("web").parse(uris)
                         .parse(uris + "hostname_template: '{name}@{uri}'\n")
                         .parse(uris + "hostname_template: '{name}.{nope}'\n").run())
    assert "guest 'web' is on test:///default and on test://" in clash["error"]
    assert "hostname_template" in clash["error"]
    assert members(named, "kvm_guests") == sorted(["web@test:///default", "web@test://{0}".format(node)])
    assert "hostname_template" in bad["error"]


def test_cache(tmp_path):
    config = ("uris: ['test:///default']\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
              "cache_connection: {0}\n".format(tmp_path / "cache"))
    steps = Steps(tmp_path).define("web")
    # cache=False (as --flush-cache): read the hypervisor, write the cache.
    steps.parse(config, cache=False, name="c.guests.yml")
    steps.define("db")
    steps.parse(config, cache=True, name="c.guests.yml")
    steps.parse(config, cache=False, name="c.guests.yml")
    first, cached, fresh = steps.run()
    assert members(first, "kvm_guests") == ["web"]
    # Served from the cache: the new guest is not read.
    assert members(cached, "kvm_guests") == ["web"]
    assert members(fresh, "kvm_guests") == ["db", "web"]


def test_unreachable_uri(tmp_path):
    uris = "uris: ['test:///nonexistent/node.xml', 'test:///default']\n"
    failed, warned = Steps(tmp_path).define("web").parse(uris).parse(uris + "on_unreachable: warn\n").run()
    assert "cannot connect to test:///nonexistent/node.xml" in failed["error"]
    # on_unreachable: warn lists the guests of the URIs that answer.
    assert members(warned, "kvm_guests") == ["web"]


@pytest.mark.parametrize("name, ok", [("guests.yml", True), ("prod.guests.yaml", True), ("guests.json", False),
                                      ("hosts.yml", False)])
def test_verify_file(tmp_path, name, ok):
    path = tmp_path / name
    path.write_text("plugin: kvmops.hypervisor.guests\n")
    assert guests.InventoryModule().verify_file(str(path)) is ok


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


def test_through_inventory_manager(tmp_path):
    """The path ansible-inventory and ansible-playbook take (InventoryManager wraps the inventory data)."""
    (result,) = Steps(tmp_path).define("web", tags=["web"]).parse(
        "uris: ['test:///default']\n", manager=True, name="lab.guests.yml").run()
    assert members(result, "kvm_tag_web") == ["web"]
    assert result["hostvars"]["web"]["ansible_host"].startswith("192.168.122.")
