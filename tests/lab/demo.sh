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

# The tutorial's values (inventories/example), scaled to a container: a small
# ISO made here instead of the CentOS DVD, no GUI packages, a 256 MiB guest on
# libvirt's NAT network instead of br0 (the host's only link is podman's).
mkdir -p "$workdir/iso-root"
echo "kvmops demo image" > "$workdir/iso-root/README.txt"
xorriso -as mkisofs -quiet -V KVMOPS -o "$workdir/demo.iso" "$workdir/iso-root"
cat > "$workdir/demo-vars.yml" <<VARS
kvm_host_packages_gui: false
kvm_host_packages_install_recommends: false
kvm_host_allow_emulation: true
kvm_bridge_enabled: false
kvm_storage_isos:
  - name: demo.iso
    pool: iso
    src: $workdir/demo.iso
kvm_storage_volumes:
  - name: data1.qcow2
    pool: store
    capacity: 64M
kvm_guests_networks:
  - name: default
kvm_guests:
  - name: centos7
    vcpus: 4
    memory: 256
    virt_type: qemu
    disk: {pool: store, size: 1G, format: qcow2}
    iso: {pool: iso, volume: demo.iso}
    network: default
    autostart: true
    state: running
VARS

rc=0
ansible-playbook -i "$workdir/hosts.ini" playbooks/site.yml \
  -e @inventories/example/group_vars/kvm_hosts.yml -e "@$workdir/demo-vars.yml" | tee "$workdir/site.log" || rc=$?

recap=$(grep -E "^$name +:" "$workdir/site.log" | sed -E "s/^$name +: +//; s/ +/ /g; s/ $//" || true)
echo "===== demo summary"
echo "  test host : $name ($ip), image $KVMOPS_TEST_IMAGE"
echo "  playbook  : playbooks/site.yml -> ${recap:-no recap}"
echo "  host state (the playbook's Summary task):"
sed -n '/^TASK \[Summary\]/,/^PLAY RECAP/p' "$workdir/site.log" | sed '1d;$d' | sed '/^$/d; s/^/    /'
echo "  result    : $( ((rc == 0)) && echo OK || echo "FAILED (rc=$rc)")"
echo "  time      : $(( $(date +%s) - began ))s (host boot $((booted - began))s); the host is removed now"
exit $rc
