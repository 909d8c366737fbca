# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/conftest.py: under KVMOPS_REQUIRE_ALL=1 every skip fails except a
'kernel: ...' one; without it skips stay skips; both ways they are listed and
logged for tests/lab/tier.sh."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text(encoding="utf-8")
TESTS = '''
import pytest

def test_missing_component():
    pytest.skip("libvirtd is not reachable")

def test_kernel_feature():
    pytest.skip("kernel: no 8021q module")

@pytest.mark.skipif(True, reason="no test host")
def test_marker():
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

def test_ok():
    pass
'''
IMPORTORSKIP = '''
import pytest
pytest.importorskip("kvmops_no_such_module")

def test_never():
    pass
'''


@pytest.fixture
def lab(pytester, monkeypatch, tmp_path):
    pytester.makeconftest(CONFTEST)
    log = tmp_path / "skips.txt"
    monkeypatch.setenv("KVMOPS_SKIP_LOG", str(log))
    return pytester, log


def test_skips_fail_when_everything_is_required(lab, monkeypatch):
    pytester, log = lab
    monkeypatch.setenv("KVMOPS_REQUIRE_ALL", "1")
    pytester.makepyfile(test_cases=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*kvmops skips: 3 (1 kernel feature; KVMOPS_REQUIRE_ALL=1: skips fail)*",
                                 "*FAILED (skip not allowed): test_cases.py::test_missing_component: libvirtd is not reachable*",
                                 "*kernel feature (allowed): test_cases.py::test_kernel_feature: kernel: no 8021q module*"])
    kinds = sorted(line.split("\t")[0] for line in log.read_text(encoding="utf-8").splitlines())
    assert kinds == ["FAILED", "FAILED", "kernel"]


def test_importorskip_fails_at_collection_when_everything_is_required(lab, monkeypatch):
    pytester, _log = lab
    monkeypatch.setenv("KVMOPS_REQUIRE_ALL", "1")
    pytester.makepyfile(test_imports=IMPORTORSKIP)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*KVMOPS_REQUIRE_ALL=1 allows no skip*kvmops_no_such_module*"])


def test_skips_are_listed_but_allowed_otherwise(lab, monkeypatch):
    pytester, log = lab
    monkeypatch.delenv("KVMOPS_REQUIRE_ALL", raising=False)
    pytester.makepyfile(test_cases=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*kvmops skips: 3 (1 kernel feature; KVMOPS_REQUIRE_ALL unset: skips allowed)*"])
    kinds = sorted(line.split("\t")[0] for line in log.read_text(encoding="utf-8").splitlines())
    assert kinds == ["kernel", "skip", "skip"]
