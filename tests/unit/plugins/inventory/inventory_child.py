# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs inventory steps in a Python of its own (the plugin loader installs
Ansible's collection finder for the whole process, which the other unit tests
must not inherit), against libvirt's test:///default driver, whose state lives
as long as this process holds a connection.

    python inventory_child.py < steps.json > results.json

Steps: {"define": {"name", "state", "nics", "tags"}} defines (and starts,
pauses) a domain on test:///default; {"parse": {"path", "cache", "manager"}}
runs the plugin on an inventory file (through InventoryManager when
"manager" is true, as ansible-inventory does) and appends
{"groups": {group: [hosts]}, "hostvars": {host: vars}} or {"error": message}."""

from __future__ import annotations

import json
import sys

import libvirt
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader

init_plugin_loader()
from ansible.plugins.loader import inventory_loader  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _metadata  # noqa: E402

DOMAIN = """<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os>
<devices>{interfaces}</devices></domain>"""
NIC = "<interface type='network'><mac address='{mac}'/><source network='default'/></interface>"


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def define(conn, name, state="running", nics=1, tags=None):
    interfaces = "".join(NIC.format(mac="52:54:00:aa:00:{0:02x}".format(index)) for index in range(nics))
    dom = conn.defineXML(DOMAIN.format(name=name, interfaces=interfaces))
    if tags:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _metadata.tags_xml(tags), _metadata.PREFIX,
                        _metadata.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    if state in ("running", "paused"):
        dom.create()
    if state == "paused":
        dom.suspend()


def parse(path, cache=True, manager=False):
    if manager:
        inventory = InventoryManager(loader=DataLoader(), sources=[path])
        groups = dict((name, sorted(host.name for host in group.get_hosts())) for name, group in inventory.groups.items())
        hostvars = dict((host.name, _plain(host.vars)) for host in inventory.get_hosts())
        return {"groups": groups, "hostvars": hostvars}
    plugin = inventory_loader.get("kvmops.hypervisor.guests")
    if not plugin.verify_file(path):
        return {"error": "verify_file refused " + path}
    data = InventoryData()
    try:
        plugin.parse(data, DataLoader(), path, cache=cache)
        # As InventoryManager does after parse(): write what the plugin put into its cache.
        if plugin.get_option("cache"):
            plugin.update_cache_if_changed()
    except AnsibleError as err:
        return {"error": str(err)}
    groups = dict((name, sorted(host.name for host in group.get_hosts())) for name, group in data.groups.items())
    hostvars = dict((name, _plain(host.vars)) for name, host in data.hosts.items())
    return {"groups": groups, "hostvars": hostvars}


def main():
    steps = json.load(sys.stdin)
    conn = libvirt.open("test:///default")
    results = []
    for step in steps:
        if "define" in step:
            define(conn, **step["define"])
        else:
            results.append(parse(**step["parse"]))
    json.dump(results, sys.stdout)
    conn.close()


if __name__ == "__main__":
    main()
