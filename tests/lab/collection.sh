#!/usr/bin/env bash
# Make the checkout importable as kvmops.hypervisor:
#   .cache/collections/ansible_collections/kvmops/hypervisor -> the checkout (for ansible, pytest, molecule)
#   build/ansible_collections/kvmops/hypervisor: a copy of the tracked files (ansible-test wants a real tree)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KVMOPS_ROOT"
mkdir -p .cache/collections/ansible_collections/kvmops
ln -sfn "$KVMOPS_ROOT" .cache/collections/ansible_collections/kvmops/hypervisor
if [[ "${1:-}" == --copy ]]; then
  dest=build/ansible_collections/kvmops/hypervisor
  rm -rf "$dest"
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -P {} "$dest"/ 2>/dev/null || true
  # ansible-test lists files through git when it finds a repository.
  (cd "$dest" && git init -q && git add -A)
  echo "collection: copied to $dest"
fi
