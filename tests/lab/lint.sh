#!/usr/bin/env bash
# Tier "ansible-lint": the production profile over the whole collection
# (roles, playbooks, extensions/molecule, tests/integration/targets, galaxy.yml,
# meta/, plugins/ docs), configured by .ansible-lint at the top of the checkout.
#
#   tests/lab/lint.sh                 everything ansible-lint auto-detects
#   tests/lab/lint.sh roles/kvm_host  extra arguments go to ansible-lint
#   tests/lab/lint.sh --core 2.21.5   the same with another ansible-core of the matrix, from
#                                     .cache/ansible-core-<version> (tests/lab/core.sh)
#
# Offline (Galaxy is unreachable): ansible-lint installs nothing and finds
# kvmops.hypervisor through ANSIBLE_COLLECTIONS_PATH / ansible.cfg, i.e. the
# .cache/collections symlink that tests/lab/collection.sh makes.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/core.sh"
cd "$KVMOPS_ROOT"

log_dir="$KVMOPS_ROOT/.cache/lint"
if [[ "${1:-}" == --core ]]; then
  core=${2:?--core needs an ansible-core version, e.g. 2.16.19}
  shift 2
  if ! core_python "$core" >/dev/null; then
    core_missing "ansible-lint-$core" "no Python for ansible-core $core (2.20+ needs 3.12 or 3.13: pyenv prefix 3.13 / 3.12 found none)"
    exit $?
  fi
  venv=$(core_venv "$core" "$(grep -E '^ansible-lint==' tests/requirements.txt)") \
    || { echo "lint: could not make the ansible-core $core venv" >&2; exit 1; }
  export PATH="$venv/bin:$PATH"
  log_dir="$log_dir/$core"
fi

tests/lab/collection.sh >/dev/null
if [[ ! -e .cache/collections/ansible_collections/kvmops/hypervisor/galaxy.yml ]]; then
  echo "lint: kvmops.hypervisor is not reachable under .cache/collections" >&2
  exit 1
fi

mkdir -p "$log_dir"
log="$log_dir/ansible-lint.log"
issues="$log_dir/issues.txt"

start=$(date +%s)
set +e
# -vv: ansible-lint names every file it examines, so the summary can show
# which YAML files were linted and which were not.
NO_COLOR=1 ansible-lint -vv --nocolor --offline -f pep8 "$@" >"$issues" 2>"$log"
rc=$?
set -e
secs=$(( $(date +%s) - start ))

echo "----- ansible-lint $(ansible-lint --nocolor --version 2>/dev/null | sed -n '1s/^ansible-lint \([^ ]*\) using ansible-core:\([^ ]*\).*/\1 with ansible-core \2/p'), profile production, offline, ${secs}s (log: ${log#"$KVMOPS_ROOT"/})"
python - "$log" "$issues" "$@" <<'PY'
import collections, os, re, subprocess, sys
log = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
issues = [l for l in open(sys.argv[2], encoding="utf-8", errors="replace").read().splitlines() if l.strip()]
explicit = sys.argv[3:]

examined = {}
for line in log:
    m = re.search(r"Examining (\S+) of type (\S+)", line)
    if m and not m.group(1).startswith("/"):
        examined[os.path.normpath(m.group(1))] = m.group(2)

AREAS = ("roles", "playbooks", "extensions/molecule", "tests/integration/targets", "inventories", "meta")
def area(path):
    for a in AREAS:
        if path == a or path.startswith(a + "/"):
            return a
    return "other"

by_area = collections.Counter(area(p) for p in examined)
print("  files examined: %d (%s)" % (len(examined), ", ".join("%s %d" % (a, by_area[a]) for a in AREAS + ("other",) if by_area[a])))

# Ansible YAML in the areas above that ansible-lint did not look at (it only
# follows what it recognises). files/ and templates/ hold payload, not Ansible.
if not explicit:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    missed = [p for p in listed
              if p.endswith((".yml", ".yaml")) and area(p) != "other" and os.path.exists(p)
              and not re.search(r"(^|/)(files|templates)/", p) and os.path.normpath(p) not in examined]
    for p in sorted(missed):
        print("  note: not linted (ansible-lint did not recognise it): " + p)

per_rule = collections.Counter()
per_file = collections.Counter()
for l in issues:
    m = re.match(r"([^:]+):\d+(?::\d+)?: ([^:\s]+):", l)
    if m:
        per_file[m.group(1)] += 1
        per_rule[m.group(2)] += 1
if issues:
    print("  violations: %d in %d files; by rule: %s" % (len(issues), len(per_file), ", ".join("%s %d" % kv for kv in per_rule.most_common())))
    print("----- ansible-lint violations (path:line[:column]: rule: message)")
    for l in issues:
        print("  " + l)
# Anything ansible-lint reports outside the violation list (bad YAML, a module
# whose documentation does not parse, a crash) is shown too.
for l in log:
    if re.match(r"(\[ERROR\]|ERROR|CRITICAL|Traceback)", l):
        print("  log: " + l)
PY
case $rc in
  0) echo "----- ansible-lint: passed" ;;
  2) echo "----- ansible-lint: FAILED (violations)" ;;
  *) echo "----- ansible-lint: FAILED (ansible-lint exit $rc, see the log)"; tail -20 "$log" ;;
esac
exit $rc
