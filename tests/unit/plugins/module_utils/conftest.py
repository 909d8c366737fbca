# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kvm_domain unit tests' lab on libvirt's test:///default driver."""

from __future__ import annotations

import uuid

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection


@pytest.fixture
def lab():
    """A test:/// connection, a unique name prefix and a qcow2 volume in the
    test pool; the domains and volumes under that prefix are removed after."""
    connection = Connection("test:///default")
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
