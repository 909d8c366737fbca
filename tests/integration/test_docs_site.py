# -*- coding: utf-8 -*-
# Copyright (c) 2026 kvmops developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation site (docs/build.sh, `make docs`): antsibull-docs' reference
of every module, opened in headless Chromium, shows each module's options table
with a row for every documented option; the front page links the reference, the
English and Chinese guides and the changelog.

Chromium (Debian package `chromium`, tests/lab/apt-packages.txt) loads the pages
from disk with networking off: the site must not need the network to render.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / ".cache" / "docs" / "html"
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def site():
    proc = subprocess.run([str(ROOT / "docs" / "build.sh")], cwd=str(ROOT), capture_output=True, text=True, check=False)
    print(proc.stdout[-5000:])
    assert proc.returncode == 0, "docs/build.sh failed:\n" + proc.stdout[-5000:] + proc.stderr[-5000:]
    assert (HTML / "index.html").is_file()
    return HTML


def _dom(page):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (tests/lab/apt-packages.txt)"
    proc = subprocess.run([chromium] + CHROMIUM_FLAGS + ["--dump-dom", page.as_uri()],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "<body" in proc.stdout, "chromium rendered nothing for {0}".format(page)
    return proc.stdout


def _documented_options(module):
    """The top-level options of a module's DOCUMENTATION (plus its doc fragments' names are not needed)."""
    tree = ast.parse((ROOT / "plugins" / "modules" / (module + ".py")).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return sorted((yaml.safe_load(node.value.value).get("options") or {}).keys())
    raise AssertionError("{0}: no DOCUMENTATION".format(module))


def test_modules_discovered():
    assert MODULES, "no modules under plugins/modules"


@pytest.mark.parametrize("module", MODULES)
def test_module_page_renders_its_options_table(site, module):
    dom = _dom(site / "{0}_module.html".format(module))
    assert "ansible-option-table" in dom, "{0}: no options table in the rendered page".format(module)
    missing = [o for o in _documented_options(module) if 'id="parameter-{0}"'.format(o) not in dom]
    assert not missing, "{0}: options without a row in the rendered table: {1}".format(module, missing)
    assert "did not return correct DOCUMENTATION" not in dom and "error page" not in dom.lower()


def test_front_page_links_reference_guides_and_changelog(site):
    dom = _dom(site / "index.html")
    for href in ("reference.html", "guides/guide.html", "guides/tutorial.html", "guides/tutorial.zh.html",
                 "changelog.html"):
        assert 'href="{0}"'.format(href) in dom, href + " is not linked from the front page"
    reference = _dom(site / "reference.html")
    for module in MODULES:
        assert 'href="{0}_module.html'.format(module) in reference, module + " is not in the reference index"
