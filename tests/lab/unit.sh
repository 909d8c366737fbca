#!/usr/bin/env bash
# Tier "unit": pytest tests/unit with the ansible-core of .venv (2.19), or with another
# ansible-core of the matrix (the oldest and the newest the collection supports):
#
#   tests/lab/unit.sh                    pytest -q tests/unit, .venv
#   tests/lab/unit.sh --core 2.21.5      the same from .cache/ansible-core-2.21.5 on Python 3.13/3.12
#   tests/lab/unit.sh --core 2.16.19 -x tests/unit/plugins/module_utils/test_xml.py
#
# The venv gets the pins of tests/requirements.txt (pytest, hypothesis, lxml,
# libvirt-python, ...) except the controller tools tied to .venv's ansible-core
# (libvirt-python builds from source: libvirt-dev and pkg-config come from
# tests/lab/apt-packages.txt).
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/core.sh"
cd "$KVMOPS_ROOT"

if [[ "${1:-}" == --core ]]; then
  core=${2:?--core needs an ansible-core version, e.g. 2.21.5}
  shift 2
  if ! core_python "$core" >/dev/null; then
    core_missing "unit-$core" "no Python for ansible-core $core (2.20+ needs 3.12 or 3.13: pyenv prefix 3.13 / 3.12 found none)"
    exit $?
  fi
  # Every pin of tests/requirements.txt but the controller tools tied to .venv's ansible-core.
  mapfile -t pins < <(grep -E '^[A-Za-z]' tests/requirements.txt \
    | grep -vE '^(ansible|ansible-core|ansible-lint|molecule|molecule-plugins\[podman\]|pytest-testinfra|ansible-runner|ansible-builder)==')
  venv=$(core_venv "$core" "${pins[@]}") || { echo "unit: could not make the ansible-core $core venv" >&2; exit 1; }
  export PATH="$venv/bin:$PATH"
fi
tests/lab/collection.sh >/dev/null
# No test path among the arguments: the whole of tests/unit.
paths=0
for a in "$@"; do [[ "$a" == tests/* ]] && paths=1; done
((paths)) || set -- "$@" tests/unit
echo "----- unit: $(python -c 'import ansible, sys; print("ansible-core %s, python %d.%d" % ((ansible.__version__,) + sys.version_info[:2]))')"
exec python -m pytest -q -p no:cacheprovider "$@"
