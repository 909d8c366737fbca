# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_volume: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    NEW,
    POOL,
    POOL_OFF,
    SRC,
    SRC_DIR,
    SRC_EMPTY,
    SRC_SHA256,
    VOLUME,
    VOLUME_CAPACITY,
    bad_size,
    blank,
    case,
    control_name,
    control_path,
    dot_name,
    generate_from_spec,
    hex64,
    new_name,
    new_path,
    not_one_of,
    slash_name,
    st,
    strategy,
    word,
)


def _vol(fields, **args):
    return case("kvm_volume", fields, **args)


@strategy("kvm_volume", "pool missing", 2)
def _volume_pool_missing():
    return new_name.map(lambda n: _vol("pool", name=n, capacity="1M"))


@strategy("kvm_volume", "pool does not exist", 3)
def _volume_pool_does_not_exist():
    return st.builds(lambda p, n, s: _vol("pool", pool=p, name=n, capacity="1M", state=s), new_name, new_name,
                     st.sampled_from(["present", "absent"]))


@strategy("kvm_volume", "pool not active", 2)
def _volume_pool_not_active():
    return st.builds(lambda n, s: _vol("pool", pool=POOL_OFF, name=n, capacity="1M", state=s), new_name, st.sampled_from(["present", "absent"]))


@strategy("kvm_volume", "bad name", 8)
def _volume_bad_name():
    return st.builds(lambda n: _vol("name", pool=POOL, name=n, capacity="1M"), st.one_of(slash_name, blank, dot_name, control_name))


@strategy("kvm_volume", "pool name with a control character", 2)
def _volume_pool_name_with_a_control_character():
    return control_name.map(lambda p: _vol("pool", pool=p, name=NEW + "v", capacity="1M"))


@strategy("kvm_volume", "bad capacity", 8)
def _volume_bad_capacity():
    return st.builds(lambda n, c: _vol("capacity", pool=POOL, name=n, capacity=c), st.sampled_from([NEW + "cap", VOLUME]), bad_size)


@strategy("kvm_volume", "unknown format", 2)
def _volume_unknown_format():
    return not_one_of(["qcow2", "raw", "iso"]).map(lambda f: _vol("format", pool=POOL, name=NEW + "f", capacity="1M", format=f))


# Issue 12: capacity with src is the new volume's size, never smaller than the image (SRC is 16 KiB).
@strategy("kvm_volume", "src and capacity smaller than the image", 2)
def _volume_src_and_capacity():
    return st.builds(lambda c: _vol("capacity", pool=POOL, name=NEW + "sc", src=SRC, capacity=c), st.sampled_from([1, 4096, "8K", 16383]))


@strategy("kvm_volume", "malformed checksum", 3)
def _volume_malformed_checksum():
    return st.builds(lambda n, c: _vol("checksum", pool=POOL, name=n, src=SRC, checksum=c), st.sampled_from([NEW + "ck", VOLUME]),
                     st.one_of(hex64, hex64.map(lambda h: "md5:" + h), hex64.map(lambda h: "sha256:" + h[:-1]),
                               hex64.map(lambda h: "sha256:" + h[:-1] + "g"), word))


@strategy("kvm_volume", "src not a readable file", 6)
def _volume_src_not_a_readable_file():
    return st.builds(lambda n, s: _vol("src", pool=POOL, name=n, src=s), st.sampled_from([NEW + "src", VOLUME]),
                     st.one_of(new_path, control_path, st.sampled_from([SRC_DIR, SRC_EMPTY, "/dev/null"])))


@strategy("kvm_volume", "new volume without capacity", 2)
def _volume_new_volume_without_capacity():
    return st.builds(lambda n, f: _vol("capacity", pool=POOL, name=n, **f), new_name, st.sampled_from([{}, dict(format="qcow2"), dict(format="raw")]))


@strategy("kvm_volume", "new volume with checksum but no src", 2)
def _volume_new_volume_with_checksum_but_no_src():
    return st.builds(lambda n, h: _vol("src", pool=POOL, name=n, checksum="sha256:" + h), new_name, hex64)


@strategy("kvm_volume", "src does not match checksum", 3)
def _volume_src_does_not_match_checksum():
    return st.builds(lambda n, h: _vol("checksum", pool=POOL, name=n, src=SRC, checksum="sha256:" + h), st.sampled_from([NEW + "m", VOLUME]),
                     hex64.filter(lambda h: h != SRC_SHA256))


@strategy("kvm_volume", "shrink an existing volume", 3)
def _volume_shrink_an_existing_volume():
    return st.integers(1, VOLUME_CAPACITY - 512).map(lambda c: _vol("capacity", pool=POOL, name=VOLUME, capacity=c))


@strategy("kvm_volume", "change the format of an existing volume", 2)
def _volume_change_the_format_of_an_existing_volume():
    return st.sampled_from(["raw", "iso"]).map(lambda f: _vol("format", pool=POOL, name=VOLUME, format=f))


@strategy("kvm_volume", "existing volume does not match checksum", 2)
def _volume_existing_volume_does_not_match_checksum():
    return hex64.map(lambda h: _vol("checksum", pool=POOL, name=VOLUME, checksum="sha256:" + h))


# An item of `volumes` that is invalid, and the field (after "volumes[i].") its message names.
bad_item = st.one_of(
    bad_size.map(lambda c: (dict(name=NEW + "i", capacity=c), "capacity")),
    slash_name.map(lambda n: (dict(name=n, capacity="1M"), "name")),
    new_name.map(lambda p: (dict(pool=p, name=NEW + "i", capacity="1M"), "pool")),
    st.just((dict(name=VOLUME, capacity=1024), "capacity")),
    st.just((dict(name=NEW + "i"), "capacity")),
    st.just((dict(name=NEW + "i", src=SRC, checksum="sha256:" + "0" * 64), "checksum")),
)


@strategy("kvm_volume", "valid items, then an invalid one", 6)
def _volume_valid_items_then_an_invalid_one():
    def build(valid, bad, position):
        item, field = bad
        items = [dict(name=NEW + "ok{0}".format(i), capacity="1M") for i in range(valid)]
        items.insert(position % (valid + 1), item)
        index = position % (valid + 1)
        return _vol("volumes[{0}].{1}".format(index, field), pool=POOL, volumes=items)
    return st.builds(build, st.integers(1, 3), bad_item, st.integers(0, 3))


@strategy("kvm_volume", "volumes lists one twice", 2)
def _volume_volumes_lists_one_twice():
    return new_name.map(lambda n: _vol("volumes[1].name", pool=POOL, volumes=[dict(name=n, capacity="1M"), dict(name=n, capacity="2M")]))


@strategy("kvm_volume", "name and volumes, or neither", 2)
def _volume_name_and_volumes_or_neither():
    return st.sampled_from([
        _vol(("name", "volumes"), pool=POOL, name=NEW + "a", capacity="1M", volumes=[dict(name=NEW + "b", capacity="1M")]),
        _vol(("name", "volumes"), pool=POOL, capacity="1M"),
    ])


@strategy("kvm_volume", "item without name", 1)
def _volume_item_without_name():
    return st.just(_vol(("name", "volumes"), pool=POOL, volumes=[dict(capacity="1M")]))


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_volume", _vol, st.sampled_from([NEW + "b", VOLUME]), dict(pool=POOL, capacity="1M"))
