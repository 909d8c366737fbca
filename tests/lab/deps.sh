#!/usr/bin/env bash
# Install what the test suite needs; a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

mapfile -t pkgs < <(grep -vE '^\s*(#|$)' tests/lab/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: apt-get install ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

stamp=.venv/.requirements.stamp
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if ! cmp -s tests/requirements.txt "$stamp"; then
  echo "deps: pip install -r tests/requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$stamp"
fi
echo "deps: ready"
