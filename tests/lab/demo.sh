#!/usr/bin/env bash
# `make demo`: the main job (playbooks/site.yml) against a disposable test
# host, then a cloud guest reached by Ansible (playbooks/guests.yml on this
# machine's libvirtd), then a short summary. The host and the guest are
# removed whatever happens.
set -euo pipefail
# shellcheck source=tests/lab/env.sh disable=SC1091
source "$(dirname "$0")/env.sh"
cd "$KVMOPS_ROOT"

began=$(date +%s)
name="kvmops-th-demo-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
workdir=$(mktemp -d /tmp/kvmops-demo.XXXXXX)
# The cloud guest of the demo's last part lives on this machine's libvirtd.
uri=qemu:///system
cloud=kvmops-demo-cloud-
clouddir=/var/tmp/kvmops-demo-cloud
# shellcheck disable=SC2317  # called through the trap
cloud_cleanup() {
  virsh -c "$uri" destroy "${cloud}guest" >/dev/null 2>&1 || true
  virsh -c "$uri" undefine "${cloud}guest" >/dev/null 2>&1 || true
  for pool in "${cloud}store" "${cloud}images"; do
    virsh -c "$uri" pool-destroy "$pool" >/dev/null 2>&1 || true
    virsh -c "$uri" pool-undefine "$pool" >/dev/null 2>&1 || true
  done
  virsh -c "$uri" net-destroy "${cloud}net" >/dev/null 2>&1 || true
  virsh -c "$uri" net-undefine "${cloud}net" >/dev/null 2>&1 || true
  rm -rf "$clouddir"
}
# shellcheck disable=SC2317  # called through the trap
cleanup() {
  python tests/lab/testhost.py rm "$name" || echo "demo: could not remove test host $name" >&2
  cloud_cleanup
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

# Last: a guest from a cloud image (tests/lab/cloudimage.sh) on this machine's
# libvirtd, made by playbooks/guests.yml (overlay disk, cloud-init seed with an
# SSH key, wait for its address), then an Ansible command that reaches it
# through the inventory plugin kvmops.hypervisor.guests.
cloud_rc=0
if ((rc == 0)); then
  echo "===== demo: a cloud guest on this machine's libvirtd (TCG), reached through the inventory plugin"
  image=$(tests/lab/cloudimage.sh | tail -1)
  cloud_cleanup
  mkdir -p "$clouddir/store"
  virsh -c "$uri" pool-define-as "${cloud}images" dir --target "$(dirname "$image")" >/dev/null
  virsh -c "$uri" pool-start "${cloud}images" >/dev/null
  virsh -c "$uri" pool-define-as "${cloud}store" dir --target "$clouddir/store" >/dev/null
  virsh -c "$uri" pool-start "${cloud}store" >/dev/null
  cat > "$clouddir/net.xml" <<NET
<network><name>${cloud}net</name><forward mode='nat'/>
<ip address='192.168.234.1' netmask='255.255.255.0'><dhcp><range start='192.168.234.10' end='192.168.234.99'/></dhcp></ip></network>
NET
  virsh -c "$uri" net-define "$clouddir/net.xml" >/dev/null
  virsh -c "$uri" net-start "${cloud}net" >/dev/null
  ssh-keygen -q -t ed25519 -N "" -f "$workdir/cloud_key"
  printf '[kvm_hosts]\nlocalhost ansible_connection=local ansible_python_interpreter=%s ansible_become=false\n' \
    "$(command -v python)" > "$workdir/hypervisor.ini"
  cat > "$workdir/demo.guests.yml" <<INV
plugin: kvmops.hypervisor.guests
uris: ['$uri']
filters:
  - include: "kvm_name.startswith('$cloud')"
  - exclude: true
compose:
  ansible_user: "'debian'"
  ansible_ssh_private_key_file: "'$workdir/cloud_key'"
  ansible_python_interpreter: "'/usr/bin/python3'"
INV
  cat > "$workdir/cloud-vars.yml" <<VARS
kvm_guests_networks: []
guests_group: kvm_tag_demo
guests_image: {pool: ${cloud}images, volume: $(basename "$image")}
guests_cloud:
  - name: ${cloud}guest
    memory: 768
    virt_type: qemu
    autostart: false
    image: {pool: ${cloud}images, volume: $(basename "$image")}
    disk: {pool: ${cloud}store}
    network: ${cloud}net
    tags: [demo]
    cloud_init:
      user_data:
        hostname: kvmops-demo
        ssh_authorized_keys: ["$(cat "$workdir/cloud_key.pub")"]
    wait_for: ip
    wait_timeout: 900
VARS
  cloud_began=$(date +%s)
  ANSIBLE_HOST_KEY_CHECKING=False ansible-playbook -i "$workdir/hypervisor.ini" -i "$workdir/demo.guests.yml" \
    playbooks/guests.yml -e "@$workdir/cloud-vars.yml" | tee "$workdir/cloud.log" || cloud_rc=$?
  cloud_seconds=$(( $(date +%s) - cloud_began ))
  address=$(ansible-inventory -i "$workdir/demo.guests.yml" --host "${cloud}guest" 2>/dev/null \
    | python -c 'import json, sys; print(json.load(sys.stdin).get("ansible_host", "none"))' || echo none)
  ANSIBLE_HOST_KEY_CHECKING=False ansible -i "$workdir/demo.guests.yml" kvm_tag_demo -m ansible.builtin.command \
    -a "hostnamectl hostname" > "$workdir/reached.log" 2> "$workdir/reached.err" || cloud_rc=$?
fi
((cloud_rc == 0)) || rc=$cloud_rc

recap=$(grep -E "^$name +:" "$workdir/site.log" | sed -E "s/^$name +: +//; s/ +/ /g; s/ $//" || true)
echo "===== demo summary"
echo "  test host : $name ($ip), image $KVMOPS_TEST_IMAGE"
echo "  playbook  : playbooks/site.yml -> ${recap:-no recap}"
echo "  host state (the playbook's Summary task):"
sed -n '/^TASK \[Summary\]/,/^PLAY RECAP/p' "$workdir/site.log" | sed '1d;$d' | sed '/^$/d; s/^/    /'
if [[ -e "$workdir/reached.log" ]]; then
  echo "  cloud     : ${cloud}guest from $(basename "$image") (overlay + cloud-init seed), address $address,"
  echo "              playbooks/guests.yml in ${cloud_seconds}s; Ansible through the inventory plugin:"
  sed 's/^/                /' "$workdir/reached.log"
fi
echo "  result    : $( ((rc == 0)) && echo OK || echo "FAILED (rc=$rc)")"
echo "  time      : $(( $(date +%s) - began ))s (host boot $((booted - began))s); the host is removed now"
exit $rc
