# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge's main() in this process, through the one runner (_module.run)
with the KvmBridge back end: no libvirt, input refused before anything is
read, confirm_only planned like any other change.  Nothing here changes the
runner's network: bad input fails before the first read, and confirm_only
only reads the (absent) rollback state of a bridge that does not exist."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge._manager import KvmBridge
from ansible_collections.kvmops.hypervisor.plugins.module_utils._bridge import _rollback
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_bridge
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main


def run_module(args, check_mode=True):
    return run_main(kvm_bridge.main, args, check_mode, printed=False)


@pytest.mark.parametrize("args, field", [
    (dict(name="br:0", ports=["eth0"]), "name"),  # the kernel refuses ':' (accepted before issue 10)
    (dict(name="br0", ports=["eth 0"]), "ports"),
    (dict(name="a" * 16, confirm_only=True), "name"),
    (dict(name="br0", ports=["eth0"], rollback_timeout=1), "rollback_timeout"),
    (dict(name="br0", vlan=dict(id=4095, parent="eth0")), "vlan.id"),
    (dict(name="br0", vlan=dict(id=0, parent="eth0")), "vlan.id"),
    (dict(name="br0", bond=dict(name="bond0", ports=["eth0"], lacp_rate="fast")), "bond.lacp_rate"),
    (dict(name="br0", bond=dict(name="bond0", ports=["eth0"]), vlan=dict(id=10, parent="enp129s0f1np1")), "vlan.parent"),
    (dict(name="br0", vlan=dict(id=1000, parent="enp129s0f1np1")), "vlan.name"),
])
def test_bad_input_fails_before_anything(args, field):
    result = run_module(args, check_mode=False)
    assert result["failed"] is True and result["msg"].startswith(field + ": "), result
    assert result["changed"] is False


def test_a_bond_mode_that_does_not_exist_is_refused_by_the_argument_spec():
    result = run_module(dict(name="br0", bond=dict(name="bond0", mode="lacp", ports=["eth0"])), check_mode=False)
    assert result["failed"] is True and "mode" in result["msg"] and "bond" in result["msg"] and "802.3ad" in result["msg"]
    assert "\n" not in result["msg"]


def test_confirm_only_of_a_bridge_never_changed(tmp_path):
    """A name with quotes and '$' is valid (the kernel's rules); nothing was ever armed for it."""
    assert KvmBridge.needs_libvirt is False
    with mock.patch.object(_rollback, "STATE_DIR", str(tmp_path / "state")), \
            mock.patch.object(_rollback, "UNIT_DIR", str(tmp_path / "units")):
        result = run_module(dict(name="b'$(>B)", confirm_only=True), check_mode=True)
        assert result["changed"] is False and result["actions"] == []
        assert result["change"] == dict(id=None, state="none")
        refused = run_module(dict(name="b'$(>B)", confirm_only=True, change_id="0123456789abcdef"), check_mode=True)
    assert refused["failed"] is True
    assert refused["msg"] == "change_id: no change 0123456789abcdef of b'$(>B) was armed on this host (the last one: none)"
    assert not (tmp_path / "state").exists()  # check mode wrote nothing, not even the lock
