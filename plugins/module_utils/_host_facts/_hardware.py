# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardware facts: whether KVM is usable (and why not, in words), the CPU
topology, memory, huge pages and the IOMMU; from /proc, /sys and /dev/kvm."""

from __future__ import annotations

import os
import re

NESTED_MODULES = ("kvm_intel", "kvm_amd")


def memory(host):
    """(memory_mib, hugepages) from /proc/meminfo."""
    meminfo = _meminfo(host.read("/proc/meminfo") or "")
    return (meminfo["MemTotal"] // 1024 if "MemTotal" in meminfo else None), hugepages(host, meminfo)


def virtualization(host, cpuinfo):
    flags = _cpu_flags(cpuinfo)
    cpu_flag = "vmx" if "vmx" in flags else ("svm" if "svm" in flags else None)
    modules = kvm_modules(host)
    loaded = "kvm" in modules
    present = os.path.exists(host.path("/dev/kvm"))
    open_error = _open_error(host, "/dev/kvm") if present else None
    device = present and open_error is None
    reason = None if device else _reason(cpu_flag, loaded, present, open_error)
    return dict(
        cpu_flag=cpu_flag,
        kvm_module_loaded=loaded,
        kvm_modules=modules,
        kvm_device=device,
        nested=nested(host),
        usable=device,
        reason=reason,
    )


def kvm_modules(host):
    """kvm and its vendor modules: loaded ones (/proc/modules) and built-in ones (/sys/module)."""
    names = set(n for n in host.listdir("/sys/module") if n == "kvm" or n.startswith("kvm_"))
    for line in (host.read("/proc/modules") or "").splitlines():
        name = line.split(" ", 1)[0]
        if name == "kvm" or name.startswith("kvm_"):
            names.add(name)
    return sorted(names)


def _open_error(host, device):
    try:
        fd = os.open(host.path(device), os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except (IOError, OSError) as e:
        return os.strerror(e.errno) if e.errno else str(e)
    os.close(fd)
    return None


def nested(host):
    for module in NESTED_MODULES:
        value = host.read("/sys/module", module, "parameters/nested")
        if value is not None:
            return value.strip().upper() in ("Y", "1")
    return None


def cpu(host, cpuinfo):
    blocks = [b for b in re.split(r"\n\s*\n", cpuinfo) if b.strip()]
    processors = [_fields(b) for b in blocks if "processor" in _fields(b)]
    model = None
    for entry in processors or [_fields(b) for b in blocks]:
        model = entry.get("model name") or entry.get("cpu model") or entry.get("Processor")
        if model:
            break
    topology = _sysfs_topology(host) or _cpuinfo_topology(processors)
    count = len(topology) if topology else len(processors)
    if topology:
        sockets = len(set(pkg for pkg, _core in topology))
        cores = len(set(topology))
        cores_per_socket = max(1, cores // sockets)
        threads = max(1, len(topology) // cores)
    else:
        sockets, cores_per_socket, threads = (1, count, 1) if count else (None, None, None)
    return dict(model=model, count=count or None, sockets=sockets, cores=cores_per_socket, threads=threads)


def _sysfs_topology(host):
    """[(package, core)] per online logical CPU, from /sys/devices/system/cpu."""
    found = []
    for name in host.listdir("/sys/devices/system/cpu"):
        if not re.match(r"^cpu\d+$", name):
            continue
        pkg = host.read("/sys/devices/system/cpu", name, "topology/physical_package_id")
        core = host.read("/sys/devices/system/cpu", name, "topology/core_id")
        if pkg is None or core is None:
            continue  # offline CPUs have no topology
        found.append((pkg.strip(), core.strip()))
    return found


def iommu_enabled(host):
    """True when the kernel has an active IOMMU: /sys/kernel/iommu_groups is not empty.

    A command line that asks for it (intel_iommu=on) without working
    hardware creates no group, so it does not count.
    """
    return bool(host.listdir("/sys/kernel/iommu_groups"))


def hugepages(host, meminfo):
    return dict(
        total=meminfo.get("HugePages_Total"),
        free=meminfo.get("HugePages_Free"),
        size_kib=meminfo.get("Hugepagesize"),
    )


# -- parsers (pure) -------------------------------------------------------------


def _reason(cpu_flag, loaded, present, open_error):
    """Why KVM cannot be used, in words a person can act on."""
    if present:
        return "/dev/kvm exists but cannot be opened ({0}): run as root or add the user to the kvm group".format(open_error)
    if loaded:
        return ("the kvm module is loaded but /dev/kvm does not exist: check udev, or pass the device "
                "into the container (--device /dev/kvm)")
    if cpu_flag is None:
        return ("the CPU has no vmx or svm flag: enable VT-x/AMD-V in the firmware (or nested virtualization "
                "when this host is itself a VM), or run guests with emulation (virt_type qemu)")
    module = {"vmx": "kvm_intel", "svm": "kvm_amd"}[cpu_flag]
    return ("the CPU has the {0} flag but the kvm module is not loaded: run 'modprobe {1}' (if that fails, "
            "VT-x/AMD-V is probably disabled in the firmware; see dmesg)".format(cpu_flag, module))


def _fields(block):
    fields = {}
    for line in block.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), value.strip())
    return fields


def _cpu_flags(cpuinfo):
    for line in cpuinfo.splitlines():
        if ":" in line and line.split(":", 1)[0].strip() in ("flags", "Features"):
            return set(line.split(":", 1)[1].split())
    return set()


def _cpuinfo_topology(processors):
    found = []
    for entry in processors:
        if "physical id" not in entry or "core id" not in entry:
            return []
        found.append((entry["physical id"], entry["core id"]))
    return found


def _meminfo(text):
    """{key: int} from /proc/meminfo; values in kB stay in KiB, counts stay counts."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([\w()]+):\s+(\d+)", line)
        if match:
            values[match.group(1)] = int(match.group(2))
    return values
