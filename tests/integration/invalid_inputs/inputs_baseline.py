# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline objects on the runner's libvirtd (prefix kvmops-it-robust-), so invalid
updates of existing objects are tested too; removed again, with an interrupted run's leftovers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    DOMAIN,
    MINE,
    NET2_SUBNET,
    NETWORK,
    NETWORK2,
    NETWORK_OFF,
    NET_ADDRESS,
    NET_BRIDGE,
    POOL,
    POOL_DIR,
    POOL_OFF,
    POOL_OFF_DIR,
    SRC,
    SRC_CONTENT,
    SRC_DIR,
    SRC_EMPTY,
    VOLUME,
    VOLUME_CAPACITY,
    WORK,
)


# ---------------------------------------------------------------- baseline (runner)

def _remove_mine(conn):
    """Undefine every object with our prefix and remove WORK (leftovers of an interrupted run too)."""
    for domain in conn.listAllDomains(0):
        if domain.name().startswith(MINE):
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    for network in conn.listAllNetworks(0):
        if network.name().startswith(MINE):
            if network.isActive():
                network.destroy()
            if network.isPersistent():
                network.undefine()
    for pool in conn.listAllStoragePools(0):
        if pool.name().startswith(MINE):
            if pool.isActive():
                for volume in pool.listAllVolumes(0):
                    volume.delete(0)
                pool.destroy()
            if pool.isPersistent():
                pool.undefine()
    shutil.rmtree(WORK, ignore_errors=True)


def _define_pool(conn, name, path, active):
    os.makedirs(path, mode=0o755, exist_ok=True)
    pool = conn.storagePoolDefineXML("<pool type='dir'><name>{0}</name><target><path>{1}</path></target></pool>".format(name, path), 0)
    if active:
        pool.create(0)
    return pool


def _create_baseline(conn):
    os.makedirs(SRC_DIR)
    Path(SRC).write_bytes(SRC_CONTENT)
    Path(SRC_EMPTY).write_bytes(b"")
    pool = _define_pool(conn, POOL, POOL_DIR, active=True)
    _define_pool(conn, POOL_OFF, POOL_OFF_DIR, active=False)
    pool.createXML("<volume><name>{0}</name><capacity unit='bytes'>{1}</capacity><target><format type='qcow2'/></target></volume>".format(
        VOLUME, VOLUME_CAPACITY), 0)
    network = conn.networkDefineXML(
        "<network><name>{0}</name><bridge name='{1}'/><ip address='{2}' prefix='24'><dhcp>"
        "<range start='10.213.77.100' end='10.213.77.200'/></dhcp></ip></network>".format(NETWORK, NET_BRIDGE, NET_ADDRESS))
    network.create()
    conn.networkDefineXML("<network><name>{0}</name><bridge name='kvrob1'/><ip address='{1}.1' prefix='24'/></network>".format(
        NETWORK2, NET2_SUBNET)).create()
    conn.networkDefineXML("<network><name>{0}</name><bridge name='kvrob2'/><ip address='{1}.1' prefix='24'/></network>".format(
        NETWORK_OFF, NET2_SUBNET))
    conn.defineXML(
        "<domain type='qemu'><name>{0}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices>"
        "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='{1}' volume='{2}'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<interface type='network'><source network='{3}'/><model type='virtio'/></interface>"
        "</devices></domain>".format(DOMAIN, POOL, VOLUME, NETWORK))
