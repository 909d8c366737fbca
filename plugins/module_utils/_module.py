# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every libvirt module's main() shares: the connection options, the
dependency checks, and turning typed errors into one fail_json."""

from __future__ import annotations

import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import (
    HAS_LIBVIRT,
    LIBVIRT_IMPORT_ERROR,
    ConcurrentChangeError,
    Connection,
    libvirt,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import HAS_LXML, LXML_IMPORT_ERROR

# Mirrors plugins/doc_fragments/connection.py.
CONNECTION_ARGS = dict(
    uri=dict(type="str", default="qemu:///system"),
)


def require_libs(module, lxml=True):
    if not HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib("libvirt-python"), exception=LIBVIRT_IMPORT_ERROR)
    if lxml and not HAS_LXML:
        module.fail_json(msg=missing_required_lib("lxml"), exception=LXML_IMPORT_ERROR)


# Re-plans after another client changed the same object, and the pause before each.
CONCURRENT_RETRIES = 3
_RETRY_PAUSE = 0.5


def _reconcile_converging(connection, reconcile):
    for attempt in range(CONCURRENT_RETRIES + 1):
        try:
            result = reconcile(connection)
        except ConcurrentChangeError:
            if attempt == CONCURRENT_RETRIES:
                raise
            connection.close()
            time.sleep(_RETRY_PAUSE * (attempt + 1))
            continue
        if attempt:
            result["changed"] = True
        return result
    raise AssertionError("unreachable")


def run(module, reconcile):
    """Call reconcile(connection) -> result dict; exit or fail the module.

    reconcile gets an unopened Connection (opened on first use) and must
    honour module.check_mode by skipping only its writes.  A failure is one
    line: typed errors as they are (a lost connection to libvirtd said so,
    whichever code raised it); a libvirtError that escaped the typed errors
    as one line too, not a traceback.

    When libvirt refuses a call because another client (a second run of the
    same play, an administrator) created, started or is still creating the
    same object after this run read it (ConcurrentChangeError), reconcile
    runs again on a new connection.  That is safe: the refused call changed
    nothing (libvirt refused it whole), every earlier write of this run is
    real state that the new plan reads back, and the new plan writes only
    what still differs: it is what running the task again would do, no write
    is repeated blindly.  At most CONCURRENT_RETRIES times, after a short
    pause (the other client may still be building the object), so a
    conflict that persists still fails.  The task then reports changed: the
    object it found different is now as declared.
    """
    require_libs(module)
    connection = Connection(module.params["uri"])
    try:
        result = _reconcile_converging(connection, reconcile)
    except (KvmError, libvirt.libvirtError) as e:
        module.fail_json(msg=str(connection.translate(e)))
    finally:
        connection.close()
    module.exit_json(**result)
