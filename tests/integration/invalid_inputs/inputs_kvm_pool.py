# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_pool: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    NEW,
    POOL,
    SRC,
    WORK,
    _LOWER,
    blank,
    case,
    control_name,
    dot_name,
    generate_from_spec,
    new_name,
    new_path,
    not_one_of,
    slash_name,
    st,
    strategy,
    suffix,
)


def _pool(fields, **args):
    return case("kvm_pool", fields, **args)


@strategy("kvm_pool", "name with a slash", 3)
def _pool_name_with_a_slash():
    return st.builds(lambda n, p: _pool("name", name=n, path=p), slash_name, new_path)


@strategy("kvm_pool", "blank or dot name", 5)
def _pool_blank_or_dot_name():
    return st.builds(lambda n, p: _pool("name", name=n, path=p), st.one_of(blank, dot_name), new_path)


@strategy("kvm_pool", "name with a control character", 4)
def _pool_name_with_a_control_character():
    return st.builds(lambda n, p: _pool("name", name=n, path=p), control_name, new_path)


@strategy("kvm_pool", "name missing", 1)
def _pool_name_missing():
    return new_path.map(lambda p: _pool("name", path=p))


@strategy("kvm_pool", "unknown state", 2)
def _pool_unknown_state():
    return st.builds(lambda n, s: _pool("state", name=n, path=WORK + "/new-x", state=s), new_name, not_one_of(["present", "absent"]))


@strategy("kvm_pool", "unsupported type", 2)
def _pool_unsupported_type():
    return st.builds(lambda n, t: _pool("type", name=n, path=WORK + "/new-x", type=t), st.sampled_from([NEW + "t", POOL]),
                     st.one_of(st.sampled_from(["fs", "netfs", "logical", "disk", "iscsi", "zfs"]), not_one_of(["dir"])))


@strategy("kvm_pool", "relative path", 3)
def _pool_relative_path():
    return st.builds(lambda n, p: _pool("path", name=n, path=p), st.sampled_from([NEW + "rel", POOL]),
                     st.text(alphabet=_LOWER + "._-/", min_size=1, max_size=20).filter(lambda s: s[0] not in "/~$"))


@strategy("kvm_pool", "new pool without path", 2)
def _pool_new_pool_without_path():
    return new_name.map(lambda n: _pool("path", name=n))


@strategy("kvm_pool", "path is a file", 2)
def _pool_path_is_a_file():
    return st.sampled_from([NEW + "file", POOL]).map(lambda n: _pool("path", name=n, path=SRC))


bad_mode = st.one_of(
    st.text(alphabet="89abcdefghrwx-+ ", min_size=1, max_size=6).filter(lambda s: s.strip() and any(c in s for c in "89abcdefghrwx+")),
    st.integers(min_value=0o10000, max_value=2 ** 40),
    st.integers(max_value=-1, min_value=-(2 ** 40)),
    st.integers(min_value=0o10000, max_value=0o777777).map("{0:o}".format),
    st.booleans(),
    st.lists(st.integers(0, 7), min_size=1, max_size=3),
)


@strategy("kvm_pool", "path below a file", 3)
def _pool_path_below_a_file():
    below = st.tuples(suffix, st.sampled_from(["", "\n", "\t", "\x1b", "\u2028"])).map(lambda t: SRC + "/" + t[0] + t[1])
    return st.builds(lambda n, p: _pool("path", name=n, path=p), st.sampled_from([NEW + "below", POOL]), below)


@strategy("kvm_pool", "bad mode", 5)
def _pool_bad_mode():
    return st.builds(lambda n, m: _pool("mode", name=n, path=WORK + "/new-mode", mode=m), st.sampled_from([NEW + "mode", POOL]), bad_mode)


@strategy("kvm_pool", "unknown owner or group", 4)
def _pool_unknown_owner_or_group():
    return st.builds(lambda n, key, who: _pool(key, name=n, path=WORK + "/new-own", **{key: "kvmops-no-such-" + who}),
                     st.sampled_from([NEW + "own", POOL]), st.sampled_from(["owner", "group"]), suffix)


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_pool", _pool, st.sampled_from([NEW + "b", POOL]), dict(path=WORK + "/new-b"))
