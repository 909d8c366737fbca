# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record what differs between the actual and the desired state, for
`changed` and for `--diff`."""

from __future__ import annotations


class DifferenceTracker:
    def __init__(self):
        self._changes = []

    def add(self, name, before, after):
        """Record `name` when before != after; return True when it differs."""
        if before == after:
            return False
        self._changes.append((name, before, after))
        return True

    def merge(self, prefix, other):
        for name, before, after in other._changes:
            self._changes.append(("{0}.{1}".format(prefix, name), before, after))

    @property
    def changed(self):
        return bool(self._changes)

    @property
    def names(self):
        return [name for name, _b, _a in self._changes]

    def diff(self):
        """Ansible's diff dict: before/after of just the fields that differ."""
        return {
            "before": dict((name, before) for name, before, _a in self._changes),
            "after": dict((name, after) for name, _b, after in self._changes),
        }
