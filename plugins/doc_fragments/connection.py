# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Mirrors CONNECTION_ARGS in plugins/module_utils/_module.py.
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - libvirt connection URI on the managed host.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python (on the managed host)
  - lxml (on the managed host)
"""
