#!/usr/bin/env bash
# Build the lab's cloud image: a Debian 12 qcow2 that boots like a stock cloud
# image (MBR disk, GRUB, serial console, cloud-init with the NoCloud data
# source found by its `cidata` label, openssh-server, qemu-guest-agent), made
# from this machine's apt sources with debootstrap; nothing else is downloaded
# and nothing in it is tuned for the tests.
#
#   tests/lab/cloudimage.sh          build when missing; prints the image's path last
#   tests/lab/cloudimage.sh --path   print the path only (the image may not exist yet)
#
# Cached: .cache/cloudimage/debian-12-cloud-<hash of this recipe>.qcow2.
# Notes: debootstrap does not resolve virtual packages, so cloud-init's
# python3-cffi-backend is named; linux-image-amd64, not -cloud-amd64 (that one
# has no driver for a SATA CD-ROM, where seeds are usually attached).
set -euo pipefail
cd "$(dirname "$0")/../.."

hash=$(sha256sum tests/lab/cloudimage.sh | cut -c1-12)
cache="$PWD/.cache/cloudimage"
image="$cache/debian-12-cloud-$hash.qcow2"
if [[ "${1:-}" == "--path" ]]; then
  echo "$image"
  exit 0
fi
if [[ -s "$image" ]]; then
  echo "cloudimage: $image cached"
  echo "$image"
  exit 0
fi

# The build's mounts live in a mount namespace of their own: a container or a
# guest started meanwhile copies the host's mounts, and a copy of ours kept the
# file system mounted after our umount, its journal not replayed, so GRUB found
# no grub.cfg (seen: a guest at the grub> prompt).
if [[ -z "${KVMOPS_CLOUDIMAGE_NS:-}" ]]; then
  exec env KVMOPS_CLOUDIMAGE_NS=1 unshare --mount --propagation private "$PWD/tests/lab/cloudimage.sh" "$@"
fi

start=$(date +%s)
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/kvmops-cloudimage.XXXXXX)
raw="$work/disk.raw"
mnt="$work/root"
loop=""
made_node=""
cleanup() {
  set +e
  for sub in dev/pts dev proc sys; do
    mountpoint -q "$mnt/$sub" && umount -l "$mnt/$sub"
  done
  mountpoint -q "$mnt" && umount -l "$mnt"
  [[ -n "$loop" ]] && losetup -d "$loop"
  [[ -n "$made_node" ]] && rm -f "$made_node"
  rm -rf "$work"
}
trap cleanup EXIT

# A 2 GiB disk (as Debian's genericcloud image) with one bootable Linux
# partition from 1 MiB: the MBR written by hand (no partitioning tool needed).
truncate -s 2G "$raw"
python3 - "$raw" <<'PY'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as disk:
    disk.seek(0, 2)
    sectors = disk.tell() // 512
    start = 2048
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start, sectors - start)
    disk.seek(446)
    disk.write(entry + b"\0" * 48 + b"\x55\xaa")
PY
loop=$(losetup --find --show --partscan "$raw")
# Some kernels scan the table but devtmpfs shows no node for the partition:
# add it from sysfs.
part="${loop}p1"
sys_part="/sys/class/block/${part#/dev/}"
[[ -e "$sys_part" ]] || partx -a "$loop" 2>/dev/null || true
for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -b "$part" || -e "$sys_part" ]] && break; sleep 0.5; done
if [[ ! -b "$part" ]]; then
  IFS=: read -r major minor < "$sys_part/dev"
  mknod "$part" b "$major" "$minor"
  made_node=$part
fi
mkfs.ext4 -q -L cloudimg-rootfs "$part"
mkdir -p "$mnt"
mount "$part" "$mnt"

echo "cloudimage: debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,udev,dbus,kmod,e2fsprogs,linux-image-amd64,initramfs-tools,grub-pc-bin,grub2-common,cloud-init,python3-cffi-backend,cloud-guest-utils,openssh-server,qemu-guest-agent,sudo,locales,ifupdown,isc-dhcp-client,iproute2,iputils-ping,netbase,procps,ca-certificates,python3,python3-apt \
  bookworm "$mnt" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log"; exit 1; }

for sub in dev dev/pts proc sys; do
  mount --bind "/$sub" "$mnt/$sub"
done

echo "deb $mirror bookworm main" > "$mnt/etc/apt/sources.list"
echo "LABEL=cloudimg-rootfs / ext4 errors=remount-ro 0 1" > "$mnt/etc/fstab"
# ifupdown reads cloud-init's rendering (50-cloud-init) from interfaces.d.
cat > "$mnt/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
EOF
cat > "$mnt/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
chroot "$mnt" grub-install --target=i386-pc --boot-directory=/boot "$loop" >"$work/grub.log" 2>&1 \
  || { cat "$work/grub.log"; exit 1; }
chroot "$mnt" grub-mkconfig -o /boot/grub/grub.cfg >>"$work/grub.log" 2>&1 || { cat "$work/grub.log"; exit 1; }
# Without udev in the chroot grub-mkconfig finds no /dev/disk/by-uuid and names
# the build's loop device; the guest finds its root by the file system label.
sed -i "s|root=$part |root=LABEL=cloudimg-rootfs |" "$mnt/boot/grub/grub.cfg"
grep -q "root=LABEL=cloudimg-rootfs " "$mnt/boot/grub/grub.cfg" || { echo "cloudimage: no root= in grub.cfg"; exit 1; }
# A generated en_US.UTF-8, as an installed Debian has: cloud-init's locale module
# sets LANG=en_US.UTF-8, and Debian's locale-gen builds only what locale.gen lists.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$mnt/etc/locale.gen"
chroot "$mnt" locale-gen >/dev/null
# The cloud-init stages and the services a stock image starts.
chroot "$mnt" systemctl enable cloud-init-local.service cloud-init.service cloud-config.service \
  cloud-final.service ssh.service >/dev/null 2>&1
# Every instance gets its own identity at first boot: machine-id, host keys (cloud-init), host name.
rm -f "$mnt"/etc/ssh/ssh_host_*
: > "$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id" "$mnt/etc/hostname"
chroot "$mnt" apt-get clean
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/lib/cloud/* "$mnt"/var/log/*.log

for sub in dev/pts dev proc sys; do umount "$mnt/$sub"; done
# Blocks of deleted files (debootstrap's .debs) become holes, so the qcow2 holds only data.
fstrim "$mnt" || true
umount "$mnt"
if dumpe2fs -h "$part" 2>/dev/null | grep -q needs_recovery; then
  echo "cloudimage: the file system is still mounted elsewhere (journal not replayed); not converting it" >&2
  exit 1
fi
losetup -d "$loop"
loop=""
[[ -n "$made_node" ]] && rm -f "$made_node"
made_node=""

mkdir -p "$cache"
qemu-img convert -O qcow2 "$raw" "$work/image.qcow2"
mv "$work/image.qcow2" "$image"
echo "cloudimage: built $image in $(( $(date +%s) - start )) s ($(du -h "$image" | cut -f1) on disk)"
echo "$image"
