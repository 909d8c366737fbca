# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract between a module's back end and the runner (_module.run).

A back end turns validated input into one Plan per object: the ordered,
labelled actions that would bring the object to its declared state, the
before/after of what differs (for --diff) and the result a check run
predicts.  Planning only reads.  The runner decides check mode once (a check
run plans and stops), applies the actions in order, and shapes single and
list results the same way for every module.  A back end never calls
exit_json/fail_json: it raises the typed errors of _errors.py."""

from __future__ import annotations


class Plan:
    """What one object needs.

    `name`: the object's name (per-item results and diff headers);
    `actions`: [(label, apply)] in order, apply a callable or None for a
    step that only reports (the runner counts it as a change);
    `before`/`after`: what differs, for --diff;
    `result`: the item's result keys (e.g. {"volume": {...}}), as predicted
    by the plan; `Backend.applied` may read them back after a real run;
    `warnings`: passed to module.warn."""

    def __init__(self, name, header=None):
        self.name = name
        self.header = header or name
        self.actions = []
        self.before = {}
        self.after = {}
        self.result = {}
        self.warnings = []

    def add(self, label, apply=None):
        self.actions.append((label, apply))

    def differ(self, key, before, after):
        """Record `key` for --diff when before != after; True when it differs."""
        if before == after:
            return False
        self.before[key] = before
        self.after[key] = after
        return True

    @property
    def changed(self):
        return bool(self.actions)

    @property
    def labels(self):
        return [label for label, _apply in self.actions]

    def diff(self):
        """One entry of Ansible's diff list."""
        return dict(before_header=self.header, after_header=self.header, before=self.before, after=self.after)


class Backend:
    """Base of every module's back end.

    Subclasses set `needs_libvirt` (False: no connection is opened and
    libvirt-python is not required) and `list_key` (the list option of a
    module with a list form, e.g. "volumes"), and implement `specs` and
    `plan`."""

    needs_libvirt = True
    list_key = None

    def __init__(self, module, connection=None):
        self.module = module
        self.params = module.params
        self.connection = connection
        self.check_mode = module.check_mode

    def specs(self, params):
        """Every requested object, validated before anything is written:
        raise ValidationError (naming the field) on bad input."""
        raise NotImplementedError

    def plan(self, spec):
        """The Plan for one spec; reads only."""
        raise NotImplementedError

    def applied(self, spec, plan):
        """The item's result after a real run applied `plan` (default: the
        predicted one)."""
        return plan.result

    def settle(self):
        """After every item was applied (never in check mode): what waits on
        all of them together (guests booting, against one deadline).  May
        update the item results it handed out; a KvmError fails the task
        with every item listed as applied."""

    def finish(self, result):
        """Last look at the module's whole result (e.g. facts); may change it."""
        return result
