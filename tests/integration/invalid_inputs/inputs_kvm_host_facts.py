# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_host_facts: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    case,
    generate_from_spec,
    st,
    strategy,
    word,
)


def _facts(fields, **args):
    return case("kvm_host_facts", fields, **args)


@strategy("kvm_host_facts", "packages not a list", 2)
def _host_facts_packages_not_a_list():
    return st.dictionaries(word, st.integers(), min_size=1, max_size=2).map(lambda d: _facts("packages", packages=d))


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_host_facts", _facts, uri=False)
