#!/usr/bin/env bash
# Build the lab's cloud image: a Debian 12 qcow2 that boots like a stock cloud
# image (GPT disk laid out as Debian's genericcloud one: root on partition 1,
# a BIOS boot partition 14 and an EFI system partition 15; GRUB for BIOS and,
# for UEFI with or without Secure Boot, shim and GRUB signed for Debian's
# keys and the signed Debian kernel; serial console, cloud-init with the
# NoCloud data source found by its `cidata` label, openssh-server,
# qemu-guest-agent, mokutil), made from this machine's apt sources with
# debootstrap; nothing else is downloaded and nothing in it is tuned for the
# tests.
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
made_nodes=()
cleanup() {
  set +e
  for sub in dev/pts dev proc sys; do
    mountpoint -q "$mnt/$sub" && umount -l "$mnt/$sub"
  done
  mountpoint -q "$mnt" && umount -l "$mnt"
  [[ -n "$loop" ]] && losetup -d "$loop"
  [[ ${#made_nodes[@]} -gt 0 ]] && rm -f "${made_nodes[@]}"
  rm -rf "$work"
}
trap cleanup EXIT

# A 2 GiB disk (as Debian's genericcloud image), GPT written by hand (no
# partitioning tool needed): 14 BIOS boot (1 MiB, GRUB's core.img), 15 EFI
# system (126 MiB, FAT), 1 root (the rest, last on the disk so growpart can
# grow it).
truncate -s 2G "$raw"
python3 - "$raw" <<'PY'
import struct, sys, uuid, zlib
path = sys.argv[1]
parts = {  # number: (type GUID, first LBA, last LBA or None for the end, name)
    14: ("21686148-6449-6E6F-744E-656564454649", 2048, 4095, "bios"),
    15: ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 4096, 262143, "esp"),
    1: ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", 262144, None, "root"),
}
with open(path, "r+b") as disk:
    disk.seek(0, 2)
    sectors = disk.tell() // 512
    last_usable = sectors - 34
    entries = bytearray(128 * 128)
    for number, (kind, first, last, name) in parts.items():
        entries[(number - 1) * 128:number * 128] = struct.pack(
            "<16s16sQQQ72s", uuid.UUID(kind).bytes_le, uuid.uuid4().bytes_le, first,
            last if last is not None else last_usable, 0, name.encode("utf-16-le"))
    disk_guid = uuid.uuid4().bytes_le

    def header(current, backup, table):
        fields = [b"EFI PART", 0x00010000, 92, 0, 0, current, backup, 34, last_usable, disk_guid, table, 128, 128,
                  zlib.crc32(entries)]
        raw = struct.pack("<8sIIIIQQQQ16sQIII", *fields)
        fields[3] = zlib.crc32(raw)
        return struct.pack("<8sIIIIQQQQ16sQIII", *fields).ljust(512, b"\0")

    # Protective MBR: one partition of type 0xEE over the disk.
    mbr = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(sectors - 1, 0xFFFFFFFF))
    disk.seek(446)
    disk.write(mbr + b"\0" * 48 + b"\x55\xaa")
    disk.seek(512)
    disk.write(header(1, sectors - 1, 2) + entries)
    disk.seek((sectors - 33) * 512)
    disk.write(entries + header(sectors - 1, 1, sectors - 33))
PY
loop=$(losetup --find --show --partscan "$raw")
# Some kernels scan the table but devtmpfs shows no node for a partition:
# add it from sysfs.
partition_node() {
  local node="${loop}p$1" sys_part="/sys/class/block/${loop#/dev/}p$1" major minor
  [[ -e "$sys_part" ]] || partx -a "$loop" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -b "$node" || -e "$sys_part" ]] && break; sleep 0.5; done
  if [[ ! -b "$node" ]]; then
    IFS=: read -r major minor < "$sys_part/dev"
    mknod "$node" b "$major" "$minor"
    made_nodes+=("$node")
  fi
}
partition_node 1
partition_node 15
part="${loop}p1"
esp="${loop}p15"
mkfs.ext4 -q -L cloudimg-rootfs "$part"
mkdir -p "$mnt"
mount "$part" "$mnt"

echo "cloudimage: debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,udev,dbus,kmod,e2fsprogs,linux-image-amd64,initramfs-tools,grub-pc-bin,grub2-common,grub-efi-amd64-bin,grub-efi-amd64-signed,shim-signed,mokutil,dosfstools,mtools,cloud-init,python3-cffi-backend,cloud-guest-utils,openssh-server,qemu-guest-agent,sudo,locales,ifupdown,isc-dhcp-client,iproute2,iputils-ping,netbase,procps,ca-certificates,python3,python3-apt \
  bookworm "$mnt" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log"; exit 1; }

for sub in dev dev/pts proc sys; do
  mount --bind "/$sub" "$mnt/$sub"
done

echo "deb $mirror bookworm main" > "$mnt/etc/apt/sources.list"
cat > "$mnt/etc/fstab" <<'EOF'
LABEL=cloudimg-rootfs / ext4 errors=remount-ro 0 1
LABEL=UEFI /boot/efi vfat umask=0077,nofail 0 0
EOF
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
# UEFI: the removable-media path (no boot entry needed in the NVRAM), shim
# signed by Microsoft's UEFI CA (enrolled in OVMF's Secure Boot variables),
# then GRUB signed by Debian; both read the same /boot/grub/grub.cfg.  The
# FAT file system is filled with mtools in the chroot: the build host's
# kernel may have no vfat to mount it.
mkdir -p "$mnt/boot/efi"
chroot "$mnt" mkfs.vfat -F 32 -n UEFI "$esp" >/dev/null
cat > "$mnt/tmp/grub-efi.cfg" <<'EOF'
search --no-floppy --label --set=root cloudimg-rootfs
set prefix=($root)/boot/grub
configfile $prefix/grub.cfg
EOF
# (mtools says it cannot read a loop partition's geometry, which FAT does not need.)
mtool() { chroot "$mnt" env MTOOLS_SKIP_CHECK=1 "$@" 2>>"$work/mtools.log" || { cat "$work/mtools.log"; exit 1; }; }
esp_copy() { mtool mcopy -i "$esp" "$1" "::$2"; }
mtool mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
esp_copy /usr/lib/shim/shimx64.efi.signed /EFI/BOOT/BOOTX64.EFI
esp_copy /usr/lib/shim/mmx64.efi.signed /EFI/BOOT/mmx64.efi
esp_copy /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed /EFI/BOOT/grubx64.efi
esp_copy /tmp/grub-efi.cfg /EFI/BOOT/grub.cfg
esp_copy /tmp/grub-efi.cfg /EFI/debian/grub.cfg
rm "$mnt/tmp/grub-efi.cfg"
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
[[ ${#made_nodes[@]} -gt 0 ]] && rm -f "${made_nodes[@]}"
made_nodes=()

mkdir -p "$cache"
qemu-img convert -O qcow2 "$raw" "$work/image.qcow2"
mv "$work/image.qcow2" "$image"
echo "cloudimage: built $image in $(( $(date +%s) - start )) s ($(du -h "$image" | cut -f1) on disk)"
echo "$image"
