#!/usr/bin/env bash
# Tier "galaxy-importer": Galaxy's own import checks on the collection tarball
# that `ansible-galaxy collection build` makes, as Galaxy would run them on upload:
# galaxy.yml/MANIFEST, file checks, the changelog, ansible-doc of every plugin,
# ansible-lint on the content (offline), docs rendering.
#
#   tests/lab/importer.sh
#
# galaxy-importer (pinned below) lives in its own virtualenv, .cache/galaxy-importer:
# it pins its own ansible-core and ansible-lint. Its configuration
# (.cache/importer/galaxy-importer.cfg, written here) keeps it offline: no
# ansible-test in a container (run_ansible_test off; the sanity tiers run ansible-test
# on every core of the matrix), ansible-lint with --offline. Every WARNING or ERROR
# the importer logs fails the tier; they are listed in the summary.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$KVMOPS_ROOT"

importer_pin=galaxy-importer==0.4.44
venv="$KVMOPS_ROOT/.cache/galaxy-importer"
work="$KVMOPS_ROOT/.cache/importer"
mkdir -p "$work"
if ! grep -qxF "$importer_pin" "$venv/.kvmops-packages" 2>/dev/null; then
  echo "importer: pip install $importer_pin into ${venv#"$KVMOPS_ROOT"/}"
  rm -rf "$venv"
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$importer_pin" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log"; exit 1; }
  echo "$importer_pin" > "$venv/.kvmops-packages"
fi

cat > "$work/galaxy-importer.cfg" <<CFG
[galaxy-importer]
# offline: ansible-test would pull a container image; ansible-lint must not reach Galaxy
run_ansible_test = False
run_ansible_lint = True
offline_ansible_lint = True
run_ansible_doc = True
check_changelog = True
check_required_tags = False
log_level_main = INFO
ansible_local_tmp = $work/ansible-tmp
tmp_root_dir = $work
CFG

# Built from a copy of the tracked (and new, not ignored) files, as a clean clone would be:
# files that change while the build reads them (other work in this checkout) cannot
# leave a tarball whose checksums disagree with its content.
src=$(mktemp -d "$work/src.XXXXXX")
trap 'rm -rf "$src"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -P {} "$src"/ 2>/dev/null || true
rm -rf "$work/build"
mkdir -p "$work/build"
(cd "$src" && ansible-galaxy collection build --force --output-path "$work/build" . >/dev/null)
tarball=$(ls "$work"/build/kvmops-hypervisor-*.tar.gz)
log="$work/importer.log"

start=$(date +%s)
set +e
# The importer's own ansible-doc / ansible-lint (its venv first on PATH); the
# collection comes from the tarball only, not from .cache/collections.
# In $work: the importer writes importer_result.json into its working directory.
(cd "$work" && env -u ANSIBLE_COLLECTIONS_PATH -u PYTHONPATH -u ANSIBLE_CONFIG \
  PATH="$venv/bin:$PATH" GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg" \
  "$venv/bin/python" -m galaxy_importer.main "$tarball" >"$log" 2>&1)
rc=$?
set -e
secs=$(( $(date +%s) - start ))

echo "----- galaxy-importer $("$venv/bin/pip" show galaxy-importer 2>/dev/null | sed -n 's/^Version: //p') on ${tarball#"$KVMOPS_ROOT"/}, ${secs}s (log: ${log#"$KVMOPS_ROOT"/})"
python - "$log" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
flagged = [l for l in lines if re.match(r"\s*(WARNING|ERROR|CRITICAL)\b", l) or "Traceback" in l]
loaded = [l.split(None, 1)[1] for l in lines if l.startswith("Loading ")]
print("  loaded %d items (%s)" % (len(loaded), ", ".join(sorted(set(x.split()[0] for x in loaded)))))
for l in lines:
    if re.match(r"(Linting collection|Importer processing completed)", l):
        print("  " + l.strip())
print("  %d warnings/errors" % len(flagged))
for l in flagged:
    print("  " + l.strip())
sys.exit(1 if flagged else 0)
PY
flags=$?
if ((rc)) || ((flags)); then
  echo "----- galaxy-importer: FAILED (exit $rc)"
  ((rc)) && tail -20 "$log"
  exit 1
fi
echo "----- galaxy-importer: passed"
