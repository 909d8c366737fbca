# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print, as JSON, what virsh says about each network named on the command
line: {name: {exists, active, autostart, live, inactive}}.  One process for
what would otherwise be several command tasks per read."""

from __future__ import annotations

import json
import re
import subprocess
import sys

VIRSH = ["virsh", "-c", "qemu:///system"]


def virsh(*args):
    proc = subprocess.run(VIRSH + list(args), capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def state(name):
    rc, info, err = virsh("net-info", name)
    if rc != 0:
        if "not found" not in err:
            raise SystemExit("virsh net-info {0}: {1}".format(name, err))
        return dict(exists=False, active=False, autostart=False, live="", inactive="")
    return dict(
        exists=True,
        active=re.search(r"^Active:\s+yes", info, re.M) is not None,
        autostart=re.search(r"^Autostart:\s+yes", info, re.M) is not None,
        live=virsh("net-dumpxml", name)[1],
        inactive=virsh("net-dumpxml", "--inactive", name)[1],
    )


print(json.dumps(dict((name, state(name)) for name in sys.argv[1:])))
