# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print, as JSON, what setup_libvirt must act on, in one process:
{"imports": error importing libvirt/lxml or "", "libvirtd": error connecting to
the URI (argv[1]) or "", "kvm_mode": whether /dev/kvm lacks the 0660 root:kvm udev gives it}."""

from __future__ import annotations

import grp
import json
import os
import stat
import sys

result = {"imports": "", "libvirtd": "", "kvm_mode": False}
try:
    import libvirt  # pylint: disable=import-error
    import lxml.etree  # noqa: F401  pylint: disable=unused-import
except ImportError as exc:
    result["imports"] = str(exc)
else:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # no libvirt errors on stderr
    try:
        libvirt.open(sys.argv[1]).close()
    except libvirt.libvirtError as exc:
        result["libvirtd"] = " ".join(str(exc).split())
try:
    kvm = os.stat("/dev/kvm")
    kvm_gid = grp.getgrnam("kvm").gr_gid
except (OSError, KeyError):
    pass  # no /dev/kvm (TCG only) or no group kvm: nothing to fix
else:
    result["kvm_mode"] = stat.S_ISCHR(kvm.st_mode) and (kvm.st_gid != kvm_gid or stat.S_IMODE(kvm.st_mode) & 0o060 != 0o060)
print(json.dumps(result))
