# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a running guest shows from the outside: its interfaces' addresses
(from the guest agent, the DHCP leases of libvirt's networks, the host's ARP
table, in the order the user asks) and whether its agent answers; and the
wait for them (`wait_for: ip|agent`), polled once a second against one
deadline shared by every domain of the task."""

from __future__ import annotations

import time

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import one_line

ADDRESS_SOURCES = ("agent", "lease", "arp")
DEFAULT_ADDRESS_SOURCE = ["agent", "lease"]
WAIT_FOR = ("ip", "agent")
_SOURCE_FLAGS = {"agent": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT", "lease": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE",
                 "arp": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP"}
_SOURCE_DEFAULTS = {"agent": 1, "lease": 0, "arp": 2}
POLL_SECONDS = 1.0


def _usable(address):
    """An address Ansible could reach the guest on: not loopback, not link-local."""
    # Only runs that read addresses need it.
    import ipaddress  # pylint: disable=import-outside-toplevel

    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)


class Observation:
    """One look at a guest: addresses per MAC and source, the agent's state,
    and a one-line account of what was seen (for a timeout's message)."""

    def __init__(self):
        self.by_mac = {}        # mac -> (source, [addresses])
        self.agent = None       # True: answered; False: did not; None: not asked
        self.seen = []          # "agent: ..." / "lease: ..." parts

    @property
    def has_ip(self):
        return any(addresses for _source, addresses in self.by_mac.values())

    def summary(self):
        return "; ".join(self.seen) or "nothing"


def observe(connection, dom, sources):
    """Ask each source in order; for each MAC, the first source that gives a
    usable address wins.  A source that fails (no agent, no lease on this
    kind of interface) is noted, never raised, unless libvirtd went away."""
    seen = Observation()
    for source in sources:
        flag = getattr(libvirt, _SOURCE_FLAGS[source], _SOURCE_DEFAULTS[source])
        try:
            answer = dom.interfaceAddresses(flag, 0) or {}
        except libvirt.libvirtError as e:
            if connection.lost(e):
                raise connection.error("read the addresses of domain {0}".format(dom.name()), e)
            if source == "agent":
                seen.agent = False
            seen.seen.append("{0}: {1}".format(source, one_line(e.get_error_message() or e)))
            continue
        if source == "agent":
            seen.agent = True
        found = []
        for name, interface in sorted(answer.items()):
            mac = (interface.get("hwaddr") or "").lower()
            addresses = [a["addr"] for a in interface.get("addrs") or [] if a.get("addr") and _usable(a["addr"])]
            addresses.sort(key=lambda a: (":" in a, a))  # IPv4 first
            if addresses:
                found.append("{0} {1}".format(name, ",".join(addresses)))
            if mac and addresses and mac not in seen.by_mac:
                seen.by_mac[mac] = (source, addresses)
        seen.seen.append("{0}: {1}".format(source, ", ".join(found) or "no address"))
    return seen


def fill_addresses(interfaces, observation):
    """Add `addresses` and `address_source` to each described interface (in place)."""
    for nic in interfaces:
        source, addresses = observation.by_mac.get((nic.get("mac") or "").lower(), (None, [])) if observation else (None, [])
        nic["addresses"] = list(addresses)
        nic["address_source"] = source


def wait(connection, waits, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until every (name, what, sources, describe) in `waits` is reached,
    polling each second, all against one deadline `timeout` seconds from now.
    `describe(observation)` is called with each domain's last observation.
    Raises KvmError naming the first guest not ready and what it last saw."""
    deadline = clock() + timeout
    pending = list(waits)
    last = {}
    while True:
        still = []
        for name, what, sources, describe in pending:
            dom = connection.domain(name)
            if dom is None:
                raise KvmError("wait_for: domain {0!r} vanished while waiting for its {1}".format(name, _WHAT[what]))
            asked = sources if what == "ip" else ["agent"] + [s for s in sources if s != "agent"]
            observation = observe(connection, dom, asked)
            last[name] = observation
            describe(observation)
            if (observation.has_ip if what == "ip" else observation.agent):
                continue
            still.append((name, what, sources, describe))
        pending = still
        if not pending:
            return
        if clock() >= deadline:
            name, what = pending[0][0], pending[0][1]
            others = [p[0] for p in pending[1:]]
            raise KvmError("wait_for: guest {0!r} has no {1} after wait_timeout={2} seconds{3}; last seen: {4}".format(
                name, _WHAT[what], timeout,
                " (nor {0})".format(", ".join(repr(o) for o in others)) if others else "", last[name].summary()))
        sleep(POLL_SECONDS)


_WHAT = {"ip": "IP address", "agent": "answering guest agent"}
