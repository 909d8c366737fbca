# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's back end (_plan.Backend): every domain spec validated first
(_domain_spec), then one Plan per domain: the definition (new or merged),
autostart and run state as ordered, labelled actions, with the diff and the
predicted `domain`.  _module.run applies them, or stops there in check mode.
libvirt's refusals of a definition are mapped to options in _domain_errors."""

from __future__ import annotations

import copy
import os
import time

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_errors import define_refusal
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import (
    Resolver,
    check_capabilities,
    check_firmware,
    item_specs,
    require_definition,
    validate,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_guest import fill_addresses, observe, wait
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import (
    add_seed_cdrom,
    build,
    compare,
    describe,
    has_guest_agent,
    has_tpm,
    mask,
    secure_boot,
    set_guest_agent,
    set_secure_boot,
    set_tpm,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._plan import Backend, Plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, to_string


def _metadata():
    """The collection's metadata helpers, imported by runs that meet tags only."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils import _metadata as metadata  # pylint: disable=import-outside-toplevel

    return metadata


_POLL_SECONDS = 0.25
# state option -> the run state it asks for
_TARGET = {"running": "running", "paused": "paused", "shutdown": "shutoff", "destroyed": "shutoff"}


def _vir(name, default=0):
    return getattr(libvirt, name, default)


def inactive_secure():
    """XMLDesc flags: the persistent definition, with console passwords
    (without VIR_DOMAIN_XML_SECURE libvirt leaves them out, and a redefinition
    from that XML would drop them)."""
    return _vir("VIR_DOMAIN_XML_INACTIVE", 2) | _vir("VIR_DOMAIN_XML_SECURE", 1)


def state_name(code):
    if code in (_vir("VIR_DOMAIN_RUNNING", 1), _vir("VIR_DOMAIN_BLOCKED", 2)):
        return "running"
    if code in (_vir("VIR_DOMAIN_PAUSED", 3), _vir("VIR_DOMAIN_PMSUSPENDED", 7)):
        return "paused"
    if code == _vir("VIR_DOMAIN_SHUTDOWN", 4):
        return "shutting-down"
    return "shutoff"


def _is_seed(disk, domain):
    """The cloud-init seed CD-ROM of `domain` (volume <domain>-cidata.iso)."""
    source = disk.find("source")
    return disk.get("device") == "cdrom" and source is not None and source.get("volume") == domain + "-cidata.iso"


def undefine_flags(definition, remove_nvram, remove_tpm=False):
    """Flags for virDomainUndefineFlags.  A UEFI domain (one with NVRAM, a
    loader or firmware='efi') cannot be undefined without saying what to do
    with its NVRAM: delete it with remove_nvram, else keep it.  The state of
    an emulated TPM is kept (libvirt would delete it) unless remove_tpm."""
    flags = _vir("VIR_DOMAIN_UNDEFINE_MANAGED_SAVE", 1) | _vir("VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA", 2)
    os_el = definition.find("os")
    uefi = os_el is not None and (os_el.get("firmware") == "efi" or os_el.find("nvram") is not None
                                  or os_el.find("loader") is not None)
    if uefi:
        flags |= _vir("VIR_DOMAIN_UNDEFINE_NVRAM", 4) if remove_nvram else _vir("VIR_DOMAIN_UNDEFINE_KEEP_NVRAM", 8)
    if has_tpm(definition):
        flags |= _vir("VIR_DOMAIN_UNDEFINE_TPM", 32) if remove_tpm else _vir("VIR_DOMAIN_UNDEFINE_KEEP_TPM", 64)
    return flags


# Where libvirt's QEMU driver keeps a domain's NVRAM when the definition does
# not name a file (libvirt 9.0 selects the firmware at start and names the
# file in the live XML only): qemu.conf nvram_dir, <name>_VARS.fd.
NVRAM_DIR = "/var/lib/libvirt/qemu/nvram"


def nvram_path(definition, name):
    """The NVRAM file of a UEFI domain: named in the definition, else libvirt's default."""
    named = (definition.findtext("os/nvram") or "").strip()
    return named or os.path.join(NVRAM_DIR, "{0}_VARS.fd".format(name))


def is_uefi(definition):
    os_el = definition.find("os")
    return os_el is not None and (os_el.get("firmware") == "efi" or os_el.find("nvram") is not None
                                  or (os_el.find("loader") is not None and os_el.find("loader").get("type") == "pflash"))


class DomainBackend(Backend):
    """Domains: define or update, autostart, run state, removal."""

    list_key = "domains"

    def specs(self, params):
        resolver = Resolver(self.connection)
        specs = item_specs(params)
        names = {}
        for spec in specs:
            validate(spec, resolver)
            if spec["name"] in names:
                raise ValidationError(spec["_prefix"] + "name", "{0!r} is already given in {1}name".format(
                    spec["name"], names[spec["name"]]))
            names[spec["name"]] = spec["_prefix"]
        # What only a look-up can tell (a new domain needs a definition; the
        # machine and vCPUs libvirt offers), for every item before any write.
        self._handles = {}
        for spec in specs:
            dom = self.connection.domain(spec["name"])
            self._handles[spec["name"]] = dom
            if dom is None and spec["state"] != "absent":
                require_definition(spec)
            if spec.get("clone_from") is not None and spec["state"] != "absent":
                self._clone(spec, dom)
            if dom is not None and spec["state"] != "absent" and any(
                    spec.get(k) for k in ("machine", "vcpus", "firmware", "secure_boot", "tpm")):
                actual = parse(self.connection.call("read domain {0}".format(spec["name"]), dom.XMLDesc,
                                                    _vir("VIR_DOMAIN_XML_INACTIVE", 2)))
            else:
                actual = None
            check_capabilities(spec, resolver, actual)
            check_firmware(spec, resolver, actual)
            if spec.get("_seed") is not None:
                self._seed_pool(spec, dom, resolver)
        self._specs = specs
        self._domains = {}
        return specs

    def _clone(self, spec, dom):
        """A new clone: read its source now (it must exist and be shut off); an
        existing domain: it must be a clone of that source."""
        from ansible_collections.kvmops.hypervisor.plugins.module_utils import _domain_clone  # pylint: disable=import-outside-toplevel

        if dom is None:
            spec["_clone"] = _domain_clone.prepare(self.connection, spec, spec["force"])
        else:
            actual = parse(self.connection.call("read domain {0}".format(spec["name"]), dom.XMLDesc,
                                                _vir("VIR_DOMAIN_XML_INACTIVE", 2)))
            _domain_clone.check_existing(spec, actual)

    def _seed_pool(self, spec, dom, resolver):
        """cloud_init.pool, else the pool of the first disk (given, or of the existing domain); it must exist."""
        field = spec["_prefix"] + "cloud_init.pool"
        if spec["_seed_pool"] is None and dom is not None:
            from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_seed import pool_of_first_disk

            actual = parse(self.connection.call("read domain {0}".format(spec["name"]), dom.XMLDesc,
                                                _vir("VIR_DOMAIN_XML_INACTIVE", 2)))
            spec["_seed_pool"] = pool_of_first_disk(actual)
        if spec["_seed_pool"] is None:
            raise ValidationError(field, "is required: the domain has no disk in a pool to put the seed beside")
        resolver.pool(field, spec["_seed_pool"])

    def plan(self, spec):
        # The first plan of an item uses the handle its validation looked up; a
        # re-plan (after another client's change) looks up again.
        return _DomainPlanner(self.connection, spec, self._handles.pop(spec["name"], False)).plan()

    def applied(self, spec, plan):
        """The item's result after a real run."""
        result = plan.planner.applied()
        self._domains[spec["name"]] = result["domain"]
        return result

    def settle(self):
        """The wait_for of every item, against one deadline: the guests boot
        together.  The addresses seen go into the items' results."""
        waits = []
        for spec in self._specs:
            domain = self._domains.get(spec["name"])
            if spec.get("wait_for") is None or domain is None:
                continue

            def describe(observation, domain=domain):
                fill_addresses(domain["interfaces"], observation)

            waits.append((spec["name"], spec["wait_for"], spec["address_source"], describe))
        if waits:
            wait(self.connection, waits, max(spec["wait_timeout"] for spec in self._specs if spec.get("wait_for")))

    def finish(self, result):
        if self.params.get("domains") is not None:
            result["restart_required"] = any(item.get("restart_required") for item in result.get("domains", []))
        return result


class _DomainPlanner:
    """One domain: reads it, plans its actions; the actions share `self.dom`
    (the handle a define returns)."""

    def __init__(self, connection, spec, dom=False):
        self.connection = connection
        self._looked_up = dom
        self.spec = spec
        self.name = spec["name"]
        self.dom = None
        self.definition = None   # the inactive XML after the run, as predicted
        self.state = "absent"
        self.autostart = False
        self.restart_required = False
        self.written = False
        self.tags = []
        self.observation = None

    def _call(self, action, func, *args):
        return self.connection.call("domain {0}: {1}".format(self.name, action), func, *args)

    def _read(self):
        return parse(self._call("read definition", self.dom.XMLDesc, inactive_secure()))

    def plan(self):
        plan = Plan(self.name)
        plan.planner = self
        self.dom = self.connection.domain(self.name) if self._looked_up is False else self._looked_up
        if self.spec["state"] == "absent":
            self._absent(plan)
        else:
            self._define(plan)
            self._tags(plan)
            self._autostart(plan)
            if self.state == "running":
                self.observation = observe(self.connection, self.dom, self.spec["address_source"])
            self._lifecycle(plan)
        plan.result = self.result()
        return plan

    # -- definition ------------------------------------------------------
    def _define(self, plan):
        spec = self.spec
        if self.dom is None and spec.get("_clone") is not None:
            self._define_clone(plan)
            return
        if self.dom is None:
            desired = copy.deepcopy(spec["_desired"]) if spec.get("xml") is not None else build(spec, new=True)
            if spec.get("xml") is not None and spec.get("guest_agent") is not None:
                set_guest_agent(desired, spec["guest_agent"])
            self._seed(plan, desired, None)
            plan.differ("definition", None, to_string(mask(desired)))
            plan.add("define", lambda: self._write("define", desired))
            self.definition = desired
            self.state = "shutoff"
            return
        actual = self._read()
        self.state = state_name(self._call("read state", self.dom.state)[0])
        self.autostart = bool(self._call("read autostart", self.dom.autostart))
        if actual.find("metadata") is not None:
            self.tags = _metadata().parse_tags(etree.tostring(actual, encoding="unicode"))
        desired = spec["_desired"]
        if spec.get("_seed") is not None:
            desired = copy.deepcopy(desired)
            if self._seed(plan, desired, actual) and self.state != "shutoff":
                self.restart_required = True
        differences, merged = compare(desired, actual, spec["_managed"])
        for path, want, have in differences:
            plan.differ(path, have, want)
        if spec.get("guest_agent") is not None and set_guest_agent(merged, spec["guest_agent"]):
            plan.differ("guest_agent", not spec["guest_agent"], spec["guest_agent"])
            differences.append(("guest_agent", spec["guest_agent"], not spec["guest_agent"]))
        reset = self._firmware(plan, actual, merged, differences)
        if not differences:
            self.definition = actual
            return
        self.definition = merged
        if self.state != "shutoff":
            self.restart_required = True
            plan.add("update definition (restart required)", lambda: self._write("redefine", merged))
        else:
            plan.add("update definition", lambda: self._write("redefine", merged))
        if reset is not None:
            plan.add(*reset)

    def _firmware(self, plan, actual, merged, differences):
        """secure_boot and tpm of an existing domain, written into `merged`.
        Secure Boot on or off means another firmware and another variables
        template: the NVRAM (the guest's UEFI variables: boot entries, keys)
        is reset; the old file is kept beside it, renamed, and only a shut-off
        domain is changed (a running one uses the file).  Returns the NVRAM
        reset action (label, apply), done after the redefinition, or None."""
        spec = self.spec
        reset = None
        if spec.get("firmware") == "bios":
            firmware = merged.find("os/firmware")
            if firmware is not None:
                firmware.getparent().remove(firmware)
        want = spec.get("secure_boot")
        if want is None and spec.get("firmware") == "efi" and not is_uefi(actual):
            want = False  # BIOS to UEFI: as a new domain, never Secure Boot by accident
        if want is not None:
            have = secure_boot(actual) if is_uefi(actual) else None
            if set_secure_boot(merged, want):
                plan.differ("secure_boot", have, want)
                differences.append(("secure_boot", want, have))
                if is_uefi(actual) and have != want:
                    reset = self._reset_nvram(plan, actual)
        if spec.get("tpm") is not None and set_tpm(merged, spec["tpm"]):
            plan.differ("tpm", not spec["tpm"], spec["tpm"])
            differences.append(("tpm", spec["tpm"], not spec["tpm"]))
            if not spec["tpm"]:
                plan.warnings.append("domain {0}: the TPM is removed from the definition; its state is kept "
                                     "(libvirt deletes it at undefine with remove_tpm: true only while the "
                                     "definition has a TPM)".format(self.name))
        return reset

    def _reset_nvram(self, plan, actual):
        path = nvram_path(actual, self.name)
        if not os.path.exists(path):
            return None  # never started: libvirt makes it from the new template
        if self.state != "shutoff":
            raise ValidationError(self.spec["_prefix"] + "secure_boot", "changing Secure Boot of domain {0!r} resets its "
                                  "NVRAM ({1}), which the running domain uses: shut it off first (state: shutdown), "
                                  "then change secure_boot".format(self.name, path))
        backup = "{0}.{1}.bak".format(path, time.strftime("%Y%m%dT%H%M%S"))
        plan.differ("nvram", path, "{0} (reset; the old one kept as {1})".format(path, backup))
        plan.warnings.append("domain {0}: secure_boot changed, so the NVRAM is reset from the new firmware's template "
                             "at the next start; the old variables are kept in {1}".format(self.name, backup))
        return "reset NVRAM (old one kept as {0})".format(backup), lambda: os.rename(path, backup)

    def _define_clone(self, plan):
        """The clone's disks, then its definition: the source's, with the
        options given written over it."""
        from ansible_collections.kvmops.hypervisor.plugins.module_utils import _domain_clone  # pylint: disable=import-outside-toplevel

        spec = self.spec
        base, volumes = spec["_clone"]
        for volume in volumes:
            plan.differ("clone_from[{0}]".format(volume["name"]), None, "{0} of {1}/{2}".format(
                "linked clone" if volume["linked"] else "copy", volume["pool"], volume["source"]))
            plan.add("{0} {1} as {2}".format("linked clone of" if volume["linked"] else "copy", volume["source"], volume["name"]),
                     lambda volume=volume: _domain_clone.create(self.connection, volume))
        _differences, desired = compare(spec["_desired"], copy.deepcopy(base), spec["_managed"])
        if spec.get("guest_agent") is not None:
            set_guest_agent(desired, spec["guest_agent"])
        if spec.get("secure_boot") is not None:
            set_secure_boot(desired, spec["secure_boot"])
        if spec.get("tpm") is not None:
            set_tpm(desired, spec["tpm"])
        self._seed(plan, desired, None)
        plan.differ("definition", None, to_string(mask(desired)))
        source = spec["clone_from"].get("domain") or "{pool}/{volume}".format(**spec["clone_from"])
        plan.add("define (clone of {0})".format(source), lambda: self._write("define", desired))
        self.definition = desired
        self.state = "shutoff"

    def _seed(self, plan, desired, actual):
        """cloud_init: plan the seed volume (created, or rebuilt when its
        files differ; user-data is never shown, only that it changed) and add
        its CD-ROM to `desired`.  True when an existing seed is rebuilt."""
        seed = self.spec.get("_seed")
        if seed is None:
            return False
        from ansible_collections.kvmops.hypervisor.plugins.module_utils import _domain_seed as seeds  # pylint: disable=import-outside-toplevel

        pool, name = self.spec["_seed_pool"], seeds.volume_name(self.name)
        volume, data = seeds.read(self.connection, pool, name)
        rebuilt = False
        if volume is None:
            plan.differ("cloud_init", None, "seed {0} in pool {1}".format(name, pool))
            plan.add("create cloud-init seed {0}".format(name), lambda: seeds.write(self.connection, pool, name, seed.files))
        else:
            changed = seeds.changed_files(data, seed.files)
            for file_name in changed:
                plan.differ("cloud_init." + file_name, "(previous content)", "(changed)")
            if changed:
                rebuilt = True
                plan.add("rebuild cloud-init seed {0}".format(name),
                         lambda: seeds.write(self.connection, pool, name, seed.files, old=volume))
        machine = self.spec.get("machine")
        if machine is None and actual is not None and actual.find("os/type") is not None:
            machine = actual.find("os/type").get("machine")
        add_seed_cdrom(desired, actual, dict(seeds.seed_disk(self.spec, machine)), seeds.is_seed, self.name)
        return rebuilt

    def _write(self, action, definition):
        """defineXML; a refusal that is about options names them (libvirt's own message follows)."""
        try:
            self.dom = self._call(action, self.connection.conn.defineXML, to_string(definition))
            self.written = True
        except KvmError as error:
            refusal = define_refusal(self.spec, action, error)
            if refusal is None:
                raise
            raise refusal

    # -- tags ------------------------------------------------------------
    def _tags(self, plan):
        """Tags live in the collection's <metadata> element, set on the
        definition and, when the domain runs, live: no restart."""
        want = self.spec.get("tags")
        if want is None or not plan.differ("tags", self.tags, want):
            return
        self.tags = list(want)
        plan.add("set tags", lambda: self._set_tags(want))

    def _set_tags(self, tags):
        flags = _vir("VIR_DOMAIN_AFFECT_CONFIG", 2)
        if self._call("read state", self.dom.isActive):
            flags |= _vir("VIR_DOMAIN_AFFECT_LIVE", 1)
        element = _vir("VIR_DOMAIN_METADATA_ELEMENT", 2)
        metadata = _metadata()
        if tags:
            self._call("set tags", self.dom.setMetadata, element, metadata.tags_xml(tags), metadata.PREFIX, metadata.NAMESPACE, flags)
        else:
            self._call("remove tags", self.dom.setMetadata, element, None, None, metadata.NAMESPACE, flags)

    # -- autostart -------------------------------------------------------
    def _autostart(self, plan):
        want = self.spec.get("autostart")
        if want is None:
            return
        if plan.differ("autostart", self.autostart, want):
            plan.add("autostart on" if want else "autostart off",
                     lambda: self._call("set autostart", self.dom.setAutostart, 1 if want else 0))
        self.autostart = bool(want)

    # -- lifecycle -------------------------------------------------------
    def _lifecycle(self, plan):
        want = self.spec["state"]
        have = self.state
        if want == "present":
            return
        target = _TARGET[want]
        if have == "shutting-down" and target != "shutoff":
            have = "running"
        if have == target:
            self.state = have
            return
        plan.differ("state", have, target)
        self.state = target
        call = self._call
        if target == "running":
            if have == "paused":
                plan.add("resume", lambda: call("resume", self.dom.resume))
            else:
                plan.add("start", lambda: call("start", self.dom.create))
        elif target == "paused":
            if have == "shutoff":
                plan.add("start paused", lambda: call("start paused", self.dom.createWithFlags, _vir("VIR_DOMAIN_START_PAUSED", 1)))
            else:
                plan.add("suspend", lambda: call("suspend", self.dom.suspend))
        elif want == "destroyed":
            plan.add("destroy", lambda: call("destroy", self.dom.destroy))
        else:
            plan.add("shut down", lambda: self._shutdown(have))

    def _shutdown(self, have):
        timeout = self.spec["shutdown_timeout"]
        if have == "paused":
            self._call("resume", self.dom.resume)
        if have != "shutting-down":
            self._call("shut down", self.dom.shutdown)
        deadline = time.monotonic() + timeout
        while True:
            if not self._call("read state", self.dom.isActive):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        if not self.spec["force"]:
            raise KvmError("state: domain {0!r} did not shut down within shutdown_timeout={1} seconds; "
                           "set force: true to destroy it after the timeout".format(self.name, timeout))
        self._call("destroy after shutdown_timeout", self.dom.destroy)

    # -- absent ----------------------------------------------------------
    def _absent(self, plan):
        if self.dom is None:
            return
        actual = self._read()
        state = state_name(self._call("read state", self.dom.state)[0])
        storage = self._storage(actual) if self.spec["remove_storage"] else []
        nvram = nvram_path(actual, self.name) if self.spec["remove_nvram"] and is_uefi(actual) else None
        tpm = self.spec["remove_tpm"] and has_tpm(actual)
        plan.differ("state", state, "absent")
        for path in storage:
            plan.differ("storage[{0}]".format(path), "present", "absent")
        if nvram:
            plan.differ("nvram[{0}]".format(nvram), "present", "absent")
        if tpm:
            plan.differ("tpm_state", "present", "absent")
        if state != "shutoff":
            plan.add("destroy", self._destroy_if_active)
        flags = undefine_flags(actual, self.spec["remove_nvram"], self.spec["remove_tpm"])
        removed = [what for what, given in (("its NVRAM", nvram), ("its TPM state", tpm)) if given]
        plan.add("undefine" + (" (and {0})".format(" and ".join(removed)) if removed else ""),
                 lambda: self._call("undefine", self.dom.undefineFlags, flags))
        for path in storage:
            plan.add("delete {0}".format(path), lambda path=path: self._remove_storage(path))

    def _destroy_if_active(self):
        if self._call("read state", self.dom.isActive):
            self._call("destroy", self.dom.destroy)

    def _storage(self, actual):
        """Paths of the domain's disk images (device disk; CD-ROM media are kept)."""
        paths = []
        for disk in actual.findall("devices/disk"):
            if disk.get("device", "disk") != "disk" and not _is_seed(disk, self.name):
                continue  # CD-ROM media are kept, except the cloud-init seed of this domain
            source = disk.find("source")
            if source is None:
                continue
            if source.get("pool") and source.get("volume"):
                pool = self.connection.pool(source.get("pool"))
                volume = self.connection.volume(pool, source.get("volume")) if pool is not None else None
                if volume is not None:
                    paths.append(self._call("read volume path", volume.path))
            elif source.get("file"):
                paths.append(source.get("file"))
        return paths

    def _remove_storage(self, path):
        try:
            volume = self.connection.conn.storageVolLookupByPath(path)
        except libvirt.libvirtError:
            volume = None
        if volume is not None:
            self._call("delete volume {0}".format(path), volume.delete, 0)
        elif os.path.isfile(path):
            os.remove(path)

    # -- result ----------------------------------------------------------
    def result(self):
        domain = None
        if self.definition is not None and self.state != "absent":
            domain = describe(self.definition)
            domain["state"] = self.state
            domain["autostart"] = self.autostart
            domain["tags"] = list(self.tags)
            domain["guest_agent"] = has_guest_agent(self.definition)
            fill_addresses(domain["interfaces"], self.observation if self.state == "running" else None)
        return dict(domain=domain, restart_required=self.restart_required)

    def applied(self):
        """The result after a real run: read back what libvirt assigned (UUID, MACs) to a defined domain."""
        if self.written and self.state != "absent":
            self.definition = self._read()
        if self.state == "running" and self.dom is not None and (self.written or self.observation is None):
            self.observation = observe(self.connection, self.dom, self.spec["address_source"])
        return self.result()
