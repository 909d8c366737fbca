# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every option whose name says it holds a secret is no_log: the modules'
argument specs (read as validate-modules reads them, by stopping
AnsibleModule in main()) and the roles' meta/argument_specs.yml.  And no role
task that prints its result (set_fact, debug) handles a secret field without
no_log.

What counts as a secret name: a name whose parts (split at _ and -) include
password, passwd, pass, passphrase, secret, token, key, psk, credential(s) or
apikey, unless its last part says it only refers to a secret (key_file,
secret_uuid, token_path, password_name ...).  A path or an id of a secret is
not the secret."""

from __future__ import annotations

import glob
import importlib
import os
import re

import pytest
import yaml

from ansible.module_utils import basic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET_PARTS = {"password", "passwd", "pass", "passphrase", "secret", "secrets", "token", "key", "psk",
                "credential", "credentials", "apikey"}
REFERENCE_PARTS = {"file", "path", "dir", "name", "id", "uuid", "usage", "type", "size", "algorithm", "format", "url"}
# The secrets the collection has today: the classifier must keep finding them.
KNOWN = {
    ("module", "kvm_domain", "graphics_password"),
    ("module", "kvm_domain", "domains.graphics_password"),
    ("role", "kvm_guests", "kvm_guests.graphics_password"),
    ("role", "kvm_storage", "kvm_storage_isos.url_password"),
}


def is_secret_name(name):
    parts = [p for p in re.split(r"[_\-\s]+", name.lower()) if p]
    return bool(parts) and any(p in SECRET_PARTS for p in parts) and parts[-1] not in REFERENCE_PARTS


@pytest.mark.parametrize("name, secret", [
    ("graphics_password", True), ("url_password", True), ("passwd", True), ("api_token", True),
    ("private_key", True), ("ssh-key", True), ("vault_secret", True), ("wifi_psk", True),
    ("key_file", False), ("secret_uuid", False), ("token_path", False), ("keymap", False),
    ("passthrough", False), ("checksum", False), ("graphics", False), ("url_username", False),
])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


class _Stop(Exception):
    pass


def _walk(spec, prefix=""):
    for name, option in (spec or {}).items():
        yield prefix + name, option
        yield from _walk(option.get("options"), prefix + name + ".")


def module_specs():
    """{module name: argument_spec} of every module, as main() builds it."""
    specs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith("_"):
            continue
        module = importlib.import_module("ansible_collections.kvmops.hypervisor.plugins.modules." + name)
        captured = {}

        def fake_init(self, *args, **kwargs):
            captured["spec"] = kwargs.get("argument_spec", args[0] if args else {})
            raise _Stop()

        original = basic.AnsibleModule.__init__
        basic.AnsibleModule.__init__ = fake_init
        try:
            with pytest.raises(_Stop):
                module.main()
        finally:
            basic.AnsibleModule.__init__ = original
        specs[name] = captured["spec"]
    return specs


def role_specs():
    """{role name: options of every entry point} from roles/*/meta/argument_specs.yml."""
    specs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        role = path.split(os.sep)[-3]
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        options = {}
        for entry in data["argument_specs"].values():
            options.update(entry.get("options") or {})
        specs[role] = options
    return specs


def secret_options():
    """[(kind, owner, dotted option name, option spec)] of every secret-named option."""
    found = []
    for name, spec in module_specs().items():
        found.extend(("module", name, key, option) for key, option in _walk(spec) if is_secret_name(key.rsplit(".", 1)[-1]))
    for role, spec in role_specs().items():
        found.extend(("role", role, key, option) for key, option in _walk(spec) if is_secret_name(key.rsplit(".", 1)[-1]))
    return found


def test_every_module_and_role_is_read():
    assert {"kvm_domain", "kvm_volume", "kvm_pool", "kvm_network", "kvm_bridge", "kvm_host_facts"} <= set(module_specs())
    assert {"kvm_host", "kvm_bridge", "kvm_storage", "kvm_guests"} <= set(role_specs())


def test_secret_options_are_no_log():
    found = secret_options()
    assert KNOWN <= set((kind, owner, key) for kind, owner, key, _o in found)
    missing = ["{0} {1}: {2}".format(kind, owner, key) for kind, owner, key, option in found if option.get("no_log") is not True]
    assert not missing, "secret-named options without no_log: true: " + ", ".join(missing)


def _tasks(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_role_tasks_that_print_their_result_do_not_handle_secrets():
    """set_fact and debug results (with their loop `item`) are printed with -v; a task of
    those that mentions a secret field (graphics_password, url_password ...) in its
    arguments or its loop must be no_log, unless the loop takes that field out of
    its items (map('rejectattr', 'key', 'equalto', <field>) over dict2items)."""
    role_secrets = [key for kind, _owner, key, _o in secret_options() if kind == "role"]
    secret_fields = set(key.rsplit(".", 1)[-1] for key in role_secrets)
    assert {"graphics_password", "url_password"} <= secret_fields
    # Role variables whose items carry a secret (kvm_guests, kvm_storage_isos): a
    # loop over them puts the secret into `item`.
    carriers = set(key.split(".", 1)[0] for key in role_secrets if "." in key)
    assert {"kvm_guests", "kvm_storage_isos"} <= carriers
    printing = ("set_fact", "debug")
    offenders = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            tasks = yaml.safe_load(handle)
        for task in _tasks(tasks):
            action = next((k for k in task if k.rsplit(".", 1)[-1] in printing), None)
            if action is None or task.get("no_log") is True:
                continue
            text = yaml.safe_dump({action: task[action], "loop": task.get("loop")}, width=1000)
            # A loop over items with the field taken out is fine.
            rejected = re.findall(r"'rejectattr', 'key', 'equalto', '(\w+)'", text)
            text = re.sub(r"'rejectattr', 'key', 'equalto', '\w+'", "", text)
            loop = yaml.safe_dump(task.get("loop"), width=1000)
            if any(re.search(r"\b{0}\b".format(field), text) for field in secret_fields) or (
                    any(re.search(r"\b{0}\b".format(var), loop) for var in carriers)
                    and not secret_fields & set(rejected)):
                offenders.append("{0}: {1}".format(os.path.relpath(path, ROOT), task.get("name")))
    assert not offenders, "tasks printing a secret field without no_log: " + ", ".join(offenders)
