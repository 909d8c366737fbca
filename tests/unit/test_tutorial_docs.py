# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/tutorial.md and docs/tutorial.zh.md have the same structure and name only real role variables."""

from __future__ import annotations

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
EN = os.path.join(DOCS, "tutorial.md")
ZH = os.path.join(DOCS, "tutorial.zh.md")
GUIDE = os.path.join(DOCS, "guide.md")

# kvm_* words in the docs that are neither roles, modules nor variables: the
# inventory group of site.yml and the kernel modules the tutorial's lsmod shows.
NOT_VARIABLES = {"kvm_hosts", "kvm_intel", "kvm_amd"}
# A variable, optionally with a path into its items: kvm_guests[].disk.size
VARIABLE = re.compile(r"(?<![\w./-])(kvm_[a-z0-9_]+(?:\[\])?(?:\.[a-z0-9_]+(?:\[\])?)*)")
ANCHOR = re.compile(r'^<a id="([^"]+)"></a>$')
HEADING = re.compile(r"^(#{1,6}) \S")
CJK = re.compile(r"[\u4e00-\u9fff]")
SMART_QUOTES = re.compile("[\u2018\u2019\u201c\u201d]")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def without_code_blocks(text):
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def structure(text):
    """[(heading level, anchor id or None)] in order; an anchor is the line right before its heading."""
    lines = without_code_blocks(text).splitlines()
    found = []
    for number, line in enumerate(lines):
        match = HEADING.match(line)
        if match:
            anchor = ANCHOR.match(lines[number - 1]) if number else None
            found.append((len(match.group(1)), anchor.group(1) if anchor else None))
    return found


def anchors(text):
    return [m.group(1) for line in text.splitlines() for m in [ANCHOR.match(line)] if m]


def variables(text):
    return set(VARIABLE.findall(text))


def role_specs():
    """{variable: spec} of every role's main entry point."""
    specs = {}
    for role in sorted(os.listdir(os.path.join(ROOT, "roles"))):
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                specs.update(yaml.safe_load(handle)["argument_specs"]["main"]["options"])
    return specs


def names_that_are_not_variables():
    modules = {f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules")) if f.endswith(".py")}
    roles = set(os.listdir(os.path.join(ROOT, "roles")))
    return modules | roles | NOT_VARIABLES


def unknown_variables(names, specs):
    """The names (with paths such as kvm_guests[].disk.size) that no role's argument spec declares."""
    unknown = []
    skip = names_that_are_not_variables()
    for name in sorted(names):
        parts = name.replace("[]", "").split(".")
        if parts[0] in skip and len(parts) == 1:
            continue
        options = specs
        for part in parts:
            if not isinstance(options, dict) or part not in options:
                unknown.append(name)
                break
            options = options[part].get("options")
    return unknown


@pytest.fixture(scope="module", name="en")
def en_fixture():
    return read(EN)


@pytest.fixture(scope="module", name="zh")
def zh_fixture():
    return read(ZH)


def test_same_headings_and_anchors(en, zh):
    assert structure(en) == structure(zh)
    assert anchors(en) == anchors(zh)
    # every section below the title carries an explicit anchor, so links work in both languages
    assert all(anchor for level, anchor in structure(en) if level > 1)
    assert len(anchors(en)) == len(set(anchors(en))), "duplicate anchors"


def test_steps_are_numbered_in_order_and_all_in_the_overview(en, zh):
    steps = [a for a in anchors(en) if a.startswith("step-")]
    assert steps == ["step-%d" % n for n in range(len(steps))]
    assert len(steps) >= 15
    for text in (en, zh):
        overview = text.split('<a id="overview"></a>', 1)[1].split('<a id="steps"></a>', 1)[0]
        assert re.findall(r"\]\(#(step-\d+)\)", overview) == steps


@pytest.mark.parametrize("path", [EN, ZH])
def test_internal_links_point_at_anchors(path):
    text = read(path)
    targets = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert targets <= set(anchors(text))


@pytest.mark.parametrize("path", [EN, ZH])
def test_relative_links_exist(path):
    text = read(path)
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert os.path.exists(os.path.join(DOCS, target)), target


def test_same_variables_in_both_languages(en, zh):
    only_en = variables(en) - variables(zh)
    only_zh = variables(zh) - variables(en)
    assert not only_en and not only_zh, "only in tutorial.md: %s; only in tutorial.zh.md: %s" % (sorted(only_en), sorted(only_zh))
    assert len(variables(en)) >= 30


@pytest.mark.parametrize("path", [EN, ZH, GUIDE])
def test_every_variable_named_exists_in_a_role_argument_spec(path):
    specs = role_specs()
    assert "kvm_host_hostname" in specs and "kvm_guests" in specs
    assert unknown_variables(variables(read(path)), specs) == []


def test_unknown_variable_is_reported():
    specs = role_specs()
    assert unknown_variables({"kvm_host_hostnam", "kvm_guests[].disk.sise", "kvm_guests[].disk.size", "kvm_pool"}, specs) == [
        "kvm_guests[].disk.sise", "kvm_host_hostnam"]


def test_chinese_sections_are_in_chinese(zh):
    sections = re.split(r"^#{2,3} ", without_code_blocks(zh), flags=re.M)[1:]
    assert sections
    for section in sections:
        body = [line for line in section.splitlines()[1:] if line.strip() and not ANCHOR.match(line)]
        if body:  # a heading that only opens its subsections has no text of its own
            assert len(CJK.findall(section)) >= 10, section[:80]


@pytest.mark.parametrize("path", [EN, ZH, GUIDE])
def test_no_unicode_quotes(path):
    # ansible-test sanity (no-smart-quotes) rejects them in every file of the collection
    for number, line in enumerate(read(path).splitlines(), 1):
        assert not SMART_QUOTES.search(line), "%s:%d" % (os.path.basename(path), number)


def github_slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_guide_links_resolve():
    text = read(GUIDE)
    slugs = {github_slug(line.lstrip("#")) for line in without_code_blocks(text).splitlines() if HEADING.match(line)}
    assert "running-siteyml" in slugs
    targets = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert targets and targets <= slugs, sorted(targets - slugs)
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert os.path.exists(os.path.join(DOCS, target)), target
