# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The peer the benchmarks compare with: community.libvirt, as its users get it.

- 2.0.0: the PyPI `ansible` 12.3.0 bundle, installed in its own virtualenv
  .cache/bench-venv (created on first use); run by that venv's ansible-playbook.
- 2.3.0: the one the current bundle `ansible` 14.5.0 ships (that bundle needs
  Python >= 3.12, so it is not installed): the collection is taken out of the
  wheel (`pip download --no-deps --python-version 3.12 ansible==14.5.0`) into
  .cache/bench-community-libvirt-2.3.0 on first use, and run by the checkout's
  ansible-core 2.19 (.venv), found before .venv's own bundle through
  ANSIBLE_COLLECTIONS_PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
BENCH_VENV = os.path.join(ROOT, ".cache", "bench-venv")
OLD_BUNDLE = "ansible==12.3.0"  # ships community.libvirt 2.0.0
NEW_BUNDLE = "ansible==14.5.0"  # ships community.libvirt 2.3.0
NEW_LIBVIRT = os.path.join(ROOT, ".cache", "bench-community-libvirt-2.3.0")


def old_playbook():
    """ansible-playbook of the venv with the ansible 12.3.0 bundle (community.libvirt 2.0.0)."""
    playbook = os.path.join(BENCH_VENV, "bin", "ansible-playbook")
    if not os.path.exists(playbook):
        print("creating {0} with {1} (community.libvirt)".format(BENCH_VENV, OLD_BUNDLE), flush=True)
        subprocess.run([sys.executable, "-m", "venv", BENCH_VENV], check=True)
        subprocess.run([os.path.join(BENCH_VENV, "bin", "pip"), "install", "-q", OLD_BUNDLE], check=True)
    return playbook


def new_libvirt():
    """community.libvirt out of the ansible 14.5.0 wheel, as a collections path; its version."""
    manifest = os.path.join(NEW_LIBVIRT, "ansible_collections", "community", "libvirt", "MANIFEST.json")
    if not os.path.exists(manifest):
        print("extracting community.libvirt from {0} into {1}".format(NEW_BUNDLE, NEW_LIBVIRT), flush=True)
        download = tempfile.mkdtemp(prefix="kvmops-bench-wheel-")
        try:
            subprocess.run([os.path.join(VENV, "bin", "pip"), "download", "-q", "--no-deps", "--python-version", "3.12",
                            "--only-binary=:all:", NEW_BUNDLE, "-d", download], check=True)
            wheel = [f for f in os.listdir(download) if f.endswith(".whl")][0]
            with zipfile.ZipFile(os.path.join(download, wheel)) as z:
                for member in z.namelist():
                    if member.startswith("ansible_collections/community/libvirt/"):
                        z.extract(member, NEW_LIBVIRT)
        finally:
            shutil.rmtree(download, ignore_errors=True)
    with open(manifest, encoding="utf-8") as f:
        return json.load(f)["collection_info"]["version"]


def env(collections):
    """ansible-playbook's environment: modules run by .venv's python (libvirt-python, lxml).

    collections: "own" (this checkout, .cache/collections), "new" (community.libvirt 2.3.0)
    or "old" (the bench venv's bundle only, community.libvirt 2.0.0)."""
    environ = dict(os.environ)
    environ["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    environ["ANSIBLE_PYTHON_INTERPRETER"] = os.path.join(VENV, "bin", "python")
    environ["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    environ["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "1"
    environ["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    if collections == "own":
        environ["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(ROOT, ".cache", "collections")
    elif collections == "new":
        # Found before the 2.0.0 of .venv's own bundle (sys.path is searched after this path).
        environ["ANSIBLE_COLLECTIONS_PATH"] = NEW_LIBVIRT
        environ.pop("PYTHONPATH", None)
    elif collections == "old":
        environ["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(BENCH_VENV, "no-extra-collections")
        environ.pop("PYTHONPATH", None)
    else:
        raise ValueError(collections)
    return environ


def load():
    """The 1-minute load average, as text."""
    return "{0:.1f}".format(os.getloadavg()[0])
