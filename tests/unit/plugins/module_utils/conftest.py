# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kvm_domain unit tests' lab on libvirt's test:///default driver, and
`reconcile`: kvm_domain's main() run in this process (AnsibleModule, the
runner, the back end), returning exactly the keyword arguments main() hands
to exit_json/fail_json, before Ansible masks no_log values in its output,
so that a leak cannot hide behind that masking.  test:///default keeps one
state per process, shared by every connection to it."""

from __future__ import annotations

import uuid

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import ITEM_KEYS
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_domain
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

URI = "test:///default"


@pytest.fixture
def lab():
    """A test:/// connection, a unique name prefix and a qcow2 volume in the
    test pool; the domains and volumes under that prefix are removed after."""
    connection = Connection(URI)
    prefix = "u{0}-".format(uuid.uuid4().hex[:8])
    pool = connection.conn.storagePoolLookupByName("default-pool")
    volume = pool.createXML(
        "<volume><name>{0}disk.qcow2</name><capacity unit='M'>16</capacity>"
        "<target><format type='qcow2'/></target></volume>".format(prefix), 0)
    yield connection, prefix, volume.name()
    for dom in connection.conn.listAllDomains():
        if dom.name().startswith(prefix):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    for name in pool.listVolumes():
        if name.startswith(prefix):
            pool.storageVolLookupByName(name).delete(0)
    connection.close()


def params(**kw):
    """kvm_domain's parameters: every per-domain option None unless given."""
    result = dict((key, None) for key in ITEM_KEYS)
    result.update(domains=None, uri=URI)
    result.update(kw)
    return result


class Failed(Exception):
    """kvm_domain failed: `result` is what it returned, `field` the field its message names first."""

    def __init__(self, result):
        super().__init__(result["msg"])
        self.result = result
        self.field = result["msg"].split(": ", 1)[0]


def run_module(args, check_mode=False, diff=True):
    """kvm_domain's result for `args` (None values left out as Ansible leaves them)."""
    args = dict((k, v) for k, v in args.items() if v is not None)
    return run_main(kvm_domain.main, args, check_mode, diff, printed=False)


@pytest.fixture
def reconcile():
    """reconcile(params, check_mode): kvm_domain's result; raises Failed when it fails."""

    def run(args, check_mode=False, diff=True):
        result = run_module(args, check_mode, diff)
        if result.get("failed"):
            raise Failed(result)
        return result

    run.Failed = Failed
    return run
