# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_host_facts over SSH on a fresh test host: Debian with neither libvirt
nor libvirt-python.  The expected values are read on the test host itself
(podman exec), so the test holds on any runner, with or without /dev/kvm.

Inside the test host (its own network namespace, NET_ADMIN) the test makes a
bridge with a veth port and an address; nothing on the runner is touched.
"""

from __future__ import annotations

import json

PLAYBOOK = """\
- name: Gather the KVM facts of the test host
  hosts: kvm_hosts
  gather_facts: false
  tasks:
    - name: Gather in check mode
      kvmops.hypervisor.kvm_host_facts:
      check_mode: true
      register: hf_check

    - name: Gather
      kvmops.hypervisor.kvm_host_facts:
        packages: [openssh-server, qemu-system-x86, kvmops-no-such-package]
        sshd: true
      register: hf_run

    - name: Hand the results to the test
      ansible.builtin.copy:
        content: "{{ {'check': hf_check, 'run': hf_run, 'fact': ansible_facts.kvm_host} | to_json }}"
        dest: "{{ hf_out }}"
        mode: "0600"
      delegate_to: localhost
"""

BRIDGE = "hfbr0"
PORT = "hfveth0"
ADDRESS = "10.77.31.1/24"


def _sh(host, script):
    return host.exec(["sh", "-c", script]).stdout.strip()


def test_facts_on_a_host_without_libvirt(testhost, run_playbook, tmp_path):
    # Preconditions: the test host really has no libvirt and no libvirt-python.
    assert testhost.exec(["python3", "-c", "import libvirt"], check=False).returncode != 0
    assert _sh(testhost, "command -v libvirtd virtqemud || true") == ""

    _sh(testhost, "ip link add {0} type bridge && ip link add {1} type veth peer name hfveth1"
                  " && ip link set {1} master {0} && ip addr add {2} dev {0} && ip link set {0} up"
                  .format(BRIDGE, PORT, ADDRESS))

    expected_bridges = _sh(testhost, "for d in /sys/class/net/*/bridge; do [ -d \"$d\" ] || continue;"
                                     " basename \"$(dirname \"$d\")\"; done").split()
    expected_flag = _sh(testhost, "grep -o -m1 -w -E 'vmx|svm' /proc/cpuinfo || true") or None
    kvm_opens = testhost.exec(["python3", "-c", "import os; os.close(os.open('/dev/kvm', os.O_RDWR))"],
                              check=False).returncode == 0
    kvm_loaded = testhost.exec(["test", "-d", "/sys/module/kvm"], check=False).returncode == 0
    memory_mib = int(_sh(testhost, "awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo"))
    cpus = int(_sh(testhost, "grep -c '^processor' /proc/cpuinfo"))

    playbook = tmp_path / "facts.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "facts.json"
    proc = run_playbook(testhost, str(playbook), "-e", "hf_out={0}".format(out))
    assert proc.returncode == 0, "playbook failed"

    result = json.loads(out.read_text())
    check, run = result["check"], result["run"]
    assert check["changed"] is False and run["changed"] is False
    facts = run["ansible_facts"]["kvm_host"]
    print(json.dumps(facts, indent=1, sort_keys=True))
    assert check["ansible_facts"]["kvm_host"] == dict(facts, package_manager=None, packages={}, sshd=None)  # no options
    assert result["fact"] == facts  # set as a host fact

    lv = facts["libvirt"]
    assert lv == dict(installed=False, daemon=None, version=None, daemon_running=False, service=None,
                      python_bindings=False, uri="qemu:///system", reachable=False, error=None, pools=None,
                      networks=None, domains=None, objects=None)
    assert facts["qemu"] == dict(binary=None, version=None)

    virt = facts["virtualization"]
    assert virt["cpu_flag"] == expected_flag
    assert virt["kvm_module_loaded"] is kvm_loaded
    assert virt["kvm_device"] is kvm_opens
    assert virt["usable"] is kvm_opens
    if kvm_opens:
        assert virt["reason"] is None
    else:
        assert "/dev/kvm" in virt["reason"] or "no vmx or svm flag" in virt["reason"], virt["reason"]

    assert facts["memory_mib"] == memory_mib
    assert facts["cpu"]["count"] == cpus
    assert facts["cpu"]["sockets"] * facts["cpu"]["cores"] * facts["cpu"]["threads"] == cpus

    # the cheap reads that replace setup, hostname, systemctl get-default and package_facts in the roles
    script = ". /etc/os-release; echo ID=$ID; echo VERSION_ID=$VERSION_ID; echo CODENAME=$VERSION_CODENAME"
    release = dict(line.split("=", 1) for line in _sh(testhost, script).splitlines())
    assert facts["os"] == dict(family="Debian", distribution="Debian", version=release["VERSION_ID"],
                               major_version=release["VERSION_ID"].split(".")[0], codename=release["CODENAME"],
                               id=release["ID"], id_like=[])
    assert facts["hostname"] == _sh(testhost, "hostname")
    assert facts["hostname_static"] == _sh(testhost, "head -n1 /etc/hostname")
    assert facts["systemd"] == dict(running=True, default_target=_sh(testhost, "systemctl get-default"))
    ssh_version = _sh(testhost, "dpkg-query -W -f '${Version}' openssh-server")
    assert facts["package_manager"] == "dpkg"
    assert facts["packages"] == {
        "openssh-server": dict(installed=True, version=ssh_version),
        "qemu-system-x86": dict(installed=False, version=None),
        "kvmops-no-such-package": dict(installed=False, version=None),
    }

    effective = dict(line.split(" ", 1) for line in _sh(testhost, "sshd -T -C user=root,host=localhost,addr=127.0.0.1"
                                                                  " | grep -E '^(usedns|port|permitrootlogin) '").splitlines())
    assert facts["sshd"]["binary"] == "/usr/sbin/sshd" and facts["sshd"]["error"] is None
    assert {key: facts["sshd"]["effective"][key] for key in effective} == effective

    assert sorted(b["name"] for b in facts["bridges"]) == sorted(expected_bridges)
    ours = [b for b in facts["bridges"] if b["name"] == BRIDGE]
    assert len(ours) == 1
    assert ours[0]["ports"] == [PORT]
    assert ADDRESS in ours[0]["addresses"]
