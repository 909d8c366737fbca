#!/usr/bin/env bash
# Tier "integration": pytest tests/integration with the controller of the newest
# ansible-core of the matrix (tests/requirements-controller.txt: ansible-core 2.21.5,
# the ansible 14 bundle, libvirt-python, molecule ...) in .cache/controller-<core>,
# on Python 3.13 (3.12 fallback) found by tests/lab/core.sh.
#
#   tests/lab/integration.sh                              every test under tests/integration
#   tests/lab/integration.sh tests/integration/test_build.py -x
#
# The venv's bin comes first on PATH, so ansible-playbook, ansible-test and the
# pythonX.Y that `ansible-test integration --python X.Y` looks for are the venv's;
# the tests give modules on localhost that same Python (ansible_python_interpreter =
# sys.executable), which imports libvirt and lxml. Without a Python 3.12+ the tier
# says so and passes, or fails under KVMOPS_REQUIRE_ALL=1 (tests/lab/core.sh).
set -uo pipefail
# shellcheck source=tests/lab/env.sh disable=SC1091
source "$(dirname "$0")/env.sh"
# shellcheck source=tests/lab/core.sh disable=SC1091
source "$(dirname "$0")/core.sh"
cd "$KVMOPS_ROOT" || exit 1

controller_enter integration
tests/lab/collection.sh >/dev/null || exit 1

paths=0
for a in "$@"; do [[ "$a" == tests/* ]] && paths=1; done
((paths)) || set -- "$@" tests/integration
echo "----- integration: $(python -c 'import ansible, sys; print("ansible-core %s, python %d.%d" % ((ansible.__version__,) + sys.version_info[:2]))') ($VIRTUAL_ENV)"
exec python -m pytest -q -p no:cacheprovider "$@"
