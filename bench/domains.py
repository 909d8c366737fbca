# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark (not a test): re-apply N already-defined domains five ways.

  1. kvmops.hypervisor.kvm_domain with `domains` (one task, one connection)
  2. kvmops.hypervisor.kvm_domain in an Ansible loop (one module run per domain)
  3. community.libvirt.virt command=define in a loop, community.libvirt 2.0.0 from
     the PyPI `ansible` 12.3.0 bundle installed in its own virtualenv (.cache/bench-venv)
  4. the same with community.libvirt 2.3.0, the one in the current bundle
     (`ansible` 14.5.0, which needs Python >= 3.12): the collection is taken out of
     that wheel (`pip download --no-deps --python-version 3.12 ansible==14.5.0`,
     .cache/bench-community-libvirt-2.3.0) and run by the checkout's ansible-core 2.19,
     the same core the 2.0.0 bundle carries
  5. ansible.builtin.ping in a loop: the floor of any Ansible loop

Each way is one ansible-playbook run against localhost (connection local,
modules run by the checkout's .venv python, which has libvirt-python and
lxml); the peer's copies come from bench/_peer.py. With --repeat, the ways
run round-robin (each once per round), so that other jobs' load hits each
way alike. Prints the wall time of each run with the load average at its
start, the median, the number of items reported changed, and the ratios.
Nothing is asserted.

  python bench/domains.py [--count 20] [--uri qemu:///system] [--repeat 1] [--keep] [--prefix P]

Domains are named kvmops-bench-NN (--prefix) and removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import _peer  # noqa: E402  pylint: disable=wrong-import-position

VENV = _peer.VENV
PREFIX = "kvmops-bench-"

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
  </devices>
</domain>
"""

SPEC = """        uri: "{uri}"
        state: present
        virt_type: qemu
        memory: 64
        vcpus: 1
        interfaces:
          - network: default
"""

PLAYBOOKS = {
    "one_task": """- hosts: localhost
  gather_facts: false
  tasks:
    - name: All domains in one task
      kvmops.hypervisor.kvm_domain:
{spec}        domains: "{{{{ domains }}}}"
""",
    "loop": """- hosts: localhost
  gather_facts: false
  tasks:
    - name: One domain per loop item
      kvmops.hypervisor.kvm_domain:
        name: "{{{{ item }}}}"
{spec}      loop: "{{{{ names }}}}"
""",
    "community": """- hosts: localhost
  gather_facts: false
  tasks:
    - name: community.libvirt virt define per loop item
      community.libvirt.virt:
        uri: "{uri}"
        command: define
        xml: "{{{{ lookup('ansible.builtin.template', '{template}') }}}}"
      loop: "{{{{ names }}}}"
      vars:
        name: "{{{{ item }}}}"
""",
    "ping": """- hosts: localhost
  gather_facts: false
  tasks:
    - name: Ping per loop item
      ansible.builtin.ping:
      loop: "{{{{ names }}}}"
""",
}


PLAYBOOKS["community_newer"] = PLAYBOOKS["community"]


def env_for(own):
    return _peer.env({True: "own", False: "old", "newer-libvirt": "new"}[own])


def run_playbook(ansible_playbook, playbook, extra_vars, env):
    cmd = [ansible_playbook, "-i", "localhost,", "-c", "local", playbook, "-e", "@" + extra_vars]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("{0} failed (rc={1})".format(os.path.basename(playbook), proc.returncode))
    return wall, changed_items(proc.stdout)


def changed_items(stdout):
    """Items reported changed, from the ansible.posix.json callback output."""
    data = json.loads(stdout[stdout.index("{"):])
    result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if "results" in result:
        return sum(1 for item in result["results"] if item.get("changed"))
    if "domains" in result:
        return sum(1 for item in result["domains"] if item.get("changed"))
    return int(bool(result.get("changed")))


def undefine(uri, names):
    import libvirt  # pylint: disable=import-outside-toplevel

    conn = libvirt.open(uri)
    try:
        for name in names:
            try:
                dom = conn.lookupByName(name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    finally:
        conn.close()


def time_one_define(uri, name):
    """Wall time of one virDomainDefineXML of an existing domain, unchanged:
    what every `virt command=define` item pays inside libvirtd."""
    import libvirt  # pylint: disable=import-outside-toplevel

    conn = libvirt.open(uri)
    try:
        xml = conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        start = time.monotonic()
        conn.defineXML(xml)
        return time.monotonic() - start
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each way; the median is reported")
    parser.add_argument("--keep", action="store_true", help="keep the bench domains (a re-run then skips defining them)")
    parser.add_argument("--skip-community", action="store_true")
    parser.add_argument("--prefix", default=PREFIX, help="domain name prefix (another run on the same libvirtd needs its own)")
    args = parser.parse_args()

    names = ["{0}{1:02d}".format(args.prefix, i) for i in range(1, args.count + 1)]
    ours = os.path.join(VENV, "bin", "ansible-playbook")
    theirs = None if args.skip_community else _peer.old_playbook()
    newer = None if args.skip_community else _peer.new_libvirt()
    work = tempfile.mkdtemp(prefix="kvmops-bench-")
    try:
        extra_vars = os.path.join(work, "vars.json")
        with open(extra_vars, "w") as f:
            json.dump({"names": names, "domains": [{"name": name} for name in names]}, f)
        template = os.path.join(work, "domain.xml.j2")
        with open(template, "w") as f:
            f.write(DOMAIN_XML.format(name="{{ name }}"))
        paths = {}
        for key, text in PLAYBOOKS.items():
            spec = SPEC.format(uri=args.uri)
            paths[key] = os.path.join(work, key + ".yml")
            with open(paths[key], "w") as f:
                f.write(text.format(spec=spec, uri=args.uri, template=template))

        print("defining {0} domains on {1} (kvm_domain, one task)...".format(args.count, args.uri), flush=True)
        wall, changed = run_playbook(ours, paths["one_task"], extra_vars, env_for(True))
        print("  setup: {0:.2f} s, {1} defined".format(wall, changed), flush=True)

        ways = [("one_task", ours, True, "kvm_domain, domains (one task)"),
                ("loop", ours, True, "kvm_domain in a loop"),
                ("community", theirs, False, "community.libvirt 2.0.0 virt define, loop"),
                ("community_newer", ours if newer else None, "newer-libvirt",
                 "community.libvirt {0} virt define, loop".format(newer)),
                ("ping", ours, True, "ansible.builtin.ping loop (floor)")]
        ways = [way for way in ways if way[1] is not None]
        walls = dict((way[0], []) for way in ways)
        changes, loads = {}, dict((way[0], []) for way in ways)
        # Round-robin: every way once per round, so that a change of the machine's
        # load (other jobs) hits every way alike instead of the last ones.
        for _run in range(args.repeat):
            for key, playbook_bin, own, _label in ways:
                loads[key].append(_peer.load())
                wall, changes[key] = run_playbook(playbook_bin, paths[key], extra_vars, env_for(own))
                walls[key].append(wall)
        figures = {}
        for key, _bin, _own, label in ways:
            figures[key] = (statistics.median(walls[key]), changes[key])
            print("{0:<40} {1:8.2f} s   changed {2:>2}/{3}   (runs: {4}; load {5})".format(
                label, figures[key][0], figures[key][1], args.count, ", ".join("{0:.2f}".format(w) for w in walls[key]),
                ", ".join(loads[key])), flush=True)

        print("{0:<40} {1:8.2f} s   (libvirtd itself, for reference)".format(
            "libvirt defineXML, 1 domain unchanged", time_one_define(args.uri, names[0])), flush=True)
        print()
        if "community" in figures:
            print("community.libvirt loop / kvm_domain one task : {0:6.2f}x  (goal >= 5x, with changed=0)".format(
                figures["community"][0] / figures["one_task"][0]))
            print("community.libvirt loop / kvm_domain loop     : {0:6.2f}x".format(figures["community"][0] / figures["loop"][0]))
        if "community_newer" in figures:
            print("community.libvirt {0} loop / kvm_domain one task : {1:6.2f}x".format(
                newer, figures["community_newer"][0] / figures["one_task"][0]))
            print("community.libvirt {0} loop / kvm_domain loop     : {1:6.2f}x".format(
                newer, figures["community_newer"][0] / figures["loop"][0]))
        print("kvm_domain loop / ping loop                  : {0:6.2f}x  (goal <= 1.2x)".format(figures["loop"][0] / figures["ping"][0]))
        print("ping loop / kvm_domain one task              : {0:6.2f}x".format(figures["ping"][0] / figures["one_task"][0]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            undefine(args.uri, names)


if __name__ == "__main__":
    main()
