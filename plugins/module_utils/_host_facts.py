# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what a host offers for KVM from /proc, /sys, a few binaries and,
when libvirt-python is importable, the libvirt daemon.

Nothing here writes anything.  HostFactsReader takes a filesystem root so
unit tests read fixture /proc and /sys trees, and a small runner callable so
binaries are only ever run through the module (run_command/get_bin_path).
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError

LIBVIRT_DAEMONS = ("libvirtd", "virtqemud")
QEMU_BINARIES = ("qemu-system-x86_64", "qemu-kvm", "/usr/libexec/qemu-kvm")
# Where get_bin_path does not look by default but these daemons live.
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/libexec")
NESTED_MODULES = ("kvm_intel", "kvm_amd")

_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?)\b")
_QEMU_VERSION = re.compile(r"QEMU emulator version (\d+\.\d+(?:\.\d+)?)")


def _no_runner(argv):
    return 127, "", "no runner: {0} not run".format(argv[0])


class HostFactsReader:
    """Collect the `kvm_host` facts.

    root:        filesystem root to read /proc, /sys, /dev from ("/" on a host).
    run_command: callable(argv list) -> (rc, stdout, stderr); None runs nothing.
    which:       callable(name) -> absolute path or None; the default looks for
                 the name under `root` in PATH and SBIN_DIRS.
    uri:         libvirt URI to count pools, networks and domains on.
    libvirt:     the libvirt-python module, or None when it is not importable
                 (default: whatever _libvirt imported).
    """

    def __init__(self, root="/", run_command=None, which=None, uri="qemu:///system", libvirt="auto"):
        self.root = root
        self.run_command = run_command or _no_runner
        self.which = which or self._which
        self.uri = uri
        self.libvirt = _libvirt.libvirt if libvirt == "auto" else libvirt

    # -- small file helpers -------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.root, *[p.lstrip("/") for p in parts])

    def read(self, *parts):
        """File contents as text, or None when it cannot be read."""
        try:
            with open(self.path(*parts), "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except (IOError, OSError):
            return None

    def listdir(self, *parts):
        try:
            return sorted(os.listdir(self.path(*parts)))
        except (IOError, OSError):
            return []

    def isdir(self, *parts):
        return os.path.isdir(self.path(*parts))

    def _which(self, name):
        if name.startswith("/"):
            return name if os.access(self.path(name), os.X_OK) else None
        dirs = os.environ.get("PATH", "").split(os.pathsep) + list(SBIN_DIRS)
        for directory in dirs:
            if directory and os.access(self.path(directory, name), os.X_OK):
                return os.path.join(directory, name)
        return None

    def _output(self, argv):
        """stdout+stderr of a command, or None when it did not run or failed."""
        try:
            rc, out, err = self.run_command(argv)
        except (IOError, OSError):
            return None
        if rc != 0:
            return None
        return "{0}\n{1}".format(out or "", err or "")

    # -- the facts ----------------------------------------------------------

    def facts(self):
        cpuinfo = self.read("/proc/cpuinfo") or ""
        meminfo = _meminfo(self.read("/proc/meminfo") or "")
        return dict(
            virtualization=self.virtualization(cpuinfo),
            cpu=self.cpu(cpuinfo),
            memory_mib=meminfo["MemTotal"] // 1024 if "MemTotal" in meminfo else None,
            iommu_enabled=self.iommu_enabled(),
            hugepages=self.hugepages(meminfo),
            libvirt=self.libvirt_facts(),
            qemu=self.qemu(),
            bridges=self.bridges(),
        )

    def virtualization(self, cpuinfo):
        flags = _cpu_flags(cpuinfo)
        cpu_flag = "vmx" if "vmx" in flags else ("svm" if "svm" in flags else None)
        modules = self.kvm_modules()
        loaded = "kvm" in modules
        present = os.path.exists(self.path("/dev/kvm"))
        open_error = self._open_error("/dev/kvm") if present else None
        device = present and open_error is None
        reason = None if device else _reason(cpu_flag, loaded, present, open_error)
        return dict(
            cpu_flag=cpu_flag,
            kvm_module_loaded=loaded,
            kvm_modules=modules,
            kvm_device=device,
            nested=self.nested(),
            usable=device,
            reason=reason,
        )

    def kvm_modules(self):
        """kvm and its vendor modules: loaded ones (/proc/modules) and built-in ones (/sys/module)."""
        names = set(n for n in self.listdir("/sys/module") if n == "kvm" or n.startswith("kvm_"))
        for line in (self.read("/proc/modules") or "").splitlines():
            name = line.split(" ", 1)[0]
            if name == "kvm" or name.startswith("kvm_"):
                names.add(name)
        return sorted(names)

    def _open_error(self, device):
        try:
            fd = os.open(self.path(device), os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except (IOError, OSError) as e:
            return os.strerror(e.errno) if e.errno else str(e)
        os.close(fd)
        return None

    def nested(self):
        for module in NESTED_MODULES:
            value = self.read("/sys/module", module, "parameters/nested")
            if value is not None:
                return value.strip().upper() in ("Y", "1")
        return None

    def cpu(self, cpuinfo):
        blocks = [b for b in re.split(r"\n\s*\n", cpuinfo) if b.strip()]
        processors = [_fields(b) for b in blocks if "processor" in _fields(b)]
        model = None
        for entry in processors or [_fields(b) for b in blocks]:
            model = entry.get("model name") or entry.get("cpu model") or entry.get("Processor")
            if model:
                break
        topology = self._sysfs_topology() or _cpuinfo_topology(processors)
        count = len(topology) if topology else len(processors)
        if topology:
            sockets = len(set(pkg for pkg, _core in topology))
            cores = len(set(topology))
            cores_per_socket = max(1, cores // sockets)
            threads = max(1, len(topology) // cores)
        else:
            sockets, cores_per_socket, threads = (1, count, 1) if count else (None, None, None)
        return dict(model=model, count=count or None, sockets=sockets, cores=cores_per_socket, threads=threads)

    def _sysfs_topology(self):
        """[(package, core)] per online logical CPU, from /sys/devices/system/cpu."""
        found = []
        for name in self.listdir("/sys/devices/system/cpu"):
            if not re.match(r"^cpu\d+$", name):
                continue
            pkg = self.read("/sys/devices/system/cpu", name, "topology/physical_package_id")
            core = self.read("/sys/devices/system/cpu", name, "topology/core_id")
            if pkg is None or core is None:
                continue  # offline CPUs have no topology
            found.append((pkg.strip(), core.strip()))
        return found

    def iommu_enabled(self):
        """True when the kernel has an active IOMMU: /sys/kernel/iommu_groups is not empty.

        A command line that asks for it (intel_iommu=on) without working
        hardware creates no group, so it does not count.
        """
        return bool(self.listdir("/sys/kernel/iommu_groups"))

    def hugepages(self, meminfo):
        return dict(
            total=meminfo.get("HugePages_Total"),
            free=meminfo.get("HugePages_Free"),
            size_kib=meminfo.get("Hugepagesize"),
        )

    # -- libvirt and qemu -----------------------------------------------------

    def libvirt_facts(self):
        daemon = None
        for name in LIBVIRT_DAEMONS:
            daemon = self.which(name)
            if daemon:
                break
        version = None
        if daemon:
            version = _match(_VERSION, self._output([daemon, "--version"]))
        facts = dict(
            installed=daemon is not None,
            daemon=daemon,
            version=version,
            daemon_running=bool(self.running(LIBVIRT_DAEMONS)),
            python_bindings=self.libvirt is not None,
            uri=self.uri,
            reachable=False,
            error=None,
            pools=None,
            networks=None,
            domains=None,
        )
        if self.libvirt is None:
            return facts
        try:
            facts.update(self._counts())
        except LibvirtError as e:
            facts["error"] = str(e)
        if facts["version"] is None:
            facts["version"] = _libvirt_version(self.libvirt.getVersion())
        return facts

    def _counts(self):
        with _libvirt.Connection(self.uri) as connection:
            conn = connection.conn
            call = connection.call
            return dict(
                reachable=True,
                pools=len(call("list storage pools", conn.listAllStoragePools)),
                networks=len(call("list networks", conn.listAllNetworks)),
                domains=len(call("list domains", conn.listAllDomains)),
            )

    def running(self, names):
        """Sorted names of the processes in `names` found in /proc."""
        found = set()
        for pid in self.listdir("/proc"):
            if pid.isdigit():
                comm = (self.read("/proc", pid, "comm") or "").strip()
                if comm in names:
                    found.add(comm)
        return sorted(found)

    def qemu(self):
        for name in QEMU_BINARIES:
            binary = self.which(name)
            if binary:
                return dict(binary=binary, version=_match(_QEMU_VERSION, self._output([binary, "--version"])))
        return dict(binary=None, version=None)

    # -- bridges --------------------------------------------------------------

    def bridges(self):
        names = [n for n in self.listdir("/sys/class/net") if self.isdir("/sys/class/net", n, "bridge")]
        if not names:
            return []
        addresses = self.addresses()
        return [
            dict(name=name, ports=self.listdir("/sys/class/net", name, "brif"), addresses=addresses.get(name, []))
            for name in names
        ]

    def addresses(self):
        """{interface: ["address/prefix", ...]}: from `ip -j addr` when `ip` is there,
        else IPv6 from /proc/net/if_inet6 and IPv4 from /proc/net/fib_trie + /proc/net/route."""
        ip = self.which("ip")
        if ip:
            parsed = _ip_json(self._output([ip, "-j", "addr", "show"]))
            if parsed is not None:
                return parsed
        found = {}
        for name, address in _proc_ipv4(self.read("/proc/net/fib_trie"), self.read("/proc/net/route")):
            found.setdefault(name, []).append(address)
        for name, address in _proc_ipv6(self.read("/proc/net/if_inet6")):
            found.setdefault(name, []).append(address)
        return found


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


def _match(pattern, text):
    match = pattern.search(text or "")
    return match.group(1) if match else None


def _libvirt_version(number):
    return "{0}.{1}.{2}".format(number // 1000000, (number // 1000) % 1000, number % 1000)


def _ip_json(text):
    try:
        links = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(links, list):
        return None
    found = {}
    for link in links:
        name = link.get("ifname")
        for info in link.get("addr_info", []):
            if name and "local" in info and "prefixlen" in info:
                found.setdefault(name, []).append("{0}/{1}".format(info["local"], info["prefixlen"]))
    return found


def _proc_ipv6(text):
    """(interface, "address/prefix") from /proc/net/if_inet6."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 6 or len(parts[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(parts[0])
            address = socket.inet_ntop(socket.AF_INET6, packed)
            prefix = int(parts[2], 16)
        except ValueError:
            continue
        yield parts[5], "{0}/{1}".format(address, prefix)


def _proc_ipv4(fib_trie, route):
    """(interface, "address/prefix") for the local IPv4 addresses.

    /proc/net/fib_trie lists local addresses ("/32 host LOCAL") but not their
    interface; the connected route in /proc/net/route that contains the
    address gives the interface and the prefix length.  Addresses without
    such a route (127.0.0.1) are left out.
    """
    locals_ = []
    last = None
    for line in (fib_trie or "").splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and last and last not in locals_:
            locals_.append(last)
    routes = []
    for line in (route or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            # the kernel prints the network-order words in host order
            dest, gateway, mask = (int(parts[i], 16) for i in (1, 2, 7))
        except ValueError:
            continue
        if gateway == 0 and mask:
            routes.append((parts[0], dest, mask))
    for address in locals_:
        try:
            value = struct.unpack("=I", socket.inet_aton(address))[0]
        except (OSError, socket.error):
            continue
        best = None
        for name, dest, mask in routes:
            if value & mask == dest and (best is None or bin(mask).count("1") > bin(best[1]).count("1")):
                best = (name, mask)
        if best:
            yield best[0], "{0}/{1}".format(address, bin(best[1]).count("1"))
