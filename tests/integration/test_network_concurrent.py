# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_network raced by another client on the runner's libvirtd
(qemu:///system; only networks named kvmops-it-h5race-*).

Issue 11, item 9: the loser of a concurrent create must never tear down the
winner's network.  A start refused as "already active" means another client
started the network after this run read it: the run plans again from a fresh
read; it does not undo (destroy, undefine, restore) what the other client
made.  Before the fix, the loser's restore destroyed the running network and
the loser failed.

- one race made deterministic: the loser plans, the winner starts the
  network, the loser applies its plan;
- two real module runs (processes reading ANSIBLE_MODULE_ARGS, as Ansible
  runs a module) released at the same moment, from an absent network and
  from one defined but not started, several rounds: both succeed and the
  network is there, running, persistent and autostarted, once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._network_backend import NetworkBackend

URI = "qemu:///system"
PREFIX = "kvmops-it-h5race-"
ROUNDS = 6
ARGS = dict(name=PREFIX + "net", forward="isolated", bridge="kvh5race0", uri=URI,
            ipv4=dict(address="10.213.94.1", prefix=24, dhcp_start="10.213.94.10", dhcp_end="10.213.94.99"))
# The network as ARGS declare it, defined (not started) by another client.
DEFINED = ("<network><name>{0}</name><bridge name='{1}'/><ip address='10.213.94.1' prefix='24'><dhcp>"
           "<range start='10.213.94.10' end='10.213.94.99'/></dhcp></ip></network>").format(ARGS["name"], ARGS["bridge"])
MODULE = "ansible_collections.kvmops.hypervisor.plugins.modules.kvm_network"
# Imports the module first, then waits for the barrier file: both runs then
# start their reads within a millisecond or two of each other.
RUN = (
    "import os, sys, time\n"
    "import {0} as module\n"
    "while not os.path.exists(sys.argv[2]):\n"
    "    time.sleep(0.001)\n"
    "sys.argv = sys.argv[:2]\n"
    "module.main()\n"
).format(MODULE)


def cleanup(conn):
    for net in conn.listAllNetworks():
        if net.name().startswith(PREFIX):
            if net.isActive():
                net.destroy()
            if net.isPersistent():
                net.undefine()


@pytest.fixture
def conn():
    connection = libvirt.open(URI)
    cleanup(connection)
    yield connection
    cleanup(connection)
    connection.close()


class _Module:
    """What NetworkBackend reads of the AnsibleModule (no module run here)."""

    def __init__(self, params):
        self.params = dict(params, state="present", mtu=None, domain=None, autostart=True, active=True, restart=True)
        self.check_mode = False


def test_a_start_refused_as_already_active_is_replanned_not_undone(conn):
    # The winner has defined the network; the loser reads it defined and stopped.
    winner = conn.networkDefineXML(DEFINED)
    uuid = winner.UUIDString()
    connection = Connection(URI)
    try:
        backend = NetworkBackend(_Module(ARGS), connection)
        spec = backend.specs(backend.params)[0]
        plan = backend.plan(spec)
        assert plan.labels == ["enable autostart", "start network"], plan.labels
        winner.create()  # the winner starts it after the loser's read
        with pytest.raises(ConcurrentChangeError, match="already active"):
            for _label, apply in plan.actions:
                apply()
        # Nothing undone: the winner's network still runs, same definition.
        net = conn.networkLookupByName(ARGS["name"])
        assert net.isActive() and net.isPersistent() and net.UUIDString() == uuid
        # The runner plans again from a fresh read: nothing left to do.
        assert backend.plan(spec).labels == []
    finally:
        connection.close()


def _start(tmp_path, index, barrier):
    path = tmp_path / "args{0}.json".format(index)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": ARGS}))
    return subprocess.Popen([sys.executable, "-c", RUN, str(path), str(barrier)],  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=120)
    assert out, err
    return json.loads(out)


def test_two_runs_at_once_both_succeed_and_leave_one_running_network(conn, tmp_path):
    both_changed = 0
    for round_no in range(ROUNDS):
        cleanup(conn)
        predefined = round_no % 2 == 1
        if predefined:  # a third client defined it: both runs find it stopped and start it
            conn.networkDefineXML(DEFINED)
        barrier = tmp_path / "go{0}".format(round_no)
        procs = [_start(tmp_path, i, barrier) for i in range(2)]
        time.sleep(1.5)  # both imported and waiting
        barrier.write_text("")
        results = [_finish(proc) for proc in procs]
        for result in results:
            assert not result.get("failed"), (round_no, result)
            assert result["network"]["active"] is True and result["network"]["autostart"] is True, result
        assert any(result["changed"] for result in results), results
        both_changed += all(result["changed"] for result in results)
        nets = [n for n in conn.listAllNetworks() if n.name().startswith(PREFIX)]
        assert len(nets) == 1 and nets[0].isActive() and nets[0].isPersistent() and nets[0].autostart(), round_no
        assert len({result["network"]["uuid"] for result in results}) == 1, results
    # How often the runs really met (both found something to do); not asserted: timing.
    print("rounds in which both runs changed something: {0}/{1}".format(both_changed, ROUNDS))
