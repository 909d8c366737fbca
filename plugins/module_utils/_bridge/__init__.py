# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_bridge: a bridge takes over a NIC's address, with an armed rollback.

_takeover.py  the desired bridge (validated), the live state, the plan and the manager
_rollback.py  backup, restore script, the transient systemd timer, confirm
_networkd.py _ifupdown.py _ifcfg.py _networkmanager.py  one file per backend (persistent configuration)
"""

from __future__ import annotations
