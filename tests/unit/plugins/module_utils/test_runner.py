# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_module.run: one check-mode decision, result shapes, per-item results on a
mid-list failure, concurrent re-plans, no libvirt for back ends without it.
A toy back end creates volumes in the test:/// driver's default pool."""

from __future__ import annotations

import uuid

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

POOL = "default-pool"
_VOLUME_XML = "<volume><name>{0}</name><capacity unit='K'>4</capacity></volume>"


class Volumes(Backend):
    """Creates the named volumes; a name starting with 'bad' is refused at
    validation, one containing 'boom' fails while applying."""

    list_key = "names"
    # Names whose first apply raises ConcurrentChangeError (a re-plan follows).
    races = set()

    def specs(self, params):
        names = params["names"] or [params["name"]]
        for index, name in enumerate(names):
            if name.startswith("bad"):
                raise ValidationError("names[{0}]".format(index), "{0!r} is refused".format(name))
        return names

    def plan(self, spec):
        plan = Plan(spec)
        pool = self.connection.pool(POOL)
        exists = self.connection.volume(pool, spec) is not None
        plan.result = dict(volume=dict(name=spec, present=True))
        if not exists:
            plan.differ("present", False, True)
            plan.add("create volume {0}".format(spec), lambda: self._create(pool, spec))
        return plan

    def _create(self, pool, name):
        if "boom" in name:
            raise ValidationError("names", "{0} exploded".format(name))
        if name in self.races:
            self.races.discard(name)
            raise ConcurrentChangeError("create volume {0}".format(name), Exception("already exists"))
        pool.createXML(_VOLUME_XML.format(name), 0)


class Settling(Volumes):
    """Waits on every created volume together after the last one; fails when
    one of them is named '*late*', after every item was applied."""

    settled = []

    def settle(self):
        self.settled.append(list(self.module.params["names"] or [self.module.params["name"]]))
        late = [name for name in self.settled[-1] if "late" in name]
        if late:
            raise ValidationError("wait_for", "timed out waiting for {0}".format(", ".join(late)))


class Facts(Backend):
    needs_libvirt = False

    def specs(self, params):
        return ["facts"]

    def plan(self, spec):
        plan = Plan(spec)
        plan.result = dict(ansible_facts=dict(answer=42), connection=repr(self.connection))
        return plan


def execute(backend, args, check_mode=False, diff=False):
    def main():
        module = AnsibleModule(argument_spec=dict(
            CONNECTION_ARGS, name=dict(type="str"), names=dict(type="list", elements="str")), supports_check_mode=True)
        run(module, backend)

    result = run_main(main, args, check_mode, diff)
    return result.exit_code, dict(result)


@pytest.fixture
def lab():
    """Keeps the test:/// driver's state alive for the module's own connections."""
    connection = Connection("test:///default")
    prefix = "r{0}-".format(uuid.uuid4().hex[:8])
    pool = connection.conn.storagePoolLookupByName(POOL)
    yield prefix, pool
    for name in pool.listVolumes():
        if name.startswith(prefix):
            pool.storageVolLookupByName(name).delete(0)
    connection.close()


URI = dict(uri="test:///default")


def test_check_mode_plans_and_writes_nothing(lab):
    prefix, pool = lab
    code, result = execute(Volumes, dict(URI, name=prefix + "a"), check_mode=True, diff=True)
    assert code == 0
    assert result["changed"] is True
    assert result["actions"] == ["create volume {0}a".format(prefix)]
    assert result["volume"] == dict(name=prefix + "a", present=True)
    assert result["diff"]["before"] == dict(present=False)
    assert prefix + "a" not in pool.listVolumes()


def test_single_form_applies_then_is_unchanged(lab):
    prefix, pool = lab
    code, first = execute(Volumes, dict(URI, name=prefix + "a"))
    assert (code, first["changed"]) == (0, True)
    assert "name" not in first and "diff" not in first
    assert prefix + "a" in pool.listVolumes()
    code, second = execute(Volumes, dict(URI, name=prefix + "a"), diff=True)
    assert (code, second["changed"], second["actions"]) == (0, False, [])
    assert second["diff"] == dict(before={}, after={})


def test_list_form_shapes_items_actions_and_diff(lab):
    prefix, pool = lab
    pool.createXML(_VOLUME_XML.format(prefix + "b"), 0)
    names = [prefix + "a", prefix + "b"]
    code, result = execute(Volumes, dict(URI, names=names), diff=True)
    assert code == 0
    assert [(i["name"], i["changed"]) for i in result["names"]] == [(names[0], True), (names[1], False)]
    assert result["actions"] == ["{0}: create volume {0}".format(names[0])]
    assert result["diff"] == [dict(before_header=names[0], after_header=names[0],
                                   before=dict(present=False), after=dict(present=True))]


def test_mid_list_failure_reports_the_items_before_it(lab):
    prefix, pool = lab
    names = [prefix + "a", prefix + "b", prefix + "boom", prefix + "c"]
    code, result = execute(Volumes, dict(URI, names=names))
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "names[2] ({0}boom): names: {0}boom exploded".format(prefix)
    assert result["changed"] is True
    assert [(i["name"], i["changed"]) for i in result["names"][:2]] == [(names[0], True), (names[1], True)]
    assert result["names"][2]["failed"] is True and result["names"][2]["actions"] == []
    assert len(result["names"]) == 3
    assert sorted(v for v in pool.listVolumes() if v.startswith(prefix)) == sorted(names[:2])


def test_bad_input_touches_nothing(lab):
    prefix, pool = lab
    code, result = execute(Volumes, dict(URI, names=[prefix + "a", "bad"]))
    assert code == 1
    assert result["msg"] == "names[1]: 'bad' is refused"
    assert result["changed"] is False
    assert not [v for v in pool.listVolumes() if v.startswith(prefix)]


def test_concurrent_change_is_planned_again(lab):
    prefix, pool = lab
    Volumes.races.add(prefix + "a")
    code, result = execute(Volumes, dict(URI, name=prefix + "a"))
    assert (code, result["changed"]) == (0, True)
    assert prefix + "a" in pool.listVolumes()
    assert not Volumes.races


def test_backend_without_libvirt_gets_no_connection():
    code, result = execute(Facts, dict(uri="qemu+nowhere:///nothing"))
    assert code == 0
    result.pop("invocation", None)  # ansible-core >= 2.21 adds it only when asked
    assert result == dict(changed=False, actions=[], ansible_facts=dict(answer=42), connection="None")


def test_settle_runs_once_after_every_item_and_never_in_check_mode(lab):
    prefix, pool = lab
    names = [prefix + "a", prefix + "b"]
    Settling.settled.clear()
    execute(Settling, dict(URI, names=names), check_mode=True)
    assert Settling.settled == []
    code, result = execute(Settling, dict(URI, names=names))
    assert code == 0 and Settling.settled == [names]


def test_a_failed_settle_lists_every_applied_item(lab):
    prefix, pool = lab
    names = [prefix + "a", prefix + "late"]
    code, result = execute(Settling, dict(URI, names=names))
    assert code == 1
    assert result["msg"] == "wait_for: timed out waiting for {0}late".format(prefix)
    assert result["changed"] is True
    assert [(i["name"], i["changed"]) for i in result["names"]] == [(names[0], True), (names[1], True)]
    assert sorted(v for v in pool.listVolumes() if v.startswith(prefix)) == sorted(names)
