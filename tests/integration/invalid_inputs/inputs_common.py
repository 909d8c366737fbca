# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid input cases: the building blocks, the registry of strategies, and the
cases every module gets generated from its documented options.

One generator per module (inputs_kvm_*.py) registers the strategies of that
module with @strategy; test_invalid_inputs.py runs them (the runner and the
baseline objects are in inputs_runner.py and inputs_baseline.py).
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import string
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))  # _snapshot.py
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import _snapshot as snap  # noqa: E402  pylint: disable=wrong-import-position

MINE = snap.MINE
URI = "qemu:///system"
WORK = "/var/tmp/kvmops-it-robust"          # every path a case names is under here
POOL = MINE + "pool"                        # active dir pool
POOL_DIR = WORK + "/pool"
POOL_OFF = MINE + "pool-off"                # defined, not started
POOL_OFF_DIR = WORK + "/pool-off"
VOLUME = MINE + "disk.qcow2"                # qcow2 in POOL
VOLUME_CAPACITY = 8 * 1024 * 1024
NETWORK = MINE + "net"                      # isolated, active
NET_BRIDGE = "kvrob0"
NET_ADDRESS = "10.213.77.1"
NETWORK2 = MINE + "net2"                    # isolated, active: its subnet is in use
NET2_SUBNET = "10.213.79"
NETWORK_OFF = MINE + "net-off"              # inactive; its definition has NETWORK2's subnet, so it cannot start
DOMAIN = MINE + "dom"                       # shut off, disk VOLUME, NIC on NETWORK
IF_PREFIX = "kvrob"                         # host interfaces the runner's cases could create
SRC = WORK + "/src/data.bin"                # a file to upload
SRC_CONTENT = bytes(range(256)) * 64
SRC_SHA256 = hashlib.sha256(SRC_CONTENT).hexdigest()
SRC_EMPTY = WORK + "/src/empty.bin"
SRC_DIR = WORK + "/src"
# New objects' names start with NEW: nothing of that name exists during the run.
NEW = MINE + "new-"

# Enough examples per strategy for >= 200 cases in all; derandomized (the same
# cases on every run), no example database in the repository.
SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))

COUNTS = collections.Counter()
STRATEGIES = {}

Case = collections.namedtuple("Case", "module args fields")


def case(module, fields, **args):
    """One invalid input; `fields`: what the message must name (all of them)."""
    return Case(module, args, tuple([fields] if isinstance(fields, str) else fields))


def strategy(module, name, examples):
    """Register a strategy of invalid cases for `module`."""
    def register(func):
        STRATEGIES.setdefault(module, []).append((name, func(), examples))
        return func
    return register


# ---------------------------------------------------------------- building blocks

_LOWER = string.ascii_lowercase + string.digits
suffix = st.text(alphabet=_LOWER + "-", min_size=1, max_size=10).filter(lambda s: s[0] != "-")
new_name = suffix.map(lambda s: NEW + s)
new_path = suffix.map(lambda s: WORK + "/new-" + s)
# A path that does not exist either, with a character that must not break the message's line.
control_path = st.tuples(suffix, st.sampled_from(["\n", "\r", "\t", "\x1b", "\x00", "\u2028"]), suffix).map(
    lambda t: WORK + "/new-" + t[0] + t[1] + t[2])
slash_name = st.tuples(suffix, suffix, st.sampled_from(["/", "/../", "//"])).map(lambda t: NEW + t[0] + t[2] + t[1])
control_name = st.tuples(suffix, st.sampled_from([chr(c) for c in range(32)] + ["\x7f"]), suffix).map(
    lambda t: NEW + t[0] + t[1] + t[2])
blank = st.sampled_from(["", " ", "  ", "\t"])
# libvirt names files after pools, volumes and networks.
dot_name = st.sampled_from([".", ".."])
# Ansible's boolean strings (module_utils/parsing/convert_bool.py) are all
# of 1 to 5 characters in y/yes/on/true/t/1 and the negatives.
_BOOLEANS = {"y", "yes", "on", "true", "t", "1", "n", "no", "off", "false", "f", "0"}
not_bool = st.text(alphabet=string.ascii_letters, min_size=2, max_size=8).filter(lambda s: s.lower() not in _BOOLEANS)
not_int = st.text(alphabet=string.ascii_letters + "-_ ", min_size=1, max_size=8).filter(lambda s: s.strip() != "")
word = st.text(alphabet=string.ascii_lowercase + "-_", min_size=1, max_size=12)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def not_one_of(choices):
    return word.filter(lambda s: s not in choices)


def spec_options(module):
    """{option: type} of a module's top-level options, as it documents them (ansible-test's
    validate-modules holds the documentation and the argument spec in step), with uri
    from the connection doc fragment."""
    doc = yaml.safe_load(importlib.import_module(snap.MODULES + module).DOCUMENTATION)
    options = dict((name, (spec or {}).get("type", "str")) for name, spec in (doc.get("options") or {}).items())
    if any(f.endswith(".connection") for f in doc.get("extends_documentation_fragment") or []):
        options.setdefault("uri", "str")
    return options


def documented_options(module):
    """The option names a module documents (its DOCUMENTATION, plus uri from the connection fragment)."""
    return set(spec_options(module)) | {"uri"}


def unknown_option(module):
    options = documented_options(module)
    return st.text(alphabet=string.ascii_lowercase + "_", min_size=3, max_size=12).filter(
        lambda s: s not in options and not s.startswith("_"))


# URIs no libvirt driver serves: a made-up scheme, or a QEMU URI with a path it refuses.
bad_uri = st.one_of(
    suffix.map(lambda s: "kvmopsbogus{0}:///system".format(s.replace("-", ""))),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10).filter(
        lambda s: s not in ("system", "session", "embed")).map(lambda s: "qemu:///" + s),
)
ipv4_octets = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
not_ipv4 = st.one_of(
    st.tuples(*[st.integers(256, 999)] + [st.integers(0, 255)] * 3).map(lambda t: ".".join(map(str, t))),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=10),
    st.sampled_from(["fe80::1", "::1", "10.0.0", "10.0.0.1.2", "10.0.0.1/24", "1.2.3.-4"]),
)
# Not an address of either family (for options that take IPv6 too).
not_ip = not_ipv4.filter(lambda a: ":" not in a and "/" not in a)
bad_mac = st.one_of(
    st.text(alphabet="0123456789abcdefXYZ:", min_size=1, max_size=20).filter(lambda s: len(s) != 17 or "x" in s.lower()),
    st.sampled_from(["52:54:00:12:34", "52:54:00:12:34:56:78", "52-54-00-12-34-5g", "g2:54:00:12:34:56"]),
)


# Kernel rules (issue 10): too long, "/", ":", white space, controls/format characters; "%", "*" and "é" are valid names.
bad_ifname = st.one_of(
    st.text(alphabet=_LOWER, min_size=16, max_size=30),
    st.tuples(suffix, st.sampled_from([" ", "/", ":", "\t", "\u200b", "\x00"]), suffix).map(lambda t: (t[0] + t[1] + t[2])[:15]),
    st.sampled_from([".", "..", ""]),
    suffix.map(lambda s: "kvrob" + s.replace("-", "")[:5] + "\n"),  # "$" in a regex matches before a final newline
)

# Sizes that are not a positive size (kvm_volume's capacity, kvm_domain's memory and disks).
bad_size = st.one_of(
    st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=8).filter(lambda s: s.strip() not in ("", "b", "B")),
    st.builds("{0}{1}".format, st.integers(1, 999), st.sampled_from(["X", "Q", "KK", "GiBB", "Mb2", "e3"])),
    st.builds("-{0}{1}".format, st.integers(1, 999), st.sampled_from(["", "K", "M", "G"])),
    st.sampled_from(["0", "0K", "0.0", "0.25", "0.0001", "1.5.5G", "1,5G", "1e3", "9999999999P", "２G"]),
    st.integers(max_value=0, min_value=-(2 ** 40)),
    st.integers(min_value=1024 ** 8 + 1, max_value=2 ** 100),
    st.booleans(),
)


# ---------------------------------------------------------------- generic cases, from each argument spec

def generate_from_spec(module, make, names=None, base=None, uri=True):
    """Register the cases every module gets, generated from the options it documents now
    (other modules grow options; nothing here lists them):

    - "not a boolean": each bool option given a string Ansible does not read as one;
    - "unknown option": an option name the module does not document;
    - "bad uri": a URI no libvirt driver serves (modules with the connection fragment,
      unless uri=False: kvm_host_facts reports an unreachable uri as a fact).

    make(fields, **args) -> Case; names: strategy of `name` values (a new and an existing
    object), None for a module without `name`; base: the other arguments of a valid call."""
    base = dict(base or {})
    options = spec_options(module)
    named = st.just(None) if names is None else names

    def call(field, name, **args):
        args = dict(base, **args)
        if name is not None:
            args["name"] = name
        return make(field, **args)

    bools = sorted(o for o, kind in options.items() if kind == "bool")
    if bools:
        STRATEGIES.setdefault(module, []).append((
            "not a boolean",
            st.builds(lambda n, key, v: call(key, n, **{key: v}), named, st.sampled_from(bools), not_bool),
            max(3, len(bools))))
    STRATEGIES.setdefault(module, []).append((
        "unknown option", st.builds(lambda n, o: call(o, n, **{o: 1}), named, unknown_option(module)), 2))
    if uri and "uri" in options:
        STRATEGIES.setdefault(module, []).append((
            "bad uri", st.builds(lambda n, u: call("uri", n, uri=u), named, bad_uri), 2))
