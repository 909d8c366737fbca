#!/usr/bin/env bash
# Run one test tier, print its own summary line and record its time and skips.
#
#   tests/lab/tier.sh NAME COMMAND...
#
# The pytest tiers list every skip through tests/conftest.py into
# .cache/skips/NAME.txt (KVMOPS_SKIP_LOG); the tier summary shows them whether
# or not KVMOPS_REQUIRE_ALL=1 (.ci/run) turned them into failures. A command
# that cannot run at all (a missing Python for a matrix tier) says so in
# .cache/skips/NAME.txt itself, with the kind "missing".
set -uo pipefail
name=$1; shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$root/.cache/skips"
export KVMOPS_SKIP_LOG="$root/.cache/skips/$name.txt"
: > "$KVMOPS_SKIP_LOG"
start=$(date +%s)
echo "===== tier $name: start"
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
status=PASSED; ((rc)) && status=FAILED
skips=$(wc -l < "$KVMOPS_SKIP_LOG")
kernel=$(grep -c '^kernel'$'\t' "$KVMOPS_SKIP_LOG")
note=""
((skips)) && note=" ($skips skipped, $kernel of them a kernel feature)"
{
  echo "$name $status ${secs}s$note"
  # kind<TAB>test<TAB>reason, as tests/conftest.py writes it
  while IFS=$'\t' read -r kind test reason; do
    echo "    $kind: $test: $reason"
  done < "$KVMOPS_SKIP_LOG"
} >> "$root/.cache/tier-times"
echo "===== tier $name: $status in ${secs}s$note"
exit $rc
