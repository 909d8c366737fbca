# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_validate: the one verdict every module gives a name, an interface name,
a MAC, a path or XML text."""

from __future__ import annotations

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate as v
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

BAD_NAMES = ["", " ", ".", "..", "a/b", " a", "a ", "a\tb", "a\nb", "a\x00b", "a\x7fb", "a\x85b", "a\u200bb",
             "a\u202eb", "a\u2028b", "a\u2029b", "a\ud800b", "a\ufffeb"]
GOOD_NAMES = ["vm1", "web server", "ü-東京", "a.b", "a:b", "$(x)", "'q'"]


@pytest.mark.parametrize("value", BAD_NAMES)
def test_bad_names_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as error:
        v.name("domains[3].name", value)
    assert str(error.value).startswith("domains[3].name: ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("value", GOOD_NAMES)
def test_good_names_pass(value):
    assert v.name("name", value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "br:0", "br 0", "a/b", "x" * 16, "é" * 8, "a\x00", "a\u200b"])
def test_bad_ifnames(value):
    with pytest.raises(ValidationError):
        v.ifname("bridge", value)


@pytest.mark.parametrize("value", ["br0", "x" * 15, "eth0.100", "v'$(id)", "a-b_c", "é" * 7])
def test_good_ifnames(value):
    assert v.ifname("bridge", value) == value


def test_mac():
    assert v.mac("mac", "52:54:00:AA:bb:01") == "52:54:00:aa:bb:01"
    for bad in ["52:54:00:aa:bb", "01:00:5e:00:00:01", "52-54-00-aa-bb-01", "52:54:00:aa:bb:01\n", 5]:
        with pytest.raises(ValidationError):
            v.mac("mac", bad)


def test_path_and_text():
    assert v.path("path", "/data_kvm/iso") == "/data_kvm/iso"
    for bad in ["", "relative", "/a\x00b"]:
        with pytest.raises(ValidationError):
            v.path("path", bad)
    with pytest.raises(ValidationError) as error:
        v.text("graphics_password", "se\x01cret", secret=True)
    assert "se" not in str(error.value).split(":", 1)[1]


def test_messages_stay_on_one_line():
    assert v.one_line("a\n  b\tc ") == "a b c"
    assert v.shown("a\nb") == "'a\\nb'"
    assert v.shown("plain") == "plain"
