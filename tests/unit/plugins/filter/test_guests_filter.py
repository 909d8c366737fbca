# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters guest_volumes/guest_domains that the role kvm_guests feeds to
kvm_volume and kvm_domain: the tutorial's guest unchanged, image guests,
pass-through of cloud-init options, and errors naming the item."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.hypervisor.plugins.filter.guests import FilterModule, guest_domains, guest_volumes

DEFAULTS = {"state": "running", "vcpus": 1, "memory": 1024, "virt_type": "kvm", "autostart": True,
            "disk_pool": "store", "disk_format": "qcow2", "iso_pool": "iso", "graphics": "vnc"}

# The tutorial's guest (inventories/example/group_vars/kvm_hosts.yml).
TUTORIAL = {"name": "centos7", "vcpus": 4, "memory": "4G", "disk": {"size": "20G"},
            "iso": {"volume": "CentOS-7-x86_64-DVD.iso"}, "bridge": "br0"}


def test_registered():
    assert set(FilterModule().filters()) == {"guest_volumes", "guest_domains"}


def test_tutorial_guest():
    """What the role's Jinja built before it became these filters, key for key."""
    assert guest_volumes([TUTORIAL], DEFAULTS) == [
        {"name": "centos7.qcow2", "pool": "store", "capacity": "20G", "format": "qcow2"}]
    assert guest_domains([TUTORIAL], DEFAULTS) == [{
        "name": "centos7", "state": "running", "vcpus": 4, "memory": "4G", "virt_type": "kvm", "autostart": True,
        "disks": [{"pool": "store", "volume": "centos7.qcow2"}],
        "cdrom": {"pool": "iso", "volume": "CentOS-7-x86_64-DVD.iso"}, "boot": ["cdrom", "hd"],
        "interfaces": [{"bridge": "br0"}], "graphics": "vnc", "graphics_listen": None}]


def test_defaults_and_no_disk():
    (domain,) = guest_domains([{"name": "tiny", "network": "default", "autostart": False}], DEFAULTS)
    assert domain["memory"] == "1024" and domain["vcpus"] == 1 and domain["autostart"] is False
    assert domain["disks"] == [] and domain["cdrom"] is None and domain["boot"] == ["hd"]
    assert domain["interfaces"] == [{"network": "default"}]
    assert guest_volumes([{"name": "tiny"}], DEFAULTS) == []
    # An absent guest keeps its domain entry (to be removed) but asks for no volume.
    gone = {"name": "old", "state": "absent", "disk": {"size": "1G"}}
    assert guest_volumes([gone], DEFAULTS) == []
    assert guest_domains([gone], DEFAULTS)[0]["state"] == "absent"


def test_image_from_a_base_volume():
    guest = {"name": "web1", "image": {"pool": "images", "volume": "debian-12.qcow2"}, "network": "default",
             "cloud_init": {"user_data": {"hostname": "web1"}}, "wait_for": "ip", "wait_timeout": 120,
             "tags": ["web"]}
    assert guest_volumes([guest], DEFAULTS) == [{
        "name": "web1.qcow2", "pool": "store", "format": "qcow2",
        "backing_volume": {"pool": "images", "volume": "debian-12.qcow2"}}]
    (domain,) = guest_domains([guest], DEFAULTS)
    assert domain["disks"] == [{"pool": "store", "volume": "web1.qcow2"}]
    assert domain["cloud_init"] == {"user_data": {"hostname": "web1"}}
    assert domain["wait_for"] == "ip" and domain["wait_timeout"] == 120 and domain["tags"] == ["web"]
    assert "guest_agent" not in domain and "graphics_password" not in domain
    # disk.size with an image is the new volume's capacity; the base pool defaults to the disk pool.
    sized = dict(guest, image={"volume": "base.qcow2"}, disk={"size": "10G", "pool": "fast"})
    assert guest_volumes([sized], DEFAULTS) == [{
        "name": "web1.qcow2", "pool": "fast", "format": "qcow2", "capacity": "10G",
        "backing_volume": {"pool": "store", "volume": "base.qcow2"}}]


def test_image_from_a_url():
    guest = {"name": "web2", "image": {"url": "https://example.com/d.qcow2.xz", "checksum": "sha256:ab",
                                       "url_username": "u", "url_password": "p"}}
    assert guest_volumes([guest], DEFAULTS) == [{
        "name": "web2.qcow2", "pool": "store", "format": "qcow2", "url": "https://example.com/d.qcow2.xz",
        "checksum": "sha256:ab", "url_username": "u", "url_password": "p"}]


@pytest.mark.parametrize("guests, message", [
    ("web", r"^kvm_guests: must be a list"),
    (["web"], r"^kvm_guests\[0\]: must be a dict"),
    ([{"vcpus": 1}], r"^kvm_guests\[0\]\.name: is required"),
    ([{"name": "a"}, {"name": "b", "disk": {}}], r"^kvm_guests\[1\] \(b\)\.disk\.size: is required"),
    ([{"name": "a", "image": "debian.qcow2"}], r"^kvm_guests\[0\] \(a\)\.image: must be a dict"),
    ([{"name": "a", "image": {"volume": "v", "url": "u"}}], r"\(a\)\.image: give either volume"),
    ([{"name": "a", "image": {}}], r"\(a\)\.image: give either volume"),
    ([{"name": "a", "image": {"url": "http://x/y"}}], r"\(a\)\.image\.checksum: is required"),
    ([{"name": "a", "image": {"volume": "v", "checksum": "x"}}], r"\(a\)\.image: unknown key\(s\) checksum"),
    ([{"name": "a", "image": {"volume": "v"}, "iso": {"volume": "i"}}], r"\(a\): give one of image and iso"),
    ([{"name": "a", "bridge": "br0", "network": "default"}], r"\(a\): give one of bridge and network"),
])
def test_bad_items_name_the_field(guests, message):
    for function in (guest_volumes, guest_domains):
        with pytest.raises(AnsibleFilterError, match=message):
            function(guests, DEFAULTS)


def test_incomplete_defaults():
    with pytest.raises(AnsibleFilterError, match="lack graphics"):
        guest_domains([], dict((key, value) for key, value in DEFAULTS.items() if key != "graphics"))
