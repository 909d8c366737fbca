# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for tests that need real test hosts (tests/lab/testhost.py).

    def test_x(testhost, run_playbook):             # one fresh host per test
        proc = run_playbook(testhost, "playbooks/site.yml")

    @pytest.mark.testhost(privileged=True)          # options for the `testhost` fixture
    def test_y(testhost): ...

    def test_z(testhost_factory):                   # several hosts, started in parallel
        a, b = testhost_factory(2, privileged=True)

Every host a fixture starts is removed at teardown, whether the test passed,
failed or was interrupted.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import testhost as lab  # noqa: E402  pylint: disable=wrong-import-position


def pytest_configure(config):
    config.addinivalue_line("markers", "testhost(**kwargs): options (privileged, image, caps) for the testhost fixture")


class _Hosts:
    """Hosts started for one test; all removed by close()."""

    def __init__(self):
        self.hosts = []

    def start(self, count=1, **kwargs):
        new = [lab.TestHost(**kwargs) for _index in range(count)]
        self.hosts.extend(new)  # registered before start: a half-started host is removed too
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(h.start) for h in new]
        for fut in futures:
            fut.result()
        return new

    def close(self):
        errors = []
        for host in self.hosts:
            try:
                host.remove()
            except lab.TestHostError as exc:
                errors.append(str(exc))
        assert not errors, "could not remove test hosts: {0}".format(errors)


@pytest.fixture
def testhost(request):
    """One booted test host (systemd running, sshd answering, lab key installed)."""
    marker = request.node.get_closest_marker("testhost")
    kwargs = dict(marker.kwargs) if marker else {}
    hosts = _Hosts()
    try:
        yield hosts.start(1, **kwargs)[0]
    finally:
        hosts.close()


@pytest.fixture
def testhost_factory():
    """factory(count=1, **TestHost kwargs) -> [TestHost, ...]; every host is removed at teardown."""
    hosts = _Hosts()
    try:
        yield hosts.start
    finally:
        hosts.close()


@pytest.fixture
def run_playbook(tmp_path):
    """run_playbook(hosts_or_host, playbook_path, *extra_args) -> CompletedProcess.

    ansible-playbook over SSH with an inventory of those hosts (group kvm_hosts),
    cwd = repository root, ANSIBLE_CONFIG = ansible.cfg. Output is printed, so a
    failing test shows it.
    """
    counter = [0]

    def run(hosts, playbook, *extra_args):
        counter[0] += 1
        inventory = tmp_path / "inventory-{0}.ini".format(counter[0])
        proc = lab.run_playbook(hosts, playbook, *extra_args, inventory=inventory)
        print("$ ansible-playbook -i {0} {1} {2}".format(inventory, playbook, " ".join(extra_args)))
        print(proc.stdout[-20000:])
        print(proc.stderr[-5000:], file=sys.stderr)
        return proc

    return run
