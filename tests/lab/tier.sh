#!/usr/bin/env bash
# Run one test tier, print its own summary line and record its time.
set -uo pipefail
name=$1; shift
start=$(date +%s)
echo "===== tier $name: start"
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
status=PASSED; ((rc)) && status=FAILED
mkdir -p "$(dirname "$0")/../../.cache"
echo "$name $status ${secs}s" >> "$(dirname "$0")/../../.cache/tier-times"
echo "===== tier $name: $status in ${secs}s"
exit $rc
