#!/usr/bin/env bash
# The documentation site, built offline: the reference of every module, plugin
# and role by antsibull-docs (the tool the Ansible docsite uses) from the
# collection's own documentation, and the guides (docs/*.md, English and Chinese)
# through MyST, in one Sphinx site with the Ansible theme.
#
#   docs/build.sh            -> .cache/docs/html/index.html (what `make docs` runs)
#   docs/build.sh --lint     only `antsibull-docs lint-collection-docs --plugin-docs` (sanity tier)
#
# The tools live in .cache/docs-venv (pinned below). The site is made by
# `antsibull-docs sphinx-init` from docs/index.rst; intersphinx is emptied, so
# nothing is fetched (links to ansible.builtin stay plain text).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/lab/env.sh disable=SC1091
source "$root/tests/lab/env.sh"
cd "$root"

pins=(antsibull-docs==2.28.0 antsibull-changelog==0.36.0 sphinx==9.0.4 sphinx-ansible-theme==0.10.4
      myst-parser==5.2.0 ansible-core==2.19.14)
venv="$root/.cache/docs-venv"
work="$root/.cache/docs"
mkdir -p "$work"
if ! grep -qxF "${pins[*]}" "$venv/.kvmops-packages" 2>/dev/null; then
  echo "docs: pip install ${pins[*]} into ${venv#"$root"/}"
  rm -rf "$venv"
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log"; exit 1; }
  echo "${pins[*]}" > "$venv/.kvmops-packages"
fi
export PATH="$venv/bin:$PATH"
tests/lab/collection.sh >/dev/null
collection="$root/.cache/collections/ansible_collections/kvmops/hypervisor"

if [[ "${1:-}" == --lint ]]; then
  exec antsibull-docs lint-collection-docs --plugin-docs "$collection"
fi

start=$(date +%s)
site="$work/site"
rm -rf "$site" "$work/html"
mkdir -m 700 "$site"  # antsibull-docs wants its directories writable by their owner only
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --no-add-antsibull-docs-version \
  --project kvmops.hypervisor --title kvmops.hypervisor --copyright "kvmops developers" \
  --dest-dir "$site" kvmops.hypervisor >"$work/antsibull-docs.log" 2>&1 \
  || { grep -v '^WARNING: Location' "$work/antsibull-docs.log"; exit 1; }
cat >> "$site/conf.py" <<'PY'

# kvmops (docs/build.sh): offline, no inventory of docs.ansible.com is fetched.
# References into the Ansible docsite (ansible.builtin plugins, common return values,
# configuration settings and their environment variables) become plain links to it.
intersphinx_mapping = {}

import re as _re
from docutils import nodes as _nodes

_ANSIBLE = 'https://docs.ansible.com/ansible/latest/'
_LABELS = {
    'common_return_values': 'reference_appendices/common_return_values.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}


def _ansible_docsite(app, env, node, contnode):
    target = node.get('reftarget', '')
    url = None
    if node.get('reftype') == 'ref':
        m = _re.match(r'ansible_collections\.ansible\.builtin\.(\w+?)_(\w+)$', target)
        if m:
            url = _ANSIBLE + 'collections/ansible/builtin/%s_%s.html' % m.groups()
        elif target in _LABELS:
            url = _ANSIBLE + _LABELS[target]
    elif node.get('reftype') == 'envvar':
        url = _ANSIBLE + 'reference_appendices/config.html#envvar-' + target
    if url is None:
        return None
    ref = _nodes.reference('', '', internal=False, refuri=url)
    ref += contnode
    return ref


def setup(app):
    app.connect('missing-reference', _ansible_docsite)

# The guides are Markdown (docs/*.md), read by MyST.
extensions.append('myst_parser')
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3
PY
# The plugin and role reference; its collection index becomes reference.rst under
# docs/index.rst, the front page, which also lists the guides and the changelog.
antsibull-docs --config-file "$site/antsibull-docs.cfg" collection --use-current --squash-hierarchy \
  --fail-on-error --dest-dir "$site/rst" kvmops.hypervisor >"$work/antsibull-docs.log" 2>&1 \
  || { grep -v '^WARNING: Location' "$work/antsibull-docs.log"; echo "docs: antsibull-docs failed (above)" >&2; exit 1; }
mv "$site/rst/index.rst" "$site/rst/reference.rst"
cp docs/index.rst "$site/rst/index.rst"
mkdir -p "$site/rst/guides"
cp docs/*.md "$site/rst/guides/"
cp CHANGELOG.rst "$site/rst/changelog.rst"
sphinx-build -q -b html -c "$site" "$site/rst" "$work/html" 2>"$work/sphinx-warnings.log" \
  || { cat "$work/sphinx-warnings.log"; exit 1; }
# Warnings about the plugin reference (not the guides' links to files outside docs/) fail the build.
if grep -v -E '/guides/|WARNING: Location' "$work/sphinx-warnings.log" | grep -q 'WARNING\|ERROR'; then
  grep -v '/guides/' "$work/sphinx-warnings.log"
  echo "docs: sphinx warnings in the reference (above)" >&2
  exit 1
fi
echo "docs: ${work#"$root"/}/html/index.html ($(find "$work/html" -name '*.html' | wc -l) pages, $(( $(date +%s) - start ))s; guide warnings: $(grep -c WARNING "$work/sphinx-warnings.log" || true))"
