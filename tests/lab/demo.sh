#!/usr/bin/env bash
# `make demo`: the main job (playbooks/site.yml) against a disposable test
# host, then a short summary. The host is removed whatever happens.
set -euo pipefail
# shellcheck source=tests/lab/env.sh disable=SC1091
source "$(dirname "$0")/env.sh"
cd "$KVMOPS_ROOT"

began=$(date +%s)
name="kvmops-th-demo-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
workdir=$(mktemp -d /tmp/kvmops-demo.XXXXXX)
# shellcheck disable=SC2317  # called through the trap
cleanup() {
  python tests/lab/testhost.py rm "$name" || echo "demo: could not remove test host $name" >&2
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tests/lab/collection.sh >/dev/null
echo "===== demo: starting test host $name from $KVMOPS_TEST_IMAGE"
# Privileged: the roles later run libvirtd and change the hostname inside it.
read -r _ ip < <(python tests/lab/testhost.py start --name "$name" --privileged \
  --inventory "$workdir/hosts.ini" --owner-pid $$)
booted=$(date +%s)
echo "===== demo: $name is up at $ip after $((booted - began))s; running playbooks/site.yml"

rc=0
ansible-playbook -i "$workdir/hosts.ini" playbooks/site.yml | tee "$workdir/site.log" || rc=$?

recap=$(grep -E "^$name +:" "$workdir/site.log" | sed -E "s/^$name +: +//; s/ +/ /g; s/ $//" || true)
echo "===== demo summary"
echo "  test host : $name ($ip), image $KVMOPS_TEST_IMAGE"
echo "  playbook  : playbooks/site.yml -> ${recap:-no recap}"
echo "  result    : $( ((rc == 0)) && echo OK || echo "FAILED (rc=$rc)")"
echo "  time      : $(( $(date +%s) - began ))s (host boot $((booted - began))s); the host is removed now"
exit $rc
