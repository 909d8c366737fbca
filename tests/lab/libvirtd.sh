#!/usr/bin/env bash
# Start libvirtd on the runner unless it answers; PID 1 is not systemd here,
# so the daemons are started by hand.
set -euo pipefail
answers() { virsh -c qemu:///system version >/dev/null 2>&1; }
# Without udev, /dev/kvm stays 0600 root:root; libvirt's qemu user then cannot
# open it, libvirtd finds its cached capabilities stale and re-probes QEMU on
# every define (about 30 s each). Give it the mode Debian's udev rule gives.
if [[ -c /dev/kvm ]] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi
answers && { echo "libvirtd: running"; exit 0; }
if [[ "$(ps -p 1 -o comm=)" == systemd ]]; then
  systemctl start libvirtd
else
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x virtlockd >/dev/null || virtlockd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
fi
for _ in $(seq 1 60); do
  answers && { echo "libvirtd: started"; exit 0; }
  sleep 0.5
done
echo "libvirtd: did not answer on qemu:///system" >&2
exit 1
