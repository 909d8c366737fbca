# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit tests' one in-process module runner: run_main(main, args).

`main` is a module's main() (or any callable that builds an AnsibleModule and
ends through its exit_json/fail_json); `args` are its module arguments. It
runs in this process on ansible-core 2.16 to 2.21: the arguments go in through
ansible.module_utils.testing.patch_module_args (2.19 and later) or, before
2.19, through basic._ANSIBLE_ARGS, the way tests set them then.

Two ways to read the outcome:

- printed=True (the default): AnsibleModule ends as under Ansible (no_log
  values masked, warnings and, where the core adds it, the invocation) and the
  result is the JSON it printed; `result.exit_code` is the code it exited
  with (0, or 1 after fail_json) and `result.output` the text it printed.
- printed=False: exit_json and fail_json are intercepted and the result is
  exactly the keyword arguments main() handed them (fail_json's plus
  failed=True and msg), before Ansible masks no_log values, so that a leak
  cannot hide behind that masking.

Import it as
``from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main``.
"""

from __future__ import annotations

import contextlib
import io
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings


class Result(dict):
    """A module's result; `exit_code` and `output` are set when printed=True."""

    exit_code = None
    output = None


class _Exit(Exception):
    def __init__(self, result):
        super().__init__()
        self.result = result


def _exit_json(_module, **result):
    raise _Exit(result)


def _fail_json(_module, msg, **result):
    raise _Exit(dict(result, failed=True, msg=msg))


@contextlib.contextmanager
def module_args(args):
    """The module arguments AnsibleModule reads, on ansible-core 2.16 to 2.21, and
    no warnings or deprecations of earlier runs: Ansible runs each module in a
    process of its own, these tests run many in one (the core keeps them in
    module-level containers)."""
    with contextlib.ExitStack() as stack:
        for name in ("_global_warnings", "_global_deprecations"):
            stack.enter_context(mock.patch.object(warnings, name, type(getattr(warnings, name))()))
        stack.enter_context(_arguments(args))
        yield


@contextlib.contextmanager
def _arguments(args):
    try:
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-core < 2.19
        payload = json.dumps(dict(ANSIBLE_MODULE_ARGS=args)).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
    else:
        with patch_module_args(args):
            yield


def _exit_code(main):
    try:
        main()
    except SystemExit as done:
        return done.code
    raise AssertionError("main() returned without exiting")


def run_main(main, args, check_mode=False, diff=True, printed=True):
    """main() run with the module arguments `args` (+ check mode and --diff); its Result."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    if not printed:
        with module_args(args), mock.patch.object(AnsibleModule, "exit_json", _exit_json), \
                mock.patch.object(AnsibleModule, "fail_json", _fail_json):
            try:
                main()
            except _Exit as done:
                return Result(done.result)
        raise AssertionError("main() returned without exit_json or fail_json")
    out = io.StringIO()
    with module_args(args), contextlib.redirect_stdout(out):
        code = _exit_code(main)
    result = Result(json.loads(out.getvalue()))
    result.exit_code = code
    result.output = out.getvalue()
    return result
