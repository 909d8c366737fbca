# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Skips are listed, and under KVMOPS_REQUIRE_ALL=1 (set by .ci/run) they fail.

A test that needs libvirtd, root, a test host or a Python package skips when it
is missing on a developer's machine.  `make test` promises those components
(tests/lab/deps.sh installs them, tests/lab/libvirtd.sh starts libvirtd), so on
the CI a skip means a promise was broken and must not pass unnoticed:

- every skip, ``pytest.skip()``, ``pytest.importorskip()`` at run or collection
  time and ``skip``/``skipif`` markers alike, is reported as a failure when
  ``KVMOPS_REQUIRE_ALL=1``;
- the one exception is a kernel feature no package can add (the bonding or
  8021q module on a runner whose kernel lacks it): skip with a reason that
  starts with ``kernel:``, e.g. ``pytest.skip("kernel: no bonding module")``;
  it stays a skip and is listed as such;
- either way the terminal summary lists every skip with its reason, and when
  ``KVMOPS_SKIP_LOG`` names a file (tests/lab/tier.sh sets it) one line per
  skip is appended to it for the tier summary.

``xfail`` is not a skip and is left alone.
"""

from __future__ import annotations

import os

import pytest

KERNEL_PREFIX = "kernel:"


def _require_all():
    return os.environ.get("KVMOPS_REQUIRE_ALL", "") not in ("", "0")


def _reason(report):
    """The skip reason of a report (longrepr is (path, line, reason) for skips)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _is_kernel(reason):
    return reason.strip().startswith(KERNEL_PREFIX)


def _record(config, report, kind):
    records = config.stash.setdefault(_SKIPS, [])
    records.append((kind, report.nodeid, _reason(report)))


_SKIPS = pytest.StashKey[list]()


def _fail_skip(report, where):
    reason = _reason(report)
    report.outcome = "failed"
    report.longrepr = (
        "skipped {0}, and KVMOPS_REQUIRE_ALL=1 allows no skip (only a missing kernel feature, "
        "reason 'kernel: ...'): {1}\n"
        "make test promises this component: install or start it (tests/lab/deps.sh, tests/lab/libvirtd.sh)"
        .format(where, reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        kernel = _is_kernel(_reason(report))
        _record(item.config, report, "kernel" if kernel else ("FAILED" if _require_all() else "skip"))
        if _require_all() and not kernel:
            _fail_skip(report, "in " + report.when)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if report.skipped:
        kernel = _is_kernel(_reason(report))
        config = collector.config
        _record(config, report, "kernel" if kernel else ("FAILED" if _require_all() else "skip"))
        if _require_all() and not kernel:
            _fail_skip(report, "at collection (a module-level skip or importorskip)")
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pylint: disable=unused-argument
    records = config.stash.get(_SKIPS, [])
    mode = "KVMOPS_REQUIRE_ALL=1: skips fail" if _require_all() else "KVMOPS_REQUIRE_ALL unset: skips allowed"
    kernel = sum(1 for kind, _node, _reason_ in records if kind == "kernel")
    terminalreporter.write_sep(
        "-", "kvmops skips: {0} ({1} kernel feature; {2})".format(len(records), kernel, mode))
    for kind, node, reason in records:
        label = {"kernel": "kernel feature (allowed)", "FAILED": "FAILED (skip not allowed)"}.get(kind, "skipped")
        terminalreporter.write_line("  {0}: {1}: {2}".format(label, node, reason))
    log = os.environ.get("KVMOPS_SKIP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            for kind, node, reason in records:
                out.write("{0}\t{1}\t{2}\n".format(kind, node, " ".join(reason.split())))
