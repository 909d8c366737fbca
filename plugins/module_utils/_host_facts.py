# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what a host offers for KVM from /proc, /sys, /etc, a few binaries
and, when libvirt-python is importable, the libvirt daemon.

Nothing here writes anything.  HostFactsReader takes a filesystem root so
unit tests read fixture /proc, /sys and /etc trees, and a small runner
callable so binaries are only ever run through the module
(run_command/get_bin_path).  Cheap reads come first: the OS, the hostname and
the default systemd target are files and symlinks, not subprocesses; the
packages take one dpkg-query or rpm call.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
from xml.etree import ElementTree

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError

LIBVIRT_DAEMONS = ("libvirtd", "virtqemud")
QEMU_BINARIES = ("qemu-system-x86_64", "qemu-kvm", "/usr/libexec/qemu-kvm")
# Where get_bin_path does not look by default but these daemons live.
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/libexec")
NESTED_MODULES = ("kvm_intel", "kvm_amd")
OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
# systemd's unit search path, highest priority first (systemd.unit(5)).
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")
# os-release ID -> the name Ansible's setup module gives as `distribution`.
DISTRIBUTIONS = {
    "debian": "Debian", "ubuntu": "Ubuntu", "linuxmint": "Linux Mint", "raspbian": "Debian", "pop": "Pop!_OS",
    "kali": "Kali", "devuan": "Devuan",
    "rhel": "RedHat", "centos": "CentOS", "fedora": "Fedora", "rocky": "Rocky", "almalinux": "AlmaLinux",
    "ol": "OracleLinux", "amzn": "Amazon", "scientific": "Scientific", "cloudlinux": "CloudLinux",
    "virtuozzo": "Virtuozzo", "eurolinux": "EuroLinux",
    "sles": "SLES", "sles_sap": "SLES_SAP", "opensuse-leap": "openSUSE Leap", "opensuse-tumbleweed": "openSUSE Tumbleweed",
    "arch": "Archlinux", "manjaro": "Manjaro", "alpine": "Alpine", "gentoo": "Gentoo",
}
# distribution -> `os_family`, as setup maps them.
FAMILIES = {
    "Debian": "Debian", "Ubuntu": "Debian", "Linux Mint": "Debian", "Pop!_OS": "Debian", "Kali": "Debian",
    "Devuan": "Debian",
    "RedHat": "RedHat", "CentOS": "RedHat", "Fedora": "RedHat", "Rocky": "RedHat", "AlmaLinux": "RedHat",
    "OracleLinux": "RedHat", "Amazon": "RedHat", "Scientific": "RedHat", "CloudLinux": "RedHat",
    "Virtuozzo": "RedHat", "EuroLinux": "RedHat",
    "SLES": "Suse", "SLES_SAP": "Suse", "openSUSE Leap": "Suse", "openSUSE Tumbleweed": "Suse",
    "Archlinux": "Archlinux", "Manjaro": "Archlinux", "Alpine": "Alpine", "Gentoo": "Gentoo",
}
# ID_LIKE word -> os_family, for distributions the tables above do not know.
FAMILY_LIKE = (("debian", "Debian"), ("ubuntu", "Debian"), ("rhel", "RedHat"), ("fedora", "RedHat"),
               ("centos", "RedHat"), ("suse", "Suse"), ("arch", "Archlinux"))
SSHD_CONNECTION = "user=root,host=localhost,addr=127.0.0.1"
DOMAIN_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
                 6: "crashed", 7: "pmsuspended"}

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
    packages:    package names to look up (one dpkg-query or rpm -q call).
    objects:     also list the pools (with volumes), networks and domains.
    sshd:        also read sshd's effective settings (sshd -T).
    """

    def __init__(self, root="/", run_command=None, which=None, uri="qemu:///system", libvirt="auto",
                 packages=(), objects=False, sshd=False):
        self.root = root
        self.run_command = run_command or _no_runner
        self.which = which or self._which
        self.uri = uri
        self.libvirt = _libvirt.libvirt if libvirt == "auto" else libvirt
        self.packages = list(packages or [])
        self.objects = objects
        self.want_sshd = sshd

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
        manager, packages = self.package_facts()
        return dict(
            virtualization=self.virtualization(cpuinfo),
            cpu=self.cpu(cpuinfo),
            memory_mib=meminfo["MemTotal"] // 1024 if "MemTotal" in meminfo else None,
            iommu_enabled=self.iommu_enabled(),
            hugepages=self.hugepages(meminfo),
            # the libvirt connection first: it may socket-activate libvirtd,
            # which the service state below then sees as it is
            libvirt=self.libvirt_facts(),
            qemu=self.qemu(),
            bridges=self.bridges(),
            os=self.os(),
            hostname=_first_line(self.read("/proc/sys/kernel/hostname")),
            hostname_static=_first_line(self.read("/etc/hostname")),
            systemd=self.systemd(),
            package_manager=manager,
            packages=packages,
            sshd=self.sshd() if self.want_sshd else None,
        )

    def sshd(self):
        """sshd's effective settings for a root login from localhost (`sshd -T -C ...`):
        what sshd_config, its includes and Match blocks amount to."""
        binary = self.which("sshd")
        if not binary:
            return dict(binary=None, effective=None, error="sshd is not installed")
        argv = [binary, "-T", "-C", SSHD_CONNECTION]
        try:
            rc, out, err = self.run_command(argv)
        except (IOError, OSError) as e:
            return dict(binary=binary, effective=None, error=str(e))
        if rc != 0:
            return dict(binary=binary, effective=None,
                        error="{0} exited with {1}: {2}".format(" ".join(argv), rc, (err or out or "").strip()))
        return dict(binary=binary, effective=_sshd_settings(out), error=None)

    # -- os, systemd, packages ------------------------------------------------

    def os(self):
        """family/distribution/version from os-release, named as setup names them."""
        release = {}
        for name in OS_RELEASE_FILES:
            text = self.read(name)
            if text is not None:
                release = _os_release(text)
                break
        ident = release.get("ID", "").lower() or None
        like = release.get("ID_LIKE", "").lower().split()
        distribution = DISTRIBUTIONS.get(ident) if ident else None
        if distribution is None and ident:
            distribution = release.get("NAME") or ident
        family = FAMILIES.get(distribution)
        if family is None:
            family = next((fam for word, fam in FAMILY_LIKE if word in like), distribution)
        version = release.get("VERSION_ID") or None
        return dict(
            family=family,
            distribution=distribution,
            version=version,
            major_version=version.split(".")[0] if version else None,
            codename=release.get("VERSION_CODENAME") or None,
            id=ident,
            id_like=like,
        )

    def systemd(self):
        """running: PID 1 is systemd (/run/systemd/system exists); default_target as
        `systemctl get-default` gives it, read from the default.target symlink."""
        target = None
        for directory in UNIT_DIRS:
            if os.path.lexists(self.path(directory, "default.target")):
                target = self._unit_alias(directory, "default.target")
                break
        return dict(running=self.isdir("/run/systemd/system"), default_target=target)

    def _unit_alias(self, directory, name):
        """Follow a unit's alias symlinks (at most 10) to the unit name they end at."""
        for _hop in range(10):
            link = self.path(directory, name)
            if not os.path.islink(link):
                return name
            target = os.readlink(link)
            if target == "/dev/null":
                return None  # masked
            directory = os.path.dirname(target) if target.startswith("/") else os.path.normpath(
                os.path.join(directory, os.path.dirname(target)))
            name = os.path.basename(target)
        return name

    def unit_enabled(self, unit):
        """A unit is enabled when a .wants/ or .requires/ directory under /etc links to it
        (what `systemctl enable` makes) and it is not masked."""
        for directory in ("/etc/systemd/system", "/run/systemd/system"):
            link = self.path(directory, unit)
            if os.path.islink(link) and os.readlink(link) == "/dev/null":
                return False
        for directory in ("/etc/systemd/system",):
            for sub in self.listdir(directory):
                if sub.endswith((".wants", ".requires")) and os.path.lexists(self.path(directory, sub, unit)):
                    return True
        return False

    def unit_active(self, names, unit):
        """A process named in `names` runs in the cgroup of `unit` (/proc/PID/cgroup)."""
        for pid, _comm in self._processes(names):
            for line in (self.read("/proc", pid, "cgroup") or "").splitlines():
                if line.rsplit(":", 1)[-1].rstrip("/").endswith("/" + unit):
                    return True
        return False

    def package_facts(self):
        """(manager, {name: {installed, version}}) for the names asked for, from one
        dpkg-query or rpm -q run; names the manager does not know are not installed."""
        if not self.packages:
            return None, {}
        found = {}
        manager = None
        dpkg = self.which("dpkg-query")
        rpm = None if dpkg else self.which("rpm")
        if dpkg:
            manager = "dpkg"
            found = _dpkg_query(self._any_output([dpkg, "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n", "--"]
                                                 + self.packages))
        elif rpm:
            manager = "rpm"
            found = _rpm_query(self._any_output([rpm, "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"] + self.packages))
        return manager, dict(
            (name, dict(installed=name in found, version=found.get(name))) for name in self.packages
        )

    def _any_output(self, argv):
        """stdout of a command whatever its exit status (dpkg-query and rpm exit non-zero
        when a name is unknown but still print the others)."""
        try:
            _rc, out, _err = self.run_command(argv)
        except (IOError, OSError):
            return ""
        return out or ""

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
            daemon_running=False,
            service=None,
            python_bindings=self.libvirt is not None,
            uri=self.uri,
            reachable=False,
            error=None,
            pools=None,
            networks=None,
            domains=None,
            objects=None,
        )
        if self.libvirt is not None:
            try:
                facts.update(self._counts())
            except LibvirtError as e:
                facts["error"] = str(e)
            if facts["version"] is None:
                facts["version"] = _libvirt_version(self.libvirt.getVersion())
        # after the connection, which may have started a socket-activated daemon
        facts["daemon_running"] = bool(self.running(LIBVIRT_DAEMONS))
        if daemon:
            name = os.path.basename(daemon)
            unit = name + ".service"
            facts["service"] = dict(name=unit, enabled=self.unit_enabled(unit), active=self.unit_active((name,), unit))
        return facts

    def _counts(self):
        with _libvirt.Connection(self.uri) as connection:
            conn = connection.conn
            call = connection.call
            pools = call("list storage pools", conn.listAllStoragePools)
            networks = call("list networks", conn.listAllNetworks)
            domains = call("list domains", conn.listAllDomains)
            found = dict(reachable=True, pools=len(pools), networks=len(networks), domains=len(domains))
            if self.objects:
                found["objects"] = dict(
                    pools=[self._pool(call, p) for p in sorted(pools, key=lambda p: p.name())],
                    networks=[self._network(call, n) for n in sorted(networks, key=lambda n: n.name())],
                    domains=[self._domain(call, d) for d in sorted(domains, key=lambda d: d.name())],
                )
            return found

    @staticmethod
    def _pool(call, pool):
        name = pool.name()
        active = bool(call("pool {0}: is it active".format(name), pool.isActive))
        volumes = []
        if active:  # libvirt's own list: no refresh, which would rescan the directory
            for vol in call("pool {0}: list volumes".format(name), pool.listAllVolumes):
                info = call("volume {0}: info".format(vol.name()), vol.info)
                volumes.append(dict(name=vol.name(), capacity=info[1], allocation=info[2]))
        xml = ElementTree.fromstring(call("pool {0}: XML".format(name), pool.XMLDesc, 0))
        return dict(
            name=name,
            type=xml.get("type"),
            path=xml.findtext("target/path"),
            active=active,
            autostart=bool(call("pool {0}: autostart".format(name), pool.autostart)),
            volumes=sorted(volumes, key=lambda v: v["name"]),
        )

    @staticmethod
    def _network(call, network):
        name = network.name()
        xml = ElementTree.fromstring(call("network {0}: XML".format(name), network.XMLDesc, 0))
        bridge = xml.find("bridge")
        return dict(
            name=name,
            active=bool(call("network {0}: is it active".format(name), network.isActive)),
            autostart=bool(call("network {0}: autostart".format(name), network.autostart)),
            bridge=bridge.get("name") if bridge is not None else None,
        )

    @staticmethod
    def _domain(call, domain):
        name = domain.name()
        info = call("domain {0}: info".format(name), domain.info)
        xml = ElementTree.fromstring(call("domain {0}: XML".format(name), domain.XMLDesc, 0))
        return dict(
            name=name,
            state=DOMAIN_STATES.get(info[0], str(info[0])),
            autostart=bool(call("domain {0}: autostart".format(name), domain.autostart)),
            vcpus=info[3],
            memory_mib=info[1] // 1024,
            virt_type=xml.get("type"),
        )

    def running(self, names):
        """Sorted names of the processes in `names` found in /proc."""
        return sorted(set(comm for _pid, comm in self._processes(names)))

    def _processes(self, names):
        """(pid, comm) of the processes named in `names` in this PID namespace: a
        container's daemons are visible in the host's /proc but are not the host's."""
        own = self._readlink("/proc/self/ns/pid")
        for pid in self.listdir("/proc"):
            if not pid.isdigit():
                continue
            comm = (self.read("/proc", pid, "comm") or "").strip()
            if comm not in names:
                continue
            namespace = self._readlink("/proc/{0}/ns/pid".format(pid))
            if own and namespace and namespace != own:
                continue
            yield pid, comm

    def _readlink(self, path):
        try:
            return os.readlink(self.path(path))
        except (IOError, OSError):
            return None

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


def _first_line(text):
    """The first line of a file, stripped; None when the file is missing or empty."""
    lines = (text or "").strip().splitlines()
    return lines[0].strip() or None if lines else None


def _os_release(text):
    """KEY=value pairs of os-release(5), quotes removed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _sshd_settings(text):
    """{keyword: value} from `sshd -T` (keywords lowercased as sshd prints them); a keyword
    printed more than once (hostkey, listenaddress, subsystem ...) gets the list of its values."""
    found = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        key, value = parts[0].lower(), parts[1] if len(parts) > 1 else ""
        if key in found:
            if not isinstance(found[key], list):
                found[key] = [found[key]]
            found[key].append(value)
        else:
            found[key] = value
    return found


def _dpkg_query(text):
    """{package: version} of the installed ones (status ii, hi, ...) from
    dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2][1:2] == "i" and parts[1]:
            found.setdefault(parts[0], parts[1])
    return found


def _rpm_query(text):
    """{package: version-release} from rpm -q --qf '%{NAME}\t%{VERSION}-%{RELEASE}\n'
    ("package X is not installed" lines have no tab)."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] and " " not in parts[0]:
            found.setdefault(parts[0], parts[1])
    return found


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
