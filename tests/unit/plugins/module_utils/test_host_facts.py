# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HostFactsReader on fixture /proc and /sys trees (tests/unit/fixtures/host_facts/<case>).

Binaries are never run here: a small table stands in for the runner
callable.  libvirt counts use libvirt's built-in test:///default driver.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts import _bridges, _virt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._host_facts._reader import HostFactsReader

FIXTURES = Path(__file__).parents[2] / "fixtures" / "host_facts"
IP_JSON = (FIXTURES / "intel_vmx" / "ip-addr.json").read_text()

BINARIES = {
    "libvirtd": "/usr/sbin/libvirtd",
    "virtqemud": "/usr/sbin/virtqemud",
    "qemu-system-x86_64": "/usr/bin/qemu-system-x86_64",
    "ip": "/usr/sbin/ip",
}
OUTPUTS = {
    "/usr/sbin/libvirtd": "libvirtd (libvirt) 9.0.0\n",
    "/usr/sbin/virtqemud": "virtqemud (libvirt) 10.5.0\n",
    "/usr/bin/qemu-system-x86_64": "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright (c) 2003-2022\n",
    "/usr/libexec/qemu-kvm": "QEMU emulator version 8.2.0 (qemu-kvm-8.2.0-11.el9)\n",
    "/usr/sbin/ip": IP_JSON,
}


class Host:
    """What is installed on a fixture host: which() and run_command() over a table."""

    def __init__(self, binaries=None, outputs=None):
        self.binaries = dict(BINARIES if binaries is None else binaries)
        self.outputs = dict(OUTPUTS if outputs is None else outputs)
        self.ran = []

    def which(self, name):
        return self.binaries.get(name)

    def run(self, argv):
        self.ran.append(list(argv))
        if argv[0] not in self.outputs:
            return 127, "", "{0}: not found".format(argv[0])
        return 0, self.outputs[argv[0]], ""


def reader(case_or_root, host=None, **kwargs):
    host = host or Host()
    root = case_or_root if os.path.isabs(str(case_or_root)) else FIXTURES / case_or_root
    kwargs.setdefault("libvirt", None)
    return HostFactsReader(root=str(root), run_command=host.run, which=host.which, **kwargs)


@pytest.fixture
def tree(tmp_path):
    """A writable copy of a fixture tree, to vary one thing."""
    def copy(case):
        root = tmp_path / case
        shutil.copytree(str(FIXTURES / case), str(root))
        return root
    return copy


# -- virtualization -------------------------------------------------------------


def test_intel_vmx_nested_on():
    virt = reader("intel_vmx").facts()["virtualization"]
    assert virt == dict(cpu_flag="vmx", kvm_module_loaded=True, kvm_modules=["kvm", "kvm_intel"],
                        kvm_device=True, nested=True, usable=True, reason=None)


def test_amd_svm_nested_on_with_kvm_built_in():
    virt = reader("amd_svm").facts()["virtualization"]
    assert virt["cpu_flag"] == "svm"
    assert virt["kvm_module_loaded"] is True  # no /proc/modules: built in, seen in /sys/module
    assert virt["kvm_modules"] == ["kvm", "kvm_amd"]
    assert virt["nested"] is True
    assert virt["usable"] is True and virt["reason"] is None


@pytest.mark.parametrize("case, module, value", [
    ("intel_vmx", "kvm_intel", "N\n"),
    ("amd_svm", "kvm_amd", "0\n"),
])
def test_nested_off(tree, case, module, value):
    root = tree(case)
    (root / "sys/module" / module / "parameters/nested").write_text(value)
    virt = reader(root).facts()["virtualization"]
    assert virt["nested"] is False
    assert virt["usable"] is True


def test_neither_flag_no_module_no_device():
    virt = reader("no_flag").facts()["virtualization"]
    assert virt["cpu_flag"] is None
    assert virt["kvm_module_loaded"] is False
    assert virt["kvm_modules"] == []
    assert virt["kvm_device"] is False
    assert virt["nested"] is None
    assert virt["usable"] is False
    assert virt["reason"].startswith("the CPU has no vmx or svm flag: enable VT-x/AMD-V in the firmware")
    assert "emulation" in virt["reason"]


@pytest.mark.parametrize("case, flag, modprobe", [("intel_vmx", "vmx", "kvm_intel"), ("amd_svm", "svm", "kvm_amd")])
def test_flag_but_no_kvm_module(tree, case, flag, modprobe):
    root = tree(case)
    shutil.rmtree(str(root / "sys/module"))
    (root / "dev/kvm").unlink()
    if (root / "proc/modules").exists():
        (root / "proc/modules").write_text("bridge 311296 0 - Live 0x0000000000000000\n")
    virt = reader(root).facts()["virtualization"]
    assert virt["cpu_flag"] == flag
    assert virt["kvm_module_loaded"] is False
    assert virt["nested"] is None
    assert virt["usable"] is False
    assert virt["reason"].startswith("the CPU has the {0} flag but the kvm module is not loaded".format(flag))
    assert "modprobe {0}".format(modprobe) in virt["reason"]


def test_module_loaded_but_no_device(tree):
    root = tree("intel_vmx")
    (root / "dev/kvm").unlink()
    virt = reader(root).facts()["virtualization"]
    assert virt["kvm_module_loaded"] is True
    assert virt["kvm_device"] is False and virt["usable"] is False
    assert "/dev/kvm does not exist" in virt["reason"]


def test_device_present_but_not_openable(tree):
    root = tree("intel_vmx")
    (root / "dev/kvm").unlink()
    (root / "dev/kvm").mkdir()  # open(O_RDWR) of a directory fails even for root
    virt = reader(root).facts()["virtualization"]
    assert virt["kvm_device"] is False and virt["usable"] is False
    assert virt["reason"].startswith("/dev/kvm exists but cannot be opened (Is a directory)")


def test_usable_without_cpu_flag_when_dev_kvm_opens(tree):
    """A paravirtualized KVM (kvm_pvm) gives a working /dev/kvm without vmx/svm."""
    root = tree("no_flag")
    (root / "sys/module/kvm_pvm/parameters").mkdir(parents=True)
    (root / "sys/module/kvm/parameters").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "dev/kvm").write_text("")
    virt = reader(root).facts()["virtualization"]
    assert virt["cpu_flag"] is None
    assert virt["kvm_modules"] == ["kvm", "kvm_pvm"]
    assert virt["usable"] is True and virt["reason"] is None
    assert virt["nested"] is None


# -- cpu, memory, iommu, hugepages ------------------------------------------------


def test_cpu_topology_from_sysfs():
    cpu = reader("intel_vmx").facts()["cpu"]
    assert cpu == dict(model="Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", count=4, sockets=1, cores=2, threads=2)


def test_cpu_topology_from_cpuinfo_when_no_sysfs():
    cpu = reader("amd_svm").facts()["cpu"]
    assert cpu == dict(model="AMD EPYC 7302 16-Core Processor", count=2, sockets=2, cores=1, threads=1)


def test_cpu_without_topology_fields():
    cpu = reader("no_flag").facts()["cpu"]
    assert cpu == dict(model="QEMU Virtual CPU version 2.5+", count=3, sockets=1, cores=3, threads=1)


def test_memory_hugepages_iommu():
    facts = reader("intel_vmx").facts()
    assert facts["memory_mib"] == 65755392 // 1024
    assert facts["hugepages"] == dict(total=512, free=500, size_kib=2048)
    assert facts["iommu_enabled"] is True


def test_no_iommu_groups_means_disabled_even_when_cmdline_asks():
    facts = reader("amd_svm").facts()  # amd_iommu=on on the command line, no group
    assert facts["iommu_enabled"] is False
    assert facts["hugepages"] == dict(total=0, free=0, size_kib=2048)
    assert facts["memory_mib"] == 8000


# -- bridges ------------------------------------------------------------------------


def test_bridges_with_ip_json():
    host = Host()
    bridges = reader("intel_vmx", host).facts()["bridges"]
    assert bridges == [
        dict(name="br0", ports=["eth0", "vnet0"],
             addresses=["192.168.1.10/24", "2001:db8::10/64", "fe80::5054:ff:fe12:3456/64"]),
        dict(name="virbr0", ports=[], addresses=["192.168.122.1/24"]),
    ]
    assert ["/usr/sbin/ip", "-j", "addr", "show"] in host.ran


def test_bridges_without_ip_use_proc():
    host = Host(binaries={k: v for k, v in BINARIES.items() if k != "ip"})
    bridges = reader("intel_vmx", host).facts()["bridges"]
    assert bridges == [
        dict(name="br0", ports=["eth0", "vnet0"],
             addresses=["192.168.1.10/24", "fe80::5054:ff:fe12:3456/64", "2001:db8::10/64"]),
        dict(name="virbr0", ports=[], addresses=["192.168.122.1/24"]),
    ]
    assert not [argv for argv in host.ran if argv[0].endswith("/ip")]


def test_no_bridges_runs_no_ip():
    host = Host()
    assert reader("no_flag", host).facts()["bridges"] == []
    assert not [argv for argv in host.ran if argv[0].endswith("/ip")]


# -- libvirt and qemu -----------------------------------------------------------------


def test_nothing_installed_and_no_bindings():
    host = Host(binaries={}, outputs={})
    facts = reader("no_flag", host).facts()
    assert facts["libvirt"] == dict(installed=False, daemon=None, version=None, daemon_running=False, service=None,
                                    python_bindings=False, uri="qemu:///system", reachable=False, error=None,
                                    pools=None, networks=None, domains=None, objects=None)
    assert facts["qemu"] == dict(binary=None, version=None)
    assert facts["packages"] == {} and facts["package_manager"] is None
    assert facts["sshd"] is None  # not asked for
    assert host.ran == []


def test_libvirtd_version_and_running_daemon_without_bindings():
    lv = reader("intel_vmx").facts()["libvirt"]
    assert lv["installed"] is True
    assert lv["daemon"] == "/usr/sbin/libvirtd"
    assert lv["version"] == "9.0.0"
    assert lv["daemon_running"] is True
    assert lv["python_bindings"] is False and lv["reachable"] is False and lv["pools"] is None


def test_modular_daemon_virtqemud():
    host = Host(binaries={k: v for k, v in BINARIES.items() if k != "libvirtd"})
    lv = reader("amd_svm", host).facts()["libvirt"]
    assert lv["daemon"] == "/usr/sbin/virtqemud"
    assert lv["version"] == "10.5.0"
    assert lv["daemon_running"] is True  # virtqemud in the fixture's /proc


def test_version_binary_fails_gives_null():
    host = Host(outputs={})
    lv = reader("intel_vmx", host).facts()["libvirt"]
    assert lv["installed"] is True and lv["version"] is None


@pytest.mark.parametrize("binaries, binary, version", [
    (BINARIES, "/usr/bin/qemu-system-x86_64", "7.2.22"),
    ({"qemu-kvm": "/usr/libexec/qemu-kvm"}, "/usr/libexec/qemu-kvm", "8.2.0"),
])
def test_qemu_version(binaries, binary, version):
    qemu = reader("intel_vmx", Host(binaries=binaries)).facts()["qemu"]
    assert qemu == dict(binary=binary, version=version)


def test_counts_on_libvirt_test_driver():
    libvirt = pytest.importorskip("libvirt")
    lv = reader("intel_vmx", libvirt=libvirt, uri="test:///default").facts()["libvirt"]
    assert lv["python_bindings"] is True and lv["reachable"] is True and lv["error"] is None
    # test:///default always holds one pool, one network and one domain
    assert (lv["pools"], lv["networks"], lv["domains"]) == (1, 1, 1)
    assert lv["version"] == "9.0.0"  # the binary wins over the bindings


def test_version_from_bindings_when_no_binary():
    libvirt = pytest.importorskip("libvirt")
    lv = reader("no_flag", Host(binaries={}), libvirt=libvirt, uri="test:///default").facts()["libvirt"]
    assert lv["installed"] is False
    number = libvirt.getVersion()
    assert lv["version"] == "{0}.{1}.{2}".format(number // 1000000, number // 1000 % 1000, number % 1000)
    assert lv["domains"] == 1


def test_unreachable_uri_reports_error_not_failure(tmp_path):
    libvirt = pytest.importorskip("libvirt")
    uri = "qemu+unix:///system?socket={0}".format(tmp_path / "no-such-socket")
    lv = reader("intel_vmx", libvirt=libvirt, uri=uri).facts()["libvirt"]
    assert lv["reachable"] is False
    assert lv["pools"] is None and lv["networks"] is None and lv["domains"] is None
    assert "cannot connect" in lv["error"] and "no-such-socket" in lv["error"]


def test_default_which_searches_under_root(tmp_path):
    sbin = tmp_path / "usr/sbin"
    sbin.mkdir(parents=True)
    (sbin / "virtqemud").write_text("#!/bin/sh\n")
    (sbin / "virtqemud").chmod(0o755)
    (sbin / "libvirtd").write_text("not executable\n")
    probe = HostFactsReader(root=str(tmp_path), libvirt=None)
    assert probe.which("virtqemud") == "/usr/sbin/virtqemud"
    assert probe.which("libvirtd") is None
    lv = probe.facts()["libvirt"]
    assert lv["daemon"] == "/usr/sbin/virtqemud"
    assert lv["version"] is None  # no runner: nothing is run


def test_objects_on_libvirt_test_driver():
    """pools with their volumes, networks and domains, as site.yml's summary shows them."""
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")  # the test driver's state is shared by the process's connections
    pool = conn.storagePoolLookupByName("default-pool")
    vol = pool.createXML("<volume><name>kvmops-unit.img</name><capacity unit='MiB'>3</capacity>"
                         "<target><format type='raw'/></target></volume>", 0)
    try:
        lv = reader("intel_vmx", libvirt=libvirt, uri="test:///default", objects=True).facts()["libvirt"]
    finally:
        vol.delete(0)
        conn.close()
    objects = lv["objects"]
    assert objects["pools"] == [dict(name="default-pool", type="dir", path="/default-pool", active=True, autostart=False,
                                     volumes=[dict(name="kvmops-unit.img", capacity=3 * 1024 * 1024,
                                                   allocation=3 * 1024 * 1024)])]
    assert objects["networks"] == [dict(name="default", active=True, autostart=False, bridge="virbr0")]
    assert objects["domains"] == [dict(name="test", state="running", autostart=False, vcpus=2, memory_mib=8192,
                                       virt_type="test", snapshots=[])]
    assert (lv["pools"], lv["networks"], lv["domains"]) == (1, 1, 1)


def test_snapshots_per_domain_on_libvirt_test_driver():
    """Issue 13: each listed domain carries its snapshots (name, creation time, state, parent, current), oldest first."""
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")
    domain = conn.lookupByName("test")
    made = []
    try:
        for name in ("kvmops-unit-a", "kvmops-unit-b"):
            made.append(domain.snapshotCreateXML("<domainsnapshot><name>{0}</name></domainsnapshot>".format(name), 0))
        before = int(made[0].getXMLDesc(0).split("<creationTime>")[1].split("<")[0])
        lv = reader("intel_vmx", libvirt=libvirt, uri="test:///default", objects=True).facts()["libvirt"]
    finally:
        for snap in reversed(made):
            snap.delete(0)
        conn.close()
    snapshots = lv["objects"]["domains"][0]["snapshots"]
    assert [s["name"] for s in snapshots] == ["kvmops-unit-a", "kvmops-unit-b"]
    first, second = snapshots
    assert first["parent"] is None and second["parent"] == "kvmops-unit-a"
    assert first["state"] == second["state"] == "running"
    assert (first["current"], second["current"]) == (False, True)
    assert first["creation_time"] == before and second["creation_time"] >= before
    assert first["created"] == datetime.datetime.fromtimestamp(before, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_objects_unless_asked():
    libvirt = pytest.importorskip("libvirt")
    lv = reader("intel_vmx", libvirt=libvirt, uri="test:///default").facts()["libvirt"]
    assert lv["reachable"] is True and lv["objects"] is None


def test_unreachable_uri_gives_no_objects(tmp_path):
    libvirt = pytest.importorskip("libvirt")
    uri = "qemu+unix:///system?socket={0}".format(tmp_path / "no-such-socket")
    lv = reader("intel_vmx", libvirt=libvirt, uri=uri, objects=True).facts()["libvirt"]
    assert lv["reachable"] is False and lv["objects"] is None


# -- libvirt daemon's systemd unit ---------------------------------------------------------


def _daemon_unit(root, cgroup="0::/system.slice/libvirtd.service\n", wants="multi-user.target.wants"):
    """intel_vmx's libvirtd (pid 812) in `cgroup`, its unit linked from `wants`."""
    (root / "proc/812/cgroup").write_text(cgroup)
    if wants:
        (root / "etc/systemd/system" / wants).mkdir(parents=True)
        (root / "etc/systemd/system" / wants / "libvirtd.service").symlink_to("/lib/systemd/system/libvirtd.service")


def test_service_enabled_and_active(tree):
    root = tree("intel_vmx")
    _daemon_unit(root)
    lv = reader(root).facts()["libvirt"]
    assert lv["service"] == dict(name="libvirtd.service", enabled=True, active=True)
    assert lv["daemon_running"] is True


def test_service_active_under_cgroup_v1_and_a_host_path(tree):
    root = tree("intel_vmx")
    _daemon_unit(root, cgroup="4:memory:/\n1:name=systemd:/machine.slice/libpod-1.scope/system.slice/libvirtd.service\n",
                 wants="sockets.target.requires")
    assert reader(root).facts()["libvirt"]["service"] == dict(name="libvirtd.service", enabled=True, active=True)


def test_daemon_started_by_hand_is_running_but_not_active(tree):
    root = tree("intel_vmx")
    _daemon_unit(root, cgroup="0::/user.slice/session-1.scope\n", wants=None)
    lv = reader(root).facts()["libvirt"]
    assert lv["daemon_running"] is True
    assert lv["service"] == dict(name="libvirtd.service", enabled=False, active=False)


def test_masked_unit_is_not_enabled(tree):
    root = tree("intel_vmx")
    _daemon_unit(root)
    (root / "etc/systemd/system/libvirtd.service").symlink_to("/dev/null")
    assert reader(root).facts()["libvirt"]["service"]["enabled"] is False


def test_daemon_of_another_pid_namespace_does_not_count(tree):
    """A container's libvirtd is visible in the host's /proc; it is not the host's daemon."""
    root = tree("intel_vmx")
    _daemon_unit(root)
    (root / "proc/self/ns").mkdir(parents=True)
    (root / "proc/self/ns/pid").symlink_to("pid:[4026531836]")
    (root / "proc/812/ns").mkdir()
    (root / "proc/812/ns/pid").symlink_to("pid:[4026532999]")
    lv = reader(root).facts()["libvirt"]
    assert lv["daemon_running"] is False
    assert lv["service"]["active"] is False
    (root / "proc/812/ns/pid").unlink()
    (root / "proc/812/ns/pid").symlink_to("pid:[4026531836]")
    lv = reader(root).facts()["libvirt"]
    assert lv["daemon_running"] is True and lv["service"]["active"] is True


# -- os, hostname, systemd -----------------------------------------------------------------

OS_RELEASES = [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
     'VERSION_CODENAME=bookworm\nID=debian\n',
     dict(family="Debian", distribution="Debian", version="12", major_version="12", codename="bookworm",
          id="debian", id_like=[])),
    ('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n',
     dict(family="Debian", distribution="Ubuntu", version="24.04", major_version="24", codename="noble",
          id="ubuntu", id_like=["debian"])),
    ('NAME="Rocky Linux"\nVERSION_ID="9.3"\nID="rocky"\nID_LIKE="rhel centos fedora"\n',
     dict(family="RedHat", distribution="Rocky", version="9.3", major_version="9", codename=None,
          id="rocky", id_like=["rhel", "centos", "fedora"])),
    ('NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n',
     dict(family="RedHat", distribution="CentOS", version="7", major_version="7", codename=None,
          id="centos", id_like=["rhel", "fedora"])),
    ('NAME="Red Hat Enterprise Linux"\nVERSION_ID="8.10"\nID="rhel"\nID_LIKE="fedora"\n',
     dict(family="RedHat", distribution="RedHat", version="8.10", major_version="8", codename=None,
          id="rhel", id_like=["fedora"])),
    ('NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n# a comment\n\n',
     dict(family="RedHat", distribution="Fedora", version="40", major_version="40", codename=None,
          id="fedora", id_like=[])),
    ("NAME='Some Derivative'\nID=somederiv\nID_LIKE='ubuntu debian'\nVERSION_ID=1.2\n",
     dict(family="Debian", distribution="Some Derivative", version="1.2", major_version="1", codename=None,
          id="somederiv", id_like=["ubuntu", "debian"])),
    ('NAME="Debian GNU/Linux"\nID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n',
     dict(family="Debian", distribution="Debian", version=None, major_version=None, codename=None,
          id="debian", id_like=[])),
]


@pytest.mark.parametrize("text, expected", OS_RELEASES)
def test_os_from_os_release(tree, text, expected):
    root = tree("no_flag")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(text)
    assert reader(root).facts()["os"] == expected


def test_os_release_under_usr_lib_and_none(tree):
    root = tree("no_flag")
    assert reader(root).facts()["os"] == dict(family=None, distribution=None, version=None, major_version=None,
                                              codename=None, id=None, id_like=[])
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=debian\nVERSION_ID=12\n")
    assert reader(root).facts()["os"]["distribution"] == "Debian"


def test_hostname_kernel_and_static(tree):
    root = tree("no_flag")
    assert reader(root).facts()["hostname"] is None
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("KVM\n")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("kvm01\n")
    facts = reader(root).facts()
    assert (facts["hostname"], facts["hostname_static"]) == ("KVM", "kvm01")
    (root / "etc/hostname").write_text("\n")
    assert reader(root).facts()["hostname_static"] is None


def _link(root, path, target):
    link = root / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def test_default_target_from_the_vendor_link(tree):
    root = tree("no_flag")
    assert reader(root).facts()["systemd"] == dict(running=False, default_target=None)
    _link(root, "/lib/systemd/system/default.target", "graphical.target")
    (root / "lib/systemd/system/graphical.target").write_text("[Unit]\n")
    (root / "run/systemd/system").mkdir(parents=True)
    assert reader(root).facts()["systemd"] == dict(running=True, default_target="graphical.target")


def test_default_target_set_in_etc_wins(tree):
    root = tree("no_flag")
    _link(root, "/usr/lib/systemd/system/default.target", "graphical.target")
    # what `systemctl set-default multi-user.target` writes
    _link(root, "/etc/systemd/system/default.target", "/lib/systemd/system/multi-user.target")
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/multi-user.target").write_text("[Unit]\n")
    assert reader(root).facts()["systemd"]["default_target"] == "multi-user.target"


def test_default_target_follows_an_alias_chain(tree):
    root = tree("no_flag")
    _link(root, "/etc/systemd/system/default.target", "runlevel5.target")
    _link(root, "/etc/systemd/system/runlevel5.target", "../../../usr/lib/systemd/system/graphical.target")
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/graphical.target").write_text("[Unit]\n")
    assert reader(root).facts()["systemd"]["default_target"] == "graphical.target"


def test_default_target_on_this_machine_is_what_systemctl_says():
    systemctl = shutil.which("systemctl")
    if not systemctl:
        pytest.skip("no systemctl on this machine")
    import subprocess
    proc = subprocess.run([systemctl, "get-default"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("systemctl get-default does not answer here: " + proc.stderr)
    assert HostFactsReader(libvirt=None).systemd()["default_target"] == proc.stdout.strip()


# -- packages ------------------------------------------------------------------------------

DPKG_OUT = ("qemu-utils\t1:7.2+dfsg-7+deb12u18\tii \n"
            "virt-manager\t1:4.1.0-2\trc \n"
            "bridge-utils\t1.7.1-1\thi \n"
            "python3-lxml\t4.9.2-1+b1\tii \n"
            "python3-lxml\t4.9.2-1+b1\tii \n")  # two architectures


def test_packages_from_one_dpkg_query():
    host = Host(binaries=dict(BINARIES, **{"dpkg-query": "/usr/bin/dpkg-query", "rpm": "/usr/bin/rpm"}),
                outputs=dict(OUTPUTS, **{"/usr/bin/dpkg-query": DPKG_OUT}))
    names = ["qemu-utils", "virt-manager", "bridge-utils", "python3-lxml", "no-such-package"]
    facts = reader("no_flag", host, packages=names).facts()
    assert facts["package_manager"] == "dpkg"
    assert facts["packages"] == {
        "qemu-utils": dict(installed=True, version="1:7.2+dfsg-7+deb12u18"),
        "virt-manager": dict(installed=False, version=None),  # removed, its configuration left
        "bridge-utils": dict(installed=True, version="1.7.1-1"),  # held
        "python3-lxml": dict(installed=True, version="4.9.2-1+b1"),
        "no-such-package": dict(installed=False, version=None),
    }
    queries = [argv for argv in host.ran if argv[0].endswith(("dpkg-query", "rpm"))]
    assert queries == [["/usr/bin/dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n", "--"] + names]


def test_packages_from_one_rpm_query_even_when_it_exits_non_zero():
    out = "qemu-kvm\t8.2.0-11.el9\npackage virt-manager is not installed\nlibvirt\t10.0.0-6.el9\n"

    class Rpm(Host):
        def run(self, argv):
            self.ran.append(list(argv))
            return (1, out, "") if argv[0] == "/usr/bin/rpm" else super(Rpm, self).run(argv)

    host = Rpm(binaries={"rpm": "/usr/bin/rpm"})
    facts = reader("no_flag", host, packages=["qemu-kvm", "virt-manager", "libvirt"]).facts()
    assert facts["package_manager"] == "rpm"
    assert facts["packages"] == {
        "qemu-kvm": dict(installed=True, version="8.2.0-11.el9"),
        "virt-manager": dict(installed=False, version=None),
        "libvirt": dict(installed=True, version="10.0.0-6.el9"),
    }
    assert [argv[:4] for argv in host.ran] == [["/usr/bin/rpm", "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"]]


def test_packages_without_a_package_manager():
    facts = reader("no_flag", Host(binaries={}, outputs={}), packages=["qemu-utils"]).facts()
    assert facts["package_manager"] is None
    assert facts["packages"] == {"qemu-utils": dict(installed=False, version=None)}


def test_packages_on_this_machine_match_dpkg():
    dpkg = shutil.which("dpkg-query")
    if not dpkg:
        pytest.skip("no dpkg on this machine")
    import subprocess

    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    facts = HostFactsReader(run_command=run, which=shutil.which, libvirt=None,
                            packages=["dpkg", "libc6", "kvmops-no-such-package"]).facts()
    expected = subprocess.run([dpkg, "-W", "-f", "${Version}", "dpkg"], capture_output=True, text=True, check=True).stdout
    assert facts["packages"]["dpkg"] == dict(installed=True, version=expected)
    assert facts["packages"]["libc6"]["installed"] is True
    assert facts["packages"]["kvmops-no-such-package"] == dict(installed=False, version=None)


# -- sshd -T ---------------------------------------------------------------------------------

SSHD_T = ("port 22\naddressfamily any\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\nusedns no\n"
          "permitrootlogin without-password\nsubsystem sftp /usr/lib/openssh/sftp-server\nUseDNS ignored-duplicate-case\n\n")


def test_sshd_effective_settings():
    host = Host(binaries=dict(BINARIES, sshd="/usr/sbin/sshd"), outputs=dict(OUTPUTS, **{"/usr/sbin/sshd": SSHD_T}))
    sshd = reader("no_flag", host, sshd=True).facts()["sshd"]
    assert sshd["binary"] == "/usr/sbin/sshd" and sshd["error"] is None
    assert sshd["effective"] == {
        "port": "22", "addressfamily": "any", "listenaddress": ["[::]:22", "0.0.0.0:22"],
        "usedns": ["no", "ignored-duplicate-case"], "permitrootlogin": "without-password",
        "subsystem": "sftp /usr/lib/openssh/sftp-server",
    }
    assert ["/usr/sbin/sshd", "-T", "-C", "user=root,host=localhost,addr=127.0.0.1"] in host.ran


def test_sshd_t_failing_is_reported_not_raised():
    class Failing(Host):
        def run(self, argv):
            self.ran.append(list(argv))
            return 255, "", "/etc/ssh/sshd_config line 3: Bad configuration option: Foo\n"

    sshd = reader("no_flag", Failing(binaries={"sshd": "/usr/sbin/sshd"}), sshd=True).facts()["sshd"]
    assert sshd["effective"] is None
    assert sshd["error"].startswith("/usr/sbin/sshd -T -C user=root,host=localhost,addr=127.0.0.1 exited with 255: ")
    assert "Bad configuration option: Foo" in sshd["error"]


def test_sshd_not_installed():
    sshd = reader("no_flag", Host(binaries={}, outputs={}), sshd=True).facts()["sshd"]
    assert sshd == dict(binary=None, effective=None, error="sshd is not installed")


# -- parsers -----------------------------------------------------------------------------


def test_libvirt_version_number():
    assert _virt._libvirt_version(9000000) == "9.0.0"
    assert _virt._libvirt_version(10005001) == "10.5.1"


def test_ip_json_garbage_falls_back():
    assert _bridges._ip_json("not json") is None
    assert _bridges._ip_json('{"a": 1}') is None


def test_proc_fallback_agrees_with_ip_on_this_machine():
    """On the real /proc of the runner, the fallback finds what `ip -j addr` finds
    for every interface with a connected route (127.0.0.1 has none)."""
    ip = shutil.which("ip")
    if not ip:
        pytest.skip("no ip binary on this machine")
    import subprocess

    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    with_ip = HostFactsReader(run_command=run, which={"ip": ip}.get, libvirt=None).addresses()
    without = HostFactsReader(run_command=run, which=lambda name: None, libvirt=None).addresses()
    assert without, "the fallback found no address at all"
    for name, addresses in without.items():
        assert sorted(addresses) == sorted(a for a in with_ip[name] if name != "lo" or ":" in a), name
