# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The generated module reference (docs/modules/, tests/lab/module_docs.py) is up to date and complete."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import module_docs  # noqa: E402  pylint: disable=wrong-import-position

DOCS = os.path.join(ROOT, "docs", "modules")


@pytest.fixture(scope="module", name="rendered")
def rendered_fixture():
    """The reference as `make docs` would write it now, from the modules' current documentation."""
    return module_docs.render_all(ROOT)


def test_reference_is_up_to_date(rendered, tmp_path):
    module_docs.write(rendered, str(tmp_path))
    problems = module_docs.compare(rendered, DOCS)
    assert not problems, "docs/modules is stale, run make docs:\n  " + "\n  ".join(problems)
    assert sorted(os.listdir(tmp_path)) == sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))


def test_every_module_has_a_page_in_the_index(rendered):
    modules = module_docs.module_names(ROOT)
    assert modules, "no modules found under plugins/modules"
    assert sorted(rendered) == sorted(["README.md"] + ["%s.md" % m for m in modules])
    for name in modules:
        assert "](%s.md)" % name in rendered["README.md"]


def test_compare_detects_a_stale_missing_or_extra_page(rendered, tmp_path):
    module_docs.write(rendered, str(tmp_path))
    assert not module_docs.compare(rendered, str(tmp_path))
    page = tmp_path / "kvm_pool.md"
    page.write_text(page.read_text(encoding="utf-8").replace("Manage", "Handle"), encoding="utf-8")
    (tmp_path / "kvm_volume.md").unlink()
    (tmp_path / "kvm_gone.md").write_text("old\n", encoding="utf-8")
    assert module_docs.compare(rendered, str(tmp_path)) == [
        "kvm_pool.md differs from the module's documentation",
        "kvm_volume.md is missing",
        "kvm_gone.md has no module any more",
    ]
    module_docs.write(rendered, str(tmp_path))
    assert not module_docs.compare(rendered, str(tmp_path))


def test_check_option_reports_staleness(rendered, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(module_docs, "render_all", lambda root=module_docs.ROOT: rendered)
    assert module_docs.main(["--check", "--output", str(tmp_path)]) == 1
    assert "run make docs" in capsys.readouterr().err
    assert module_docs.main(["--output", str(tmp_path)]) == 0
    assert module_docs.main(["--check", "--output", str(tmp_path)]) == 0


def test_pages_have_every_section_and_nested_options(rendered):
    domain = rendered["kvm_domain.md"]
    for heading in ("## Synopsis", "## Requirements", "## Options", "## Attributes", "## Examples", "## Return values"):
        assert heading + "\n" in domain
    # suboptions are dotted rows with their own anchors
    assert '<a id="option-domains-disks-pool"></a>domains[].disks[].**pool**' in domain
    assert '<a id="option-name"></a>**name**' in domain
    # the attributes come from the doc fragment, merged in by ansible-doc
    assert "| **check_mode** | full |" in domain
    # no absolute path of this machine leaks into the pages
    for content in rendered.values():
        assert ROOT not in content
        assert "/.cache/" not in content


@pytest.mark.parametrize("text, markdown", [
    ("C(virsh list)", "`virsh list`"),
    ("Set O(state=absent) to remove", "Set [`state=absent`](#option-state) to remove"),
    ("O(disks[].pool) first", "[`disks[].pool`](#option-disks-pool) first"),
    ("See RV(domain.state).", "See [`domain.state`](#return-domain-state)."),
    ("RV(ignore:changed) says", "`changed` says"),
    ("O(ansible.builtin.copy#module:dest=/x)", "`dest=/x`"),
    ("M(kvmops.hypervisor.kvm_pool)", "[`kvmops.hypervisor.kvm_pool`](kvm_pool.md)"),
    ("M(ansible.builtin.file)", "[`ansible.builtin.file`](https://docs.ansible.com/ansible/latest/collections/ansible/builtin/file_module.html)"),
    ("I(never) and B(always)", "*never* and **always**"),
    ("L(libvirt,https://libvirt.org)", "[libvirt](https://libvirt.org)"),
    ("U(https://libvirt.org)", "<https://libvirt.org>"),
    ("V(a\\)b)", "`a)b`"),
    ("files <name>.xml", "files &lt;name&gt;.xml"),
    ("kvm_host_facts and _private", "kvm_host_facts and \\_private"),
    ("ABC(not markup)", "ABC(not markup)"),
])
def test_markup(text, markdown):
    assert module_docs.markup(text) == markdown
