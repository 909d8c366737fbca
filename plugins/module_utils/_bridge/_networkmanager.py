# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkManager: not supported in this version.  Selecting it (or auto
detection finding NetworkManager in charge) fails before anything is
touched, with a message saying so; writing files behind NetworkManager's
back, or changing addresses it would put back, is worse than doing nothing."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError

MESSAGE = ("backend: networkmanager is not supported by this version of kvm_bridge; nothing was changed. "
           "Create the bridge with community.general.nmcli, or let systemd-networkd or ifupdown manage the host's network")


class NetworkManagerBackend:
    name = "networkmanager"
    service = "NetworkManager"

    def __init__(self, files):
        self.files = files

    def check(self, which):
        raise KvmError(MESSAGE)
