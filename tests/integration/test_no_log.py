# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret in the output of a playbook run with -vvv and --diff.

Against the runner's libvirtd (qemu:///system), objects named kvmops-it-nolog-*:
kvm_domain with graphics_password and a passwd in `xml`, the role kvm_storage
downloading an ISO from a local HTTP server that wants basic authentication
(url_username / url_password), and the role kvm_guests with a guest's
graphics_password.  Each run's stdout and stderr are searched for every
secret, and the real state (virsh dumpxml --security-info, the volume, the
credentials the server received) proves the secrets were used.

The second run changes the passwords: then the old ones are no no_log values
of that run, so only the module's own masking keeps them out of the output."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
PREFIX = "kvmops-it-nolog-"
DIR = "/var/tmp/kvmops-it-nolog"
POOL = PREFIX + "iso"
ISO = PREFIX + "boot.iso"
USER = "kvmops-nolog"
URL_PASSWORD = "Nl0g-Url-Pa55-3141"
PASSWORDS = {  # run -> (kvm_domain graphics_password, passwd in xml, kvm_guests graphics_password)
    1: ("Nl0g-Dm1", "Nl0g-Xm1", "Nl0g-Gs1"),
    2: ("Nl0g-Dm2", "Nl0g-Xm2", "Nl0g-Gs2"),
}
CONTENT = b"KVMOPS-NOLOG-ISO\n" * 4096

PLAYBOOK = """
- name: Secrets through the modules and the roles
  hosts: localhost
  gather_facts: false
  vars:
    kvm_storage_root: {dir}
    kvm_storage_pools:
      - name: {pool}
        path: {dir}/iso
        mode: "0755"
    kvm_storage_iso_pool: {pool}
    kvm_storage_isos:
      - name: {iso}
        url: "{{{{ nolog_url }}}}"
        url_username: {user}
        url_password: "{{{{ nolog_url_password }}}}"
        checksum: "{{{{ nolog_checksum }}}}"
    kvm_guests_virt_type: qemu
    kvm_guests_graphics: vnc
    kvm_guests:
      - name: {prefix}guest
        memory: 64
        state: present
        autostart: false
        iso: {{pool: {pool}, volume: {iso}}}
        graphics_password: "{{{{ nolog_guest_password }}}}"
  tasks:
    - name: A domain with a VNC password
      kvmops.hypervisor.kvm_domain:
        name: {prefix}vnc
        state: present
        virt_type: qemu
        memory: 64
        graphics: vnc
        graphics_password: "{{{{ nolog_domain_password }}}}"
      register: nolog_domain

    - name: A domain with a SPICE password in its XML
      kvmops.hypervisor.kvm_domain:
        name: {prefix}xml
        state: present
        xml: >-
          <domain type='qemu'><name>{prefix}xml</name><memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>hvm</type></os>
          <devices><graphics type='spice' autoport='yes' passwd='{{{{ nolog_xml_password }}}}'/></devices></domain>
      register: nolog_xml

    - name: Show both results (as a user debugging a play would)
      ansible.builtin.debug:
        var: item
      loop: ["{{{{ nolog_domain }}}}", "{{{{ nolog_xml }}}}"]

    - name: Storage with an ISO behind basic authentication
      ansible.builtin.include_role:
        name: kvmops.hypervisor.kvm_storage

    - name: A guest with a console password
      ansible.builtin.include_role:
        name: kvmops.hypervisor.kvm_guests
""".format(dir=DIR, pool=POOL, iso=ISO, user=USER, prefix=PREFIX)


class _Server(HTTPServer):
    seen = None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (the name http.server calls)
        header = self.headers.get("Authorization")
        self.server.seen.append(header)
        expected = "Basic " + base64.b64encode("{0}:{1}".format(USER, URL_PASSWORD).encode()).decode()
        if header != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="kvmops"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        self.wfile.write(CONTENT)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def _virsh(*args, check=True):
    return subprocess.run(["virsh", "-c", URI] + list(args), capture_output=True, text=True, check=check)


def _cleanup():
    names = _virsh("list", "--all", "--name").stdout.split()
    for name in names:
        if name.startswith(PREFIX):
            _virsh("destroy", name, check=False)
            _virsh("undefine", name, check=False)
    if _virsh("pool-info", POOL, check=False).returncode == 0:
        _virsh("pool-destroy", POOL, check=False)
        _virsh("pool-undefine", POOL, check=False)
    subprocess.run(["rm", "-rf", DIR], check=True)


@pytest.fixture(name="server")
def server_fixture():
    server = _Server(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _cleanup()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        _cleanup()


def _run(tmp_path, extra_vars, *args):
    playbook = tmp_path / "nolog.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    env["ANSIBLE_NOCOLOR"] = "1"
    varfile = tmp_path / "vars.yml"
    varfile.write_text("".join("{0}: '{1}'\n".format(k, v) for k, v in extra_vars.items()))
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-vvv", "--diff", "-e", "@" + str(varfile), str(playbook)]
        + list(args),
        env=env, cwd=str(ROOT), capture_output=True, text=True, check=False,
    )
    print(proc.stdout[-30000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    return proc


def _secure_passwd(name):
    xml = _virsh("dumpxml", "--inactive", "--security-info", name).stdout
    plain = _virsh("dumpxml", "--inactive", name).stdout
    assert "passwd=" not in plain
    return xml


def _vars(server, run):
    domain, xml, guest = PASSWORDS[run]
    return dict(nolog_url="http://127.0.0.1:{0}/boot.iso".format(server.server_address[1]),
                nolog_url_password=URL_PASSWORD, nolog_checksum="sha256:" + hashlib.sha256(CONTENT).hexdigest(),
                nolog_domain_password=domain, nolog_xml_password=xml, nolog_guest_password=guest)


def test_no_secret_in_verbose_diff_output(server, tmp_path):
    secrets = [URL_PASSWORD, base64.b64encode("{0}:{1}".format(USER, URL_PASSWORD).encode()).decode()]
    for run in (1, 2):
        proc = _run(tmp_path, _vars(server, run))
        assert proc.returncode == 0
        output = proc.stdout + proc.stderr
        secrets.extend(PASSWORDS[run])
        leaked = [s for s in secrets if s in output]
        assert not leaked, "run {0} printed secrets {1}".format(run, leaked)
        # The run did use them: the state holds this run's passwords.
        domain, xml, guest = PASSWORDS[run]
        assert "passwd='{0}'".format(domain) in _secure_passwd(PREFIX + "vnc")
        assert "passwd='{0}'".format(xml) in _secure_passwd(PREFIX + "xml")
        assert "passwd='{0}'".format(guest) in _secure_passwd(PREFIX + "guest")
        # The output shows that something secret changed (masked), not nothing.
        assert "********" in output
    # The ISO was downloaded once, with the credentials (first without: the 401 challenge).
    assert any(h and h.startswith("Basic ") for h in server.seen)
    assert _virsh("vol-info", "--pool", POOL, ISO, check=False).returncode == 0


def test_url_with_credentials_is_refused_without_printing_it(server, tmp_path):
    variables = _vars(server, 1)
    variables["nolog_url"] = "http://{0}:{1}@127.0.0.1:{2}/boot.iso".format(USER, URL_PASSWORD, server.server_address[1])
    playbook = tmp_path / "url.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: kvmops.hypervisor.kvm_storage\n"
        "      kvm_storage_root: {0}\n      kvm_storage_pools: [{{name: {1}, path: {0}/iso}}]\n"
        "      kvm_storage_iso_pool: {1}\n"
        "      kvm_storage_isos: [{{name: {2}, url: '{3}', checksum: '{4}'}}]\n".format(
            DIR, POOL, ISO, variables["nolog_url"], variables["nolog_checksum"]))
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-vvv", str(playbook)],
                            env=env, cwd=str(ROOT), capture_output=True, text=True, check=False)
    print(result.stdout[-20000:])
    assert result.returncode != 0
    assert "kvm_storage_isos[{0}].url: must not contain credentials".format(ISO) in result.stdout
    assert server.seen == []  # nothing was downloaded
    assert URL_PASSWORD not in result.stdout + result.stderr
