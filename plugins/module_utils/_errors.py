# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised below main(); only main() turns them into fail_json."""

from __future__ import annotations


class KvmError(Exception):
    """Base of every error this collection raises on purpose."""


class ValidationError(KvmError):
    """Bad input, found before anything was touched.  Names the field."""

    def __init__(self, field, message):
        self.field = field
        super().__init__("{0}: {1}".format(field, message))


class NotFoundError(KvmError):
    """An object the input refers to does not exist (a pool, a network, a file)."""

    def __init__(self, field, message):
        self.field = field
        super().__init__("{0}: {1}".format(field, message))


class LibvirtError(KvmError):
    """libvirt refused an operation; carries what we were doing."""

    def __init__(self, action, error):
        self.action = action
        self.error = error
        super().__init__("{0}: {1}".format(action, _libvirt_message(error)))


def _libvirt_message(error):
    get = getattr(error, "get_error_message", None)
    return (get() if get else None) or str(error)
