# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt and QEMU: the daemon (binary, version, running, its systemd unit),
the bindings, and through them the counts (and with `objects` the lists) of
pools, networks and domains; the QEMU binary and its version."""

from __future__ import annotations

import datetime
import os
import re
from xml.etree import ElementTree

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts._system import unit_active, unit_enabled

LIBVIRT_DAEMONS = ("libvirtd", "virtqemud")
QEMU_BINARIES = ("qemu-system-x86_64", "qemu-kvm", "/usr/libexec/qemu-kvm")
DOMAIN_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
                 6: "crashed", 7: "pmsuspended"}

_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?)\b")
_QEMU_VERSION = re.compile(r"QEMU emulator version (\d+\.\d+(?:\.\d+)?)")


def libvirt_facts(host, libvirt, uri, objects=False):
    """`libvirt`: the libvirt-python module, or None when it is not importable."""
    daemon = None
    for name in LIBVIRT_DAEMONS:
        daemon = host.which(name)
        if daemon:
            break
    version = None
    if daemon:
        version = _match(_VERSION, host.output([daemon, "--version"]))
    facts = dict(
        installed=daemon is not None,
        daemon=daemon,
        version=version,
        daemon_running=False,
        service=None,
        python_bindings=libvirt is not None,
        uri=uri,
        reachable=False,
        error=None,
        pools=None,
        networks=None,
        domains=None,
        objects=None,
    )
    if libvirt is not None:
        try:
            facts.update(_counts(uri, objects))
        except LibvirtError as e:
            facts["error"] = str(e)
        if facts["version"] is None:
            facts["version"] = _libvirt_version(libvirt.getVersion())
    # after the connection, which may have started a socket-activated daemon
    facts["daemon_running"] = bool(host.running(LIBVIRT_DAEMONS))
    if daemon:
        name = os.path.basename(daemon)
        unit = name + ".service"
        facts["service"] = dict(name=unit, enabled=unit_enabled(host, unit), active=unit_active(host, (name,), unit))
    return facts


def _counts(uri, objects):
    # Imported only here: without libvirt-python nothing above needs it.
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection, ConcurrentChangeError

    def present(read, obj):
        """read(call, obj), or None when obj vanished after the listing: another client removed it, or (a
        volume) its file is gone and libvirt's list is stale until the pool is refreshed."""
        try:
            return read(call, obj)
        except ConcurrentChangeError:
            return None

    def listed(read, objs):
        return [found for found in (present(read, o) for o in objs) if found is not None]

    with Connection(uri) as connection:
        conn = connection.conn
        call = connection.call
        pools = call("list storage pools", conn.listAllStoragePools)
        networks = call("list networks", conn.listAllNetworks)
        domains = call("list domains", conn.listAllDomains)
        found = dict(reachable=True, pools=len(pools), networks=len(networks), domains=len(domains))
        if objects:
            found["objects"] = dict(
                pools=listed(lambda c, p: _pool(c, p, present), sorted(pools, key=lambda p: p.name())),
                networks=listed(_network, sorted(networks, key=lambda n: n.name())),
                domains=listed(_domain, sorted(domains, key=lambda d: d.name())),
            )
        return found


def _pool(call, pool, present):
    name = pool.name()
    active = bool(call("pool {0}: is it active".format(name), pool.isActive))
    volumes = []
    if active:  # libvirt's own list: no refresh, which would rescan the directory
        for vol in call("pool {0}: list volumes".format(name), pool.listAllVolumes):
            info = present(lambda c, v: c("volume {0}: info".format(v.name()), v.info), vol)
            if info is not None:
                volumes.append(dict(name=vol.name(), capacity=info[1], allocation=info[2]))
    xml = ElementTree.fromstring(call("pool {0}: XML".format(name), pool.XMLDesc, 0))
    return dict(
        name=name,
        type=xml.get("type"),
        path=xml.findtext("target/path"),
        active=active,
        autostart=bool(call("pool {0}: autostart".format(name), pool.autostart)),
        volumes=sorted(volumes, key=lambda v: v["name"]),
    )


def _network(call, network):
    name = network.name()
    xml = ElementTree.fromstring(call("network {0}: XML".format(name), network.XMLDesc, 0))
    bridge = xml.find("bridge")
    return dict(
        name=name,
        active=bool(call("network {0}: is it active".format(name), network.isActive)),
        autostart=bool(call("network {0}: autostart".format(name), network.autostart)),
        bridge=bridge.get("name") if bridge is not None else None,
    )


def _domain(call, domain):
    name = domain.name()
    info = call("domain {0}: info".format(name), domain.info)
    xml = ElementTree.fromstring(call("domain {0}: XML".format(name), domain.XMLDesc, 0))
    return dict(
        name=name,
        state=DOMAIN_STATES.get(info[0], str(info[0])),
        autostart=bool(call("domain {0}: autostart".format(name), domain.autostart)),
        vcpus=info[3],
        memory_mib=info[1] // 1024,
        virt_type=xml.get("type"),
        snapshots=_snapshots(call, domain),
    )


def _snapshots(call, domain):
    """The domain's snapshots, oldest first (then by name), named as kvm_snapshot returns them
    (name, creation_time in seconds since the epoch, created in ISO 8601 UTC,
    state, parent, current).  Read with the standard library's ElementTree, as
    everything here: this module must not need lxml."""
    name = domain.name()
    found = []
    for snap in call("domain {0}: list snapshots".format(name), domain.listAllSnapshots, 0):
        xml = ElementTree.fromstring(call("snapshot {0} of {1}: XML".format(snap.getName(), name), snap.getXMLDesc, 0))
        created = xml.findtext("creationTime")
        created = int(created) if created and created.isdigit() else None
        found.append(dict(
            name=xml.findtext("name"),
            creation_time=created,
            created=(datetime.datetime.fromtimestamp(created, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                     if created is not None else None),
            state=xml.findtext("state"),
            parent=xml.findtext("parent/name"),
            current=bool(call("snapshot {0} of {1}: is it current".format(snap.getName(), name), snap.isCurrent, 0)),
        ))
    return sorted(found, key=lambda s: (s["creation_time"] or 0, s["name"]))


def qemu(host):
    for name in QEMU_BINARIES:
        binary = host.which(name)
        if binary:
            return dict(binary=binary, version=_match(_QEMU_VERSION, host.output([binary, "--version"])))
    return dict(binary=None, version=None)


# -- parsers (pure) -------------------------------------------------------------


def _match(pattern, text):
    match = pattern.search(text or "")
    return match.group(1) if match else None


def _libvirt_version(number):
    return "{0}.{1}.{2}".format(number // 1000000, (number // 1000) % 1000, number % 1000)
