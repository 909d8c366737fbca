#!/usr/bin/env bash
# Tier "molecule": `molecule test` for every scenario under extensions/molecule
# (or only the scenarios named as arguments), then a summary; fails when any fails.
#
#   tests/lab/molecule.sh              every scenario
#   tests/lab/molecule.sh default      one scenario
#
# The controller is the newest ansible-core of the matrix: molecule, ansible-core
# 2.21.5 and the ansible 14 bundle (containers.podman for the podman driver) from
# tests/requirements-controller.txt in .cache/controller-<core>, on Python 3.13
# (3.12 fallback; tests/lab/core.sh). Without such a Python the tier says so and
# passes, or fails under KVMOPS_REQUIRE_ALL=1.
set -uo pipefail
# shellcheck source=tests/lab/env.sh disable=SC1091
source "$(dirname "$0")/env.sh"
# shellcheck source=tests/lab/core.sh disable=SC1091
source "$(dirname "$0")/core.sh"
cd "$KVMOPS_ROOT" || exit 1

controller_enter molecule
echo "----- molecule: $(NO_COLOR=1 molecule --version 2>/dev/null | head -1 | tr -s ' '), $(python -c 'import ansible, sys; print("ansible-core %s, python %d.%d" % ((ansible.__version__,) + sys.version_info[:2]))')"

# The scenarios use the checkout through .cache/collections and the test-host image.
tests/lab/collection.sh >/dev/null || exit 1
tests/lab/image.sh || exit 1

if (($#)); then
  scenarios=("$@")
else
  mapfile -t scenarios < <(find extensions/molecule -name molecule.yml -printf '%h\n' \
    | sed 's#^extensions/molecule/##' | sort)
fi
if ((${#scenarios[@]} == 0)); then
  echo "molecule: no scenarios under extensions/molecule" >&2
  exit 1
fi

results=()
failed=0
for s in "${scenarios[@]}"; do
  echo "===== molecule scenario $s"
  start=$(date +%s)
  if molecule test --scenario-name "$s"; then status=PASSED; else status=FAILED; failed=$((failed + 1)); fi
  results+=("$(printf '%-24s %s in %ss' "$s" "$status" $(( $(date +%s) - start )))")
done

echo "===== molecule summary: ${#scenarios[@]} scenario(s), $failed failed"
printf '  %s\n' "${results[@]}"
((failed == 0))
