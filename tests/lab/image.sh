#!/usr/bin/env bash
# Build the test-host image (Debian bookworm, systemd, sshd, python3) from
# this machine's apt sources with debootstrap; nothing comes from a registry.
# Cached: an existing image with this recipe's tag is reused.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [[ "$KVMOPS_TEST_IMAGE" != "$KVMOPS_BUILT_IMAGE" ]]; then
  echo "image: using $KVMOPS_TEST_IMAGE (KVMOPS_TEST_IMAGE)"
  exit 0
fi
if podman image exists "$KVMOPS_BUILT_IMAGE"; then
  echo "image: $KVMOPS_BUILT_IMAGE cached"
  exit 0
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d /var/tmp/kvmops-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,sudo,iputils-ping,procps,ca-certificates,kmod \
  bookworm "$rootfs" "$mirror" >/dev/null

# Test hosts are reached as root with the lab's key; apt in them uses the
# same mirror as the runner.
mkdir -p "$rootfs/root/.ssh"
chmod 700 "$rootfs/root/.ssh"
echo "deb $mirror bookworm main" > "$rootfs/etc/apt/sources.list"
rm -f "$rootfs"/etc/ssh/ssh_host_*
# An empty machine-id (dbus's copy too) makes systemd give each test host its own at boot.
: > "$rootfs/etc/machine-id"
ln -sf /etc/machine-id "$rootfs/var/lib/dbus/machine-id"
# Host keys are made at first boot, so each test host has its own.
cat > "$rootfs/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/ssh-hostkeys.service "$rootfs/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"
apt_clean_dirs=("$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*_Packages)
rm -f "${apt_clean_dirs[@]}"

tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$KVMOPS_BUILT_IMAGE" >/dev/null
echo "image: built $KVMOPS_BUILT_IMAGE"
