# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes as users write them (the shared _size.py)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._size import parse_mib, parse_size

KIB, MIB, GIB, TIB, PIB = (1024 ** n for n in range(1, 6))


@pytest.mark.parametrize("value, expected", [
    (1, 1),
    (1073741824, GIB),
    ("1", 1),
    ("512K", 512 * KIB),
    ("512M", 512 * MIB),
    ("20G", 20 * GIB),
    ("1T", TIB),
    ("1P", PIB),
    ("20g", 20 * GIB),
    ("20GB", 20 * GIB),
    ("20GiB", 20 * GIB),
    ("20gib", 20 * GIB),
    (" 20 G ", 20 * GIB),
    ("1.5G", 3 * 512 * MIB),
    ("0.5K", 512),
    ("100B", 100),
])
def test_sizes_in_bytes(value, expected):
    assert parse_size("capacity", value) == expected


@pytest.mark.parametrize("value, expected", [
    (512, 512 * MIB),
    ("512", 512 * MIB),
    ("2G", 2 * GIB),
    ("512B", 512),
])
def test_bare_numbers_take_the_default_unit(value, expected):
    assert parse_size("memory", value, default_unit="M") == expected


@pytest.mark.parametrize("value", ["12X", "", "G", "-1", "+5", "1e3", "0x10", "1_000", ".5G", "5.", "20BB", "1 2G", None, [1], True, False])
def test_bad_sizes_name_the_field(value):
    with pytest.raises(ValidationError) as info:
        parse_size("capacity", value)
    assert info.value.field == "capacity"
    assert str(info.value).startswith("capacity: ")
    assert "expected an integer or a number with a unit" in str(info.value)


@pytest.mark.parametrize("value", [0, "0", "0G", -5, "0.0001K"])
def test_zero_and_negative_sizes_fail(value):
    with pytest.raises(ValidationError, match=r"^capacity: must be greater than 0"):
        parse_size("capacity", value)


@given(number=st.integers(min_value=1, max_value=10 ** 6), unit=st.sampled_from(["", "K", "M", "G", "T", "P"]),
       suffix=st.sampled_from(["", "B", "iB"]))
def test_integer_with_unit_is_exact(number, unit, suffix):
    assume(unit or suffix != "iB")  # "5iB" is not a size (see test_bare_ib_suffix_is_not_a_size)
    factor = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": TIB, "P": PIB}[unit]
    assert parse_size("capacity", "{0}{1}{2}".format(number, unit, suffix)) == number * factor


@given(number=st.integers(min_value=1, max_value=2 ** 62))
def test_integers_round_trip(number):
    assert parse_size("capacity", number) == number
    assert parse_size("capacity", str(number)) == number


def test_memory_in_mib():
    assert parse_mib("memory", 2048) == 2048
    assert parse_mib("memory", "2048") == 2048
    assert parse_mib("memory", "2G") == 2048
    assert parse_mib("memory", "1536M") == 1536
    assert parse_mib("memory", "2047K") == 1  # rounded down


@pytest.mark.parametrize("value", ["1K", "512B", "0.5"])
def test_memory_below_one_mib_fails(value):
    with pytest.raises(ValidationError, match=r"^memory: .*less than 1 MiB"):
        parse_mib("memory", value)


def test_memory_bad_unit_names_the_field():
    with pytest.raises(ValidationError, match=r"^memory: '12X' is not a size"):
        parse_mib("memory", "12X")


# Bugs once found in _size.py.

@pytest.mark.parametrize("value", ["20iB", "20 ib"])
def test_bare_ib_suffix_is_not_a_size(value):
    with pytest.raises(ValidationError):
        parse_size("capacity", value)


def test_huge_decimal_fails_naming_the_field():
    with pytest.raises(ValidationError):
        parse_size("capacity", "1" + "0" * 400 + ".5")
