# shellcheck shell=bash
# Sourced by sanity.sh, lint.sh and unit.sh: a virtualenv per ansible-core of the
# test matrix, .cache/ansible-core-<version>, with the Python that core needs.
#
#   core_python VERSION      prints the python executable for that ansible-core
#                            (3.11 up to 2.19; 2.20 and later need 3.12+: the newest
#                            3.13/3.12 that pyenv holds, found with `pyenv prefix`,
#                            else python3.13/python3.12 on PATH if it runs)
#   core_venv VERSION PKG... makes/updates the venv (ansible-core==VERSION + PKG...),
#                            prints its path; pip's log in .cache/core-venvs/
#   controller_venv REQFILE  the controller venv of the integration tier and molecule:
#                            .cache/controller-<core> with every pin of REQFILE (its
#                            ansible-core pin picks the core and so the Python); prints
#                            its path. Made anew when the Python changes; a changed
#                            REQFILE is installed over it in place.
#   controller_enter TIER    for the tiers on that venv (integration, molecule): puts the
#                            venv of tests/requirements-controller.txt first on PATH, or,
#                            without a Python for its core, reports TIER as not run and
#                            exits the calling script (core_missing's status)
#   core_missing TIER MSG    a matrix tier that cannot run: says so plainly, records it
#                            for the tier summary (KVMOPS_SKIP_LOG, kind "missing"),
#                            returns 1 under KVMOPS_REQUIRE_ALL=1 (.ci/run), else 0
#
# The pyenv shims (python3.12, python3.13 on PATH) fail while pyenv's global
# version is another one, so they are not trusted without running them.

core_python() {
  local core=$1 minor v prefix exe
  minor=$(echo "$core" | cut -d. -f2)
  if ((minor < 20)); then
    for exe in python3.11 "$(pyenv prefix 3.11 2>/dev/null | cut -d: -f1)/bin/python3.11"; do
      if "$exe" -c 'import sys; assert sys.version_info[:2] == (3, 11)' >/dev/null 2>&1; then
        command -v "$exe"
        return 0
      fi
    done
    return 1
  fi
  # pyenv itself: on PATH, else where its installer puts it (PYENV_ROOT, ~/.pyenv).
  local pyenv=pyenv
  command -v pyenv >/dev/null || pyenv="${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv"
  for v in 3.13 3.12; do
    if prefix=$("$pyenv" prefix "$v" 2>/dev/null) && [[ -n "$prefix" ]]; then
      exe="${prefix%%:*}/bin/python$v"
      if "$exe" -c 'import ssl, venv' >/dev/null 2>&1; then
        echo "$exe"
        return 0
      fi
    fi
    if exe=$(command -v "python$v") && "$exe" -c 'import ssl, venv' >/dev/null 2>&1; then
      echo "$exe"
      return 0
    fi
  done
  return 1
}

core_venv() {
  local core=$1 root venv python log stamp want
  shift
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  venv="$root/.cache/ansible-core-$core"
  python=$(core_python "$core") || return 1
  want="$python ansible-core==$core $*"
  stamp="$venv/.kvmops-packages"
  mkdir -p "$root/.cache/core-venvs"
  log="$root/.cache/core-venvs/pip-$core.log"
  # Another tier of the same core may be installing right now (make -j): one at a time.
  exec {lock}>"$root/.cache/core-venvs/$core.lock"
  flock "$lock"
  if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
  fi
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "core: creating $venv with $python" >&2
    "$python" -m venv "$venv" >&2 || { flock -u "$lock"; return 1; }
  fi
  # Packages already there are checked by pip in a second; a changed list installs the difference.
  if ! grep -qxF "$want" "$stamp" 2>/dev/null; then
    echo "core: pip install ansible-core==$core $* into ${venv#"$root"/} (log: ${log#"$root"/})" >&2
    # shellcheck disable=SC2068
    if ! "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" "$@" >"$log" 2>&1; then
      cat "$log" >&2
      flock -u "$lock"
      return 1
    fi
    echo "$want" >> "$stamp"
  fi
  flock -u "$lock"
  echo "$venv"
}

controller_venv() {
  local reqfile=$1 root core venv python log want
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  core=$(sed -n 's/^ansible-core==\([0-9.]*\).*/\1/p' "$reqfile")
  [[ -n "$core" ]] || { echo "core: no ansible-core== pin in $reqfile" >&2; return 1; }
  venv="$root/.cache/controller-$core"
  python=$(core_python "$core") || return 1
  want="$python $(sha256sum < "$reqfile" | cut -c1-16)"
  mkdir -p "$root/.cache/core-venvs"
  log="$root/.cache/core-venvs/pip-controller-$core.log"
  exec {lock}>"$root/.cache/core-venvs/controller-$core.lock"
  flock "$lock"
  # A new Python (or a broken venv) makes the venv anew; a changed file is installed over
  # it in place: a tier running at that moment keeps a working ansible (a removed pin
  # stays installed until the venv is made anew).
  if [[ "$(cut -d' ' -f1 "$venv/.kvmops-requirements" 2>/dev/null)" != "$python" ]] \
      || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "core: making $venv with $python (log: ${log#"$root"/})" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv" >"$log" 2>&1 || { cat "$log" >&2; flock -u "$lock"; return 1; }
  fi
  if [[ "$(cat "$venv/.kvmops-requirements" 2>/dev/null)" != "$want" ]]; then
    echo "core: pip install -r ${reqfile#"$root"/} into ${venv#"$root"/} (log: ${log#"$root"/})" >&2
    if ! "$venv/bin/pip" install --disable-pip-version-check -r "$reqfile" >>"$log" 2>&1; then
      tail -40 "$log" >&2
      flock -u "$lock"
      return 1
    fi
    echo "$want" > "$venv/.kvmops-requirements"
  fi
  flock -u "$lock"
  echo "$venv"
}

controller_enter() {
  local tier=$1 reqs=tests/requirements-controller.txt core venv
  core=$(sed -n 's/^ansible-core==\([0-9.]*\).*/\1/p' "$reqs")
  if ! core_python "$core" >/dev/null; then
    core_missing "$tier-$core" "no Python for ansible-core $core (2.20+ needs 3.12 or 3.13: pyenv prefix 3.13 / 3.12 found none)"
    exit $?
  fi
  venv=$(controller_venv "$reqs") || { echo "$tier: could not make the ansible-core $core controller venv" >&2; exit 1; }
  export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
}

core_missing() {
  local tier=$1 msg=$2
  echo "===== $tier: NOT RUN: $msg"
  if [[ -n "${KVMOPS_SKIP_LOG:-}" ]]; then
    printf 'missing\t%s\t%s\n' "$tier" "$msg" >> "$KVMOPS_SKIP_LOG"
  fi
  if [[ "${KVMOPS_REQUIRE_ALL:-}" != "" && "${KVMOPS_REQUIRE_ALL:-}" != 0 ]]; then
    echo "===== $tier: fails: KVMOPS_REQUIRE_ALL=1 and $msg"
    return 1
  fi
  return 0
}
