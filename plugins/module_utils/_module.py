# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one runner every module's main() calls: run(module, BackendClass).

It opens a libvirt connection only for back ends that need one, validates
every item before the first write, decides check mode in one place (a check
run plans and stops), applies plans in order, re-plans an object that
another client changed meanwhile, shapes single and list results alike and
turns typed errors into one fail_json line.  See _plan.py for the contract."""

from __future__ import annotations

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError

# Mirrors plugins/doc_fragments/connection.py.
CONNECTION_ARGS = dict(
    uri=dict(type="str", default="qemu:///system"),
)

# Re-plans after another client changed the same object, and the pause before each.
CONCURRENT_RETRIES = 3
_RETRY_PAUSE = 0.5


def require_libs(module, lxml=True):
    # Imported here: modules without libvirt (kvm_host_facts, kvm_bridge) must not pay for, or need, libvirt and lxml.
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import HAS_LIBVIRT, LIBVIRT_IMPORT_ERROR
    from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import HAS_LXML, LXML_IMPORT_ERROR

    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python"), exception=LIBVIRT_IMPORT_ERROR)
    if lxml and not HAS_LXML:
        module.fail_json(msg=missing_required_lib("lxml"), exception=LXML_IMPORT_ERROR)


class _ItemFailed(Exception):
    """An error while planning or applying one item, with the actions already applied."""

    def __init__(self, error, name, done):
        super().__init__(str(error))
        self.error = error
        self.name = name
        self.done = done


def _name_of(spec):
    name = spec.get("name") if isinstance(spec, dict) else getattr(spec, "name", None)
    return name if isinstance(name, str) else None


class _Runner:
    def __init__(self, module, backend_class):
        self.module = module
        self.connection = None
        # Another client's change, re-planned; nothing to catch without libvirt.
        self.concurrent = ()
        if backend_class.needs_libvirt:
            require_libs(module)
            from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import ConcurrentChangeError, Connection

            self.connection = Connection(module.params["uri"])
            self.concurrent = ConcurrentChangeError
        self.backend = backend_class(module, self.connection)
        self.list_form = bool(backend_class.list_key) and module.params.get(backend_class.list_key) is not None
        self.items = []

    def _errors(self):
        if self.connection is None:
            return (KvmError,)
        from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt

        return (KvmError, libvirt.libvirtError)

    def _message(self, error):
        return str(self.connection.translate(error) if self.connection is not None else error)

    def run(self):
        errors = self._errors()
        try:
            specs = self._specs()
            for spec in specs:
                self.items.append(self._converge(spec))
            if not self.module.check_mode:
                self.backend.settle()
        except _ItemFailed as failure:
            self._fail(self._message(failure.error), failure)
        except errors as error:
            self._fail(self._message(error))
        finally:
            if self.connection is not None:
                self.connection.close()
        self.module.exit_json(**self.backend.finish(self._result()))

    def _specs(self):
        """Every item, validated (read only): read again when another client
        changed what the reads saw."""
        for attempt in range(CONCURRENT_RETRIES + 1):
            try:
                return self.backend.specs(self.module.params)
            except self.concurrent:
                if attempt == CONCURRENT_RETRIES:
                    raise
                time.sleep(_RETRY_PAUSE * (attempt + 1))
        raise AssertionError("unreachable")

    def _converge(self, spec):
        """Plan one object and, unless checking, apply the plan.  When another
        client changed the object meanwhile (while this run read it, wrote it
        or read it back), the item is planned again from a fresh read: a
        refused call changed nothing, every earlier write is real state the
        new plan reads back, and the new plan writes only what still differs,
        so no write is repeated blindly.  The connection stays open: it is
        not at fault, and the back end's handles stay valid.  A conflict that
        persists past CONCURRENT_RETRIES still fails.  The item is changed
        when any attempt wrote something."""
        wrote = False
        for attempt in range(CONCURRENT_RETRIES + 1):
            plan, done = None, []
            try:
                plan = self.backend.plan(spec)
                if self.module.check_mode:
                    return self._item(plan, plan.result, False)
                for label, apply in plan.actions:
                    if apply is not None:
                        apply()
                    done.append(label)
                return self._item(plan, self.backend.applied(spec, plan), wrote)
            except self.concurrent as error:
                wrote = wrote or bool(done)
                if attempt == CONCURRENT_RETRIES:
                    raise _ItemFailed(error, plan.name if plan else _name_of(spec), done)
                time.sleep(_RETRY_PAUSE * (attempt + 1))
            except self._errors() as error:
                raise _ItemFailed(error, plan.name if plan else _name_of(spec), done)
        raise AssertionError("unreachable")

    def _item(self, plan, result, wrote):
        for warning in plan.warnings:
            self.module.warn(warning)
        item = dict(name=plan.name, changed=plan.changed or wrote, actions=plan.labels)
        item.update(result)
        if self.module._diff and plan.changed:
            item["diff"] = plan.diff()
        return item

    def _shaped(self, items):
        changed = any(item["changed"] for item in items)
        diffs = [item["diff"] for item in items if "diff" in item]
        if self.list_form:
            result = dict(changed=changed, actions=[
                "{0}: {1}".format(item["name"], label) for item in items for label in item["actions"]])
            result[self.backend.list_key] = items
        else:
            result = dict(items[0]) if items else dict(changed=False, actions=[])
            result.pop("name", None)
            result.pop("diff", None)
        if self.module._diff:
            result["diff"] = diffs if self.list_form else (diffs[0] if diffs else dict(before={}, after={}))
        return result

    def _result(self):
        return self._shaped(self.items)

    def _fail(self, message, failure=None):
        items = list(self.items)
        if failure is not None:
            failed = dict(name=failure.name, changed=bool(failure.done), failed=True, msg=message,
                          actions=failure.done)
            items.append(failed)
        result = self._shaped(items) if items else dict(changed=False)
        if self.list_form and failure is not None:
            message = "{0}[{1}] ({2}): {3}".format(self.backend.list_key, len(items) - 1, failure.name, message)
        result.pop("failed", None)
        result.pop("msg", None)
        self.module.fail_json(msg=message, **result)


def run(module, backend_class):
    """Run `backend_class` (a _plan.Backend) for `module`; exits or fails the module."""
    _Runner(module, backend_class).run()
