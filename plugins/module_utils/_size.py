# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes as users write them: 20G, 512M, 1T, 1.5G, or a plain integer."""

from __future__ import annotations

import re
from decimal import Decimal

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4, "P": 1024 ** 5}
# A unit letter with optional "B"/"iB", or a bare "B"; ASCII digits only.
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTP])(?:I?B)?|(B))?\s*$", re.IGNORECASE | re.ASCII)
_ACCEPTED = "an integer or a number with a unit K, M, G, T or P (e.g. 20G, 512M)"
# Far beyond any real disk or memory (1 YiB); bounds hostile input.
_MAX_BYTES = 1024 ** 8


def parse_size(field, value, default_unit=""):
    """Return bytes.  A bare number is in `default_unit` ('' = bytes, 'M' = MiB)."""
    if isinstance(value, bool):
        raise ValidationError(field, "{0!r} is not a size; expected {1}".format(value, _ACCEPTED))
    if isinstance(value, int):
        number, unit = Decimal(value), default_unit
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValidationError(field, "{0!r} is not a size; expected {1}".format(value, _ACCEPTED))
        number = Decimal(match.group(1))
        unit = match.group(2) or ("" if match.group(3) else default_unit)
    size = number * _UNITS[unit.upper()]
    if size > _MAX_BYTES:
        raise ValidationError(field, "{0!r} is larger than 1 YiB".format(value))
    if int(size) <= 0:  # a fraction of a byte rounds down to nothing
        raise ValidationError(field, "must be greater than 0, got {0!r}".format(value))
    return int(size)


def parse_mib(field, value):
    """Memory: a bare number is MiB; the result is MiB (rounded down)."""
    return parse_size(field, value, default_unit="M") // (1024 ** 2) or _too_small(field, value)


def _too_small(field, value):
    raise ValidationError(field, "{0!r} is less than 1 MiB".format(value))
