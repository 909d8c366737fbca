#!/usr/bin/env bash
# Tier "sanity": ansible-test sanity on the collection, placed in an
# ansible_collections/kvmops/hypervisor tree of its own per ansible-core
# (.cache/sanity/<core>/tree.XXXXXX/..., removed at exit), so runs can go on at once.
#
#   tests/lab/sanity.sh                   every sanity test with the ansible-test of .venv
#                                         (ansible-core 2.19, Python 3.11), then
#                                         `antsibull-docs lint-collection-docs --plugin-docs`
#   tests/lab/sanity.sh --test pep8 ...   extra arguments go to ansible-test
#   tests/lab/sanity.sh --core 2.21.5     the same with another ansible-core of the matrix, from
#                                         .cache/ansible-core-<version> (tests/lab/core.sh), on the
#                                         Python that core needs (3.11 before 2.20, else 3.13/3.12)
#
# ansible-test runs most sanity tests in virtual environments of its own
# (~/.ansible/test/venv, cached by the hash of their requirements) and puts
# pip into them with a get-pip.py that it downloads from ci-files.testing.ansible.com.
# That host is unreachable here (only PyPI is), so this script seeds the cache
# ansible-test looks in first with a stand-in, tests/lab/get_pip_standin.py:
# ensurepip, then `pip install` of the same pinned pip from PyPI.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/core.sh"
cd "$KVMOPS_ROOT"

label=default
if [[ "${1:-}" == --core ]]; then
  core=${2:?--core needs an ansible-core version, e.g. 2.16.19}
  shift 2
  label=$core
  if ! core_python "$core" >/dev/null; then
    core_missing "sanity-$core" "no Python for ansible-core $core (2.20+ needs 3.12 or 3.13: pyenv prefix 3.13 / 3.12 found none)"
    exit $?
  fi
  venv=$(core_venv "$core") || { echo "sanity: could not make the ansible-core $core venv" >&2; exit 1; }
  export PATH="$venv/bin:$PATH"
fi
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test looks for pythonX.Y on PATH: the venv's bin (first on PATH) has it; the
# pyenv shim of that name further down fails while pyenv's global version is another one.
log_dir="$KVMOPS_ROOT/.cache/sanity/$label"
mkdir -p "$log_dir"
log="$log_dir/ansible-test.log"
issues="$log_dir/issues.txt"

# The sanity test of that name needs the shellcheck binary; without it ansible-test
# only warns and skips the test, so install it rather than drop the test quietly.
if ! command -v shellcheck >/dev/null; then
  echo "sanity: apt-get install shellcheck (the shellcheck sanity test needs it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck >/dev/null; }
fi

# The get-pip.py stand-in (see the top of this file) for each pip version this ansible-test pins.
python tests/lab/get_pip_standin.py --seed

# A real tree of the tracked (and new, not ignored) files; ansible-test lists files through git.
tests/lab/collection.sh >/dev/null
# One tree per run (other runs of this script may be going on in the same checkout), removed at exit.
top=$(mktemp -d "$log_dir/tree.XXXXXX")
trap 'rm -rf "$top"' EXIT
tree="$top/ansible_collections/kvmops/hypervisor"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -P {} "$tree"/ 2>/dev/null || true
(cd "$tree" && git init -q && git add -A)
cd "$tree"

start=$(date +%s)
set +e
ansible-test sanity --color no --python "$python_version" --junit "$@" >"$log" 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))

echo "----- sanity: ansible-test $(ansible-test --version | awk '{print $NF}'), python $python_version, ${secs}s (full log: ${log#"$KVMOPS_ROOT"/})"
# Per test, from ansible-test's junit results: ok / skipped (with its reason) / FAILED with every issue.
set +e
python - tests/output/junit "$issues" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET
cases = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.xml"))):
    for case in ET.parse(path).getroot().iter("testcase"):
        cases.append(case)
counts = {"ok": 0, "skipped": 0, "FAILED": 0}
issues = []
skips = []
for case in cases:
    name = case.get("name")
    failures = case.findall("failure") + case.findall("error")
    skipped = case.find("skipped")
    if failures:
        lines = [l for f in failures for l in (f.text or f.get("message") or "").splitlines() if l.strip()]
        status = "FAILED (%d)" % len(lines)
        counts["FAILED"] += 1
        issues += ["%s: %s" % (name, l) for l in lines]
    elif skipped is not None:
        reason = (skipped.text or skipped.get("message") or "").strip()
        status = "skipped: " + reason
        counts["skipped"] += 1
        # "No tests applicable." (no PowerShell, no empty __init__.py) is not a missing
        # component; any other skip (a tool not installed) is, and fails under KVMOPS_REQUIRE_ALL.
        if reason != "No tests applicable.":
            skips.append((name, reason))
    else:
        status = "ok"
        counts["ok"] += 1
    print("  %-28s %s" % (name, status))
print("  %d tests: %d ok, %d skipped, %d failed" % (len(cases), counts["ok"], counts["skipped"], counts["FAILED"]))
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write("".join(l + "\n" for l in issues))
require_all = os.environ.get("KVMOPS_REQUIRE_ALL", "") not in ("", "0")
if os.environ.get("KVMOPS_SKIP_LOG"):
    with open(os.environ["KVMOPS_SKIP_LOG"], "a", encoding="utf-8") as out:
        for name, reason in skips:
            out.write("%s\tsanity %s\t%s\n" % ("FAILED" if require_all else "skip", name, " ".join(reason.split())))
if skips and require_all:
    issues += ["%s: skipped, and KVMOPS_REQUIRE_ALL=1 allows no skip: %s" % s for s in skips]
if issues:
    per_file = {}
    for l in issues:
        path = l.split(": ", 1)[1].split(":", 1)[0] if ": " in l else "?"
        if "/" in path or path.endswith((".py", ".yml", ".yaml", ".sh")):
            per_file[path] = per_file.get(path, 0) + 1
    print("  issues per file: " + ", ".join("%s %d" % kv for kv in sorted(per_file.items())))
    print("----- sanity issues (test: path:line:column: code: message)")
    for line in issues:
        print("  " + line)
sys.exit(3 if skips and require_all else 0)
PY
summary_rc=$?
set -e
if ((summary_rc)) && ! ((rc)); then
  echo "----- sanity: FAILED (a sanity test skipped, and KVMOPS_REQUIRE_ALL=1)"
  exit 1
fi
# The docs site's own linter on the plugin and role documentation and extra docs
# (antsibull-docs, docs/build.sh --lint), once, with the default core.
if [[ "$label" == default ]]; then
  cd "$KVMOPS_ROOT"
  docs_log="$log_dir/lint-collection-docs.log"
  if docs/build.sh --lint >"$docs_log" 2>&1; then
    echo "  antsibull-docs lint-collection-docs --plugin-docs: ok"
  else
    echo "  antsibull-docs lint-collection-docs --plugin-docs: FAILED"
    grep -v '^WARNING: Location' "$docs_log" | sed 's/^/  lint-collection-docs: /'
    rc=${rc:-0}; ((rc)) || rc=1
  fi
fi
if ((rc)); then
  echo "----- sanity: FAILED (ansible-test exit $rc)"
  # Errors that are not test results (a venv that could not be made, a crash) show only in the log.
  grep -E '^(FATAL|Traceback)' "$log" | head -20 || true
else
  echo "----- sanity: passed"
fi
exit "$rc"
