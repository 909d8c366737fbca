# kvmops stand-in for get-pip.py (tests/lab/get_pip_standin.py)
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-test puts pip into its virtual environments with a get-pip.py it
downloads from ci-files.testing.ansible.com, unreachable here (only PyPI is);
it looks in its cache (~/.ansible/test/cache/get_pip_<version>.py) first.
This file is the stand-in placed there: ensurepip, then `pip install` of the
same pinned pip from PyPI.

  python tests/lab/get_pip_standin.py --seed

(with the Python whose ansible-test will run: tests/lab/sanity.sh and
tests/integration/test_targets.py do this) copies this file into that cache
for every pip version that ansible-test pins (read from its own source,
get_venv_packages in python_requirements.py). A get-pip.py placed there by
hand (without this file's first line) is left alone; ours is refreshed.

Run by ansible-test as get-pip.py: argv = pip options + "pip==X"
[--no-setuptools] [--no-wheel].
"""

import os
import re
import subprocess
import sys
import tempfile

MARKER = "# kvmops stand-in for get-pip.py (tests/lab/get_pip_standin.py)"
# The first line of the copies tests/lab/sanity.sh and test_targets.py wrote before this file.
OLD_MARKER = "# kvmops stand-in for get-pip.py (tests/lab/sanity.sh)"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def installed(name):
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(%r) is None)" % name
    return subprocess.call([sys.executable, "-c", probe]) == 0


def get_pip(argv):
    """What get-pip.py does, through ensurepip and PyPI."""
    args = [a for a in argv if a not in GET_PIP_ONLY]
    env = dict(os.environ, PIP_CERT=CA_BUNDLE)
    had_setuptools = installed("setuptools")
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env, stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args, env=env)
    # get-pip.py --no-setuptools leaves setuptools out; ensurepip (Python < 3.12) brings it.
    if "--no-setuptools" in argv and not had_setuptools and installed("setuptools"):
        subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], env=env)


def pip_versions():
    """The pip version(s) the installed ansible-test bootstraps into its venvs."""
    import ansible_test  # pylint: disable=import-outside-toplevel

    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source, encoding="utf-8") as handle:
        body = handle.read().split("def get_venv_packages", 1)[1].split("\ndef ", 1)[0]
    found = set(re.findall(r"""\bpip\s*=\s*['"]([0-9][0-9.]*)['"]""", body))
    found |= set(re.findall(r"""['"]pip['"]\s*:\s*['"]([0-9][0-9.]*)['"]""", body))
    if not found:
        sys.exit("get_pip_standin: no pip version found in {0}".format(source))
    return sorted(found)


def seed():
    with open(os.path.abspath(__file__), encoding="utf-8") as handle:
        text = handle.read()
    cache = os.path.join(os.path.expanduser("~"), ".ansible", "test", "cache")
    os.makedirs(cache, exist_ok=True)
    for version in pip_versions():
        path = os.path.join(cache, "get_pip_{0}.py".format(version.replace(".", "_")))
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                current = handle.read()
            if current == text:
                continue
            if not current.startswith((MARKER + "\n", OLD_MARKER + "\n")):
                print("get_pip_standin: {0} exists and is not ours; using it".format(path))
                continue
        # Two runs (sanity tiers of two cores, an integration run) may seed at the same time.
        fd, tmp = tempfile.mkstemp(dir=cache)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
        print("get_pip_standin: seeded {0} (pip {1} via ensurepip + PyPI)".format(path, version))


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed"]:
        seed()
    else:
        get_pip(sys.argv[1:])
