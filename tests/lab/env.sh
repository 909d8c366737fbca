# shellcheck shell=bash
# Sourced by the lab scripts and the Makefile: one place for lab settings.
KVMOPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CONTAINERS_CONF="$KVMOPS_ROOT/tests/lab/containers.conf"
# The image tag follows the recipe, so a changed recipe builds a new image.
KVMOPS_IMAGE_RECIPE_HASH="$(sha256sum "$KVMOPS_ROOT/tests/lab/image.sh" | cut -c1-12)"
export KVMOPS_BUILT_IMAGE="localhost/kvmops-testhost:bookworm-$KVMOPS_IMAGE_RECIPE_HASH"
# Users may point every scenario and fixture at their own systemd image.
export KVMOPS_TEST_IMAGE="${KVMOPS_TEST_IMAGE:-$KVMOPS_BUILT_IMAGE}"
export ANSIBLE_COLLECTIONS_PATH="$KVMOPS_ROOT/.cache/collections"
export PYTHONPATH="$KVMOPS_ROOT/.cache/collections${PYTHONPATH:+:$PYTHONPATH}"
export ANSIBLE_CONFIG="$KVMOPS_ROOT/ansible.cfg"
export PATH="$KVMOPS_ROOT/.venv/bin:$PATH"
