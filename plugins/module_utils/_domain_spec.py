# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's input: one spec per domain (the single form, or each
`domains` item with the top-level options as defaults), validated and
normalised before anything is written.  Every check names the field
(`domains[3].disks[0].pool`); names, interface names, MACs, paths and text
follow _validate.py like every other module.  Look-ups (pools, volumes,
networks, domain capabilities) only read."""

from __future__ import annotations

import os
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_guest import (
    ADDRESS_SOURCES,
    DEFAULT_ADDRESS_SOURCE,
    WAIT_FOR,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import (
    assign_targets,
    build,
    machine_matches,
    managed_kinds,
    parse_user_xml,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import NotFoundError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import libvirt
from ansible_collections.kvmops.hypervisor.plugins.module_utils._size import parse_mib
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

STATES = ("present", "running", "shutdown", "destroyed", "paused", "absent")
# Options that describe the definition; `xml` replaces all of them.
STRUCTURED = ("vcpus", "memory", "virt_type", "machine", "cpu_mode", "firmware", "secure_boot", "tpm",
              "disks", "cdrom", "boot", "interfaces", "graphics", "graphics_password", "graphics_listen")
# Every per-domain option (the `domains` items take the same ones).
ITEM_KEYS = ("name", "state", "xml", "autostart", "shutdown_timeout", "force",
             "remove_storage", "remove_nvram", "remove_tpm", "tags", "guest_agent", "address_source", "wait_for",
             "wait_timeout", "cloud_init", "clone_from", "linked") + STRUCTURED
DEFAULTS = dict(state="running", shutdown_timeout=60, force=False, remove_storage=False, remove_nvram=False,
                remove_tpm=False, wait_timeout=300, linked=True)

# Disk target names libvirt can turn into a unit number (virDiskNameParse):
# a prefix, then 1 to 6 letters (7 overflow its int).  libvirt does not tie
# the prefix to the bus (hdc on sata is a valid, old-style definition), and
# QEMU refuses a partition number ("vda1") and fd* names for disks.
_TARGET = re.compile(r"^(vd|sd|hd|xvd|ubd)[a-z]{1,6}\Z")
# libvirt keeps memory sizes in bytes below 2**63 (virMemoryMaxValue, capped).
_MAX_MEMORY_MIB = (2 ** 63 - 1) // 1024 ** 2
_KNOWN_DISK_KEYS = ("pool", "volume", "path", "bus", "device", "format", "target")
_KNOWN_NIC_KEYS = ("type", "network", "bridge", "dev", "mode", "portgroup", "model", "mac", "mtu")
_NIC_TYPES = ("network", "bridge", "direct")
# macvtap modes libvirt takes for <source dev mode=...> (the module's choices).
_DIRECT_MODES = ("bridge", "vepa", "private", "passthrough")
# The kernel's minimum IPv4 MTU and the largest an interface takes.
_MTU = (68, 65535)


def _vir(name, default=0):
    return getattr(libvirt, name, default)


def item_specs(params):
    """One spec dict per domain, each with `_prefix` (the field prefix of its
    messages: "" or "domains[3].")."""
    top = dict((k, params.get(k)) for k in ITEM_KEYS)
    if not params.get("domains"):
        return [_with_defaults(dict(top, _prefix=""))]
    specs = []
    for index, item in enumerate(params["domains"]):
        own = dict((k, v) for k, v in item.items() if v is not None)
        spec = dict(top)
        if own.get("xml") is not None:
            # A whole definition: structured defaults from the top level do not apply.
            for key in STRUCTURED:
                spec[key] = None
        spec.update(own)
        spec["_prefix"] = "domains[{0}].".format(index)
        specs.append(_with_defaults(spec))
    return specs


def _with_defaults(spec):
    for key, value in DEFAULTS.items():
        if spec.get(key) is None:
            spec[key] = value
    return spec


class Resolver:
    """Look-ups of what specs refer to, cached for the validation of one run."""

    def __init__(self, connection):
        self.connection = connection
        self._pools = {}
        self._volumes = {}
        self._networks = {}
        self._capabilities = {}

    def pool(self, field, name):
        if name not in self._pools:
            self._pools[name] = self.connection.pool(name)
        if self._pools[name] is None:
            raise NotFoundError(field, "storage pool {0!r} does not exist".format(name))
        return self._pools[name]

    def volume(self, field, pool_name, pool, name):
        key = (pool_name, name)
        if key not in self._volumes:
            volume = self.connection.volume(pool, name)
            if volume is None:
                self._volumes[key] = None
            else:
                xml = parse(self.connection.call("read volume {0}".format(name), volume.XMLDesc, 0))
                fmt = xml.find("target/format")
                self._volumes[key] = {"format": fmt.get("type") if fmt is not None else None,
                                      "path": xml.findtext("target/path")}
        if self._volumes[key] is None:
            raise NotFoundError(field, "volume {0!r} does not exist in pool {1!r}".format(name, pool_name))
        return self._volumes[key]

    def expect_volume(self, pool_name, pool, name, fmt):
        """A volume this run creates before it defines a domain (clone_from): known from now on, as it will be."""
        key = (pool_name, name)
        if key not in self._volumes and self.connection.volume(pool, name) is None:
            self._volumes[key] = {"format": fmt, "path": None}

    def domain_capabilities(self, arch, machine, virt_type):
        """(<domainCapabilities> or None, libvirt's refusal or None) for a
        guest of `arch`, `machine` and `virt_type` (None: libvirt's default),
        cached.  A driver without domain capabilities (test:///) gives
        (None, None): nothing to check against."""
        key = (arch, machine, virt_type)
        if key not in self._capabilities:
            conn = self.connection.conn
            try:
                self._capabilities[key] = (parse(conn.getDomainCapabilities(None, arch, machine, virt_type, 0)), None)
            except libvirt.libvirtError as e:
                if self.connection.lost(e):
                    raise self.connection.error("read domain capabilities", e)
                if e.get_error_code() == _vir("VIR_ERR_NO_SUPPORT", 3):
                    self._capabilities[key] = (None, None)
                else:
                    self._capabilities[key] = (None, _validate.one_line(e.get_error_message() or str(e)))
        return self._capabilities[key]

    def portgroups(self, name, network):
        """The port group names of a network."""
        xml = parse(self.connection.call("read network {0}".format(name), network.XMLDesc, 0))
        return [group.get("name") for group in xml.findall("portgroup")]

    def network(self, field, name):
        if name not in self._networks:
            self._networks[name] = self.connection.network(name)
        if self._networks[name] is None:
            raise NotFoundError(field, "network {0!r} does not exist".format(name))
        return self._networks[name]


def validate(spec, resolver):
    """Normalise one spec in place; raise ValidationError/NotFoundError naming the field."""
    prefix = spec["_prefix"]
    name = _validate.name(prefix + "name", spec.get("name"))
    if spec["state"] not in STATES:
        raise ValidationError(prefix + "state", "must be one of {0}, got {1!r}".format(", ".join(STATES), spec["state"]))
    if spec["shutdown_timeout"] < 0:
        raise ValidationError(prefix + "shutdown_timeout", "must be 0 or more seconds, got {0}".format(spec["shutdown_timeout"]))
    _guest(spec)
    _clone_from(spec, resolver)
    if spec.get("xml") is not None:
        given = [k for k in STRUCTURED if spec.get(k) is not None]
        if given:
            raise ValidationError(prefix + "xml", "is mutually exclusive with {0}".format(", ".join(given)))
        root = parse_user_xml(prefix + "xml", spec["xml"])
        xml_name = root.findtext("name")
        if xml_name is None:
            raise ValidationError(prefix + "xml", "has no <name>; it must be {0!r}".format(name))
        if xml_name.strip() != name:
            raise ValidationError(prefix + "xml", "<name> is {0!r} but name is {1!r}".format(xml_name, name))
        spec["_desired"] = root
        spec["_managed"] = managed_kinds(root)
        _cloud_init(spec)
        return spec
    if spec.get("vcpus") is not None and spec["vcpus"] < 1:
        raise ValidationError(prefix + "vcpus", "must be 1 or more, got {0}".format(spec["vcpus"]))
    if spec.get("machine") is not None:
        _validate.text(prefix + "machine", spec["machine"])
        if not spec["machine"].strip():
            raise ValidationError(prefix + "machine", "must not be blank, got {0!r}".format(spec["machine"]))
    if spec.get("memory") is not None:
        _validate.text(prefix + "memory", spec["memory"])
    _firmware(spec)
    spec["memory_mib"] = parse_mib(prefix + "memory", spec["memory"]) if spec.get("memory") is not None else None
    if spec["memory_mib"] is not None and spec["memory_mib"] > _MAX_MEMORY_MIB:
        raise ValidationError(prefix + "memory", "{0!r} is more than libvirt accepts ({1} MiB, 8 EiB less 1 MiB)".format(
            spec["memory"], _MAX_MEMORY_MIB))
    disks = []
    for index, disk in enumerate(spec.get("disks") or []):
        disks.append(_disk(resolver, "{0}disks[{1}]".format(prefix, index), disk, "disk"))
    if spec.get("cdrom") is not None:
        disks.append(_disk(resolver, prefix + "cdrom", _cdrom(prefix + "cdrom", spec["cdrom"]), "cdrom"))
    spec["disks"] = assign_targets(disks) if (spec.get("disks") is not None or spec.get("cdrom") is not None) else None
    if spec["disks"]:
        targets = [d["target"] for d in spec["disks"]]
        duplicate = next((t for t in targets if targets.count(t) > 1), None)
        if duplicate:
            raise ValidationError(prefix + "disks", "target {0!r} is used twice".format(duplicate))
    nics = []
    for index, nic in enumerate(spec.get("interfaces") or []):
        nics.append(_interface(resolver, "{0}interfaces[{1}]".format(prefix, index), nic))
    spec["interfaces"] = nics if spec.get("interfaces") is not None else None
    managed = set()
    if spec["disks"] is not None:
        managed.add("disk")
    if spec["interfaces"] is not None:
        managed.add("interface")
    if spec.get("graphics") is not None:
        managed.add("graphics")
    for key in ("graphics_password", "graphics_listen"):
        # Never quote the value: it may be a secret.
        if spec.get(key) is not None:
            _validate.text(prefix + key, spec[key], secret=key == "graphics_password")
            if spec.get("graphics") not in ("vnc", "spice"):
                raise ValidationError(prefix + key, "needs graphics: vnc or spice")
    password = spec.get("graphics_password")
    if password and spec.get("graphics") == "vnc" and len(password) > 8:
        raise ValidationError(prefix + "graphics_password", "VNC allows at most 8 characters, got {0}".format(len(password)))
    if spec.get("graphics_listen") is not None and not spec["graphics_listen"].strip():
        raise ValidationError(prefix + "graphics_listen", "must be an address, for example 127.0.0.1 or 0.0.0.0")
    spec["_managed"] = managed
    spec["_desired"] = build(spec)
    _cloud_init(spec)
    return spec


def is_q35(machine):
    """Whether a machine type is q35 (the alias or a versioned pc-q35-*)."""
    return machine_matches("q35", machine) or machine == "q35"


def _firmware(spec):
    """secure_boot needs firmware: efi and a q35 machine (SMM is set with it)."""
    prefix = spec["_prefix"]
    if spec.get("secure_boot") is None:
        return
    if spec.get("firmware") != "efi":
        raise ValidationError(prefix + "secure_boot", "needs firmware: efi, got firmware: {0}".format(
            spec.get("firmware") or "(not given)"))
    machine = spec.get("machine")
    if spec["secure_boot"] and machine is not None and not is_q35(machine):
        raise ValidationError(prefix + "machine", "must be q35 (or pc-q35-*) with secure_boot: true (Secure Boot "
                              "needs SMM, which QEMU offers on q35 only), got {0!r}".format(machine))


def check_firmware(spec, resolver, actual):
    """Before anything is touched: secure_boot on the machine the guest will
    have, and UEFI firmware / an emulated TPM on the host (libvirt's domain
    capabilities), naming what to install.  `actual`: the inactive XML,
    None for a new domain."""
    if spec["state"] == "absent" or spec.get("xml") is not None:
        return
    prefix = spec["_prefix"]
    machine = spec.get("machine")
    have_machine = arch = None
    if actual is not None and actual.find("os/type") is not None:
        arch, have_machine = actual.find("os/type").get("arch"), actual.find("os/type").get("machine")
    if spec.get("secure_boot") and machine is None:
        if have_machine is None:
            raise ValidationError(prefix + "machine", "is required with secure_boot: true: give machine: q35 "
                                  "(Secure Boot needs SMM, which QEMU offers on q35 only)")
        if not is_q35(have_machine):
            raise ValidationError(prefix + "machine", "must be q35 with secure_boot: true; the domain has machine {0!r}, "
                                  "give machine: q35".format(have_machine))
    if spec.get("firmware") != "efi" and not spec.get("tpm"):
        return
    virt_type = spec.get("virt_type") or (actual.get("type") if actual is not None else None) or "kvm"
    capabilities, _refusal = resolver.domain_capabilities(arch, machine or have_machine, virt_type)
    if capabilities is None:
        return  # no domain capabilities (test:///), or a refusal left to define time
    if spec.get("firmware") == "efi":
        offered = [v.text for v in capabilities.findall("os/enum[@name='firmware']/value")]
        if "efi" not in offered:
            raise NotFoundError(prefix + "firmware", "efi: the host has no UEFI firmware for {0} guests (machine {1}); "
                                "install the package ovmf (Debian, Ubuntu) or edk2-ovmf (EL, Fedora)".format(
                                    virt_type, capabilities.findtext("machine") or machine or have_machine))
        secure = [v.text for v in capabilities.findall("os/loader/enum[@name='secure']/value")]
        if spec.get("secure_boot") and "yes" not in secure:
            raise NotFoundError(prefix + "secure_boot", "the host's UEFI firmware has no Secure Boot build; install "
                                "the package ovmf (Debian, Ubuntu) or edk2-ovmf (EL, Fedora)")
    if spec.get("tpm"):
        tpm = capabilities.find("devices/tpm")
        backends = [v.text for v in capabilities.findall("devices/tpm/enum[@name='backendModel']/value")]
        if tpm is None or tpm.get("supported") != "yes" or "emulator" not in backends:
            raise NotFoundError(prefix + "tpm", "the host cannot emulate a TPM (libvirt finds no swtpm); install the "
                                "packages swtpm and swtpm-tools")


def _cloud_init(spec):
    """The seed of `cloud_init` (imported only when it is given)."""
    if spec.get("cloud_init") is None:
        return
    if spec["state"] == "absent":
        return
    from ansible_collections.kvmops.hypervisor.plugins.module_utils import _domain_seed  # pylint: disable=import-outside-toplevel

    _domain_seed.validate(spec)


def _clone_from(spec, resolver):
    """clone_from: {domain} (a whole definition to start from) or {pool,
    volume} (a volume as the first disk, the rest from the options given);
    not with xml.  The volume form puts the clone's own volume first in
    `disks`; before the run creates it, the resolver knows it as to be made."""
    clone = spec.get("clone_from")
    if clone is None:
        return
    prefix = spec["_prefix"]
    field = prefix + "clone_from"
    given = sorted(k for k, v in clone.items() if v is not None) if isinstance(clone, dict) else None
    if given not in (["domain"], ["pool", "volume"]):
        raise ValidationError(field, "must be a dict with either the key domain (the domain to clone) or the keys pool "
                              "and volume (the volume to clone as the first disk){0}".format(
                                  ", got " + ", ".join(_validate.shown(str(k)) for k in given) if given else ""))
    if spec.get("xml") is not None:
        raise ValidationError(field, "is mutually exclusive with xml")
    if given == ["domain"]:
        _validate.name(field + ".domain", clone["domain"])
        if clone["domain"] == spec["name"]:
            raise ValidationError(field + ".domain", "{0!r} is the domain itself".format(clone["domain"]))
        return
    _validate.name(field + ".pool", clone["pool"])
    _validate.name(field + ".volume", clone["volume"])
    if spec["state"] == "absent":
        return
    from ansible_collections.kvmops.hypervisor.plugins.module_utils import _domain_clone  # pylint: disable=import-outside-toplevel

    pool = resolver.pool(field + ".pool", clone["pool"])
    source = resolver.volume(field + ".volume", clone["pool"], pool, clone["volume"])
    name, fmt = _domain_clone.volume_name(spec["name"], "vda", source["format"] or "raw", spec["linked"])
    if name == clone["volume"]:
        raise ValidationError(field + ".volume", "{0!r} is the clone's own volume".format(name))
    resolver.expect_volume(clone["pool"], pool, name, fmt)
    spec["disks"] = [{"pool": clone["pool"], "volume": name, "target": "vda"}] + list(spec.get("disks") or [])


def _guest(spec):
    """tags, address_source, wait_for and wait_timeout."""
    prefix = spec["_prefix"]
    if spec.get("tags") is not None:
        from ansible_collections.kvmops.hypervisor.plugins.module_utils._metadata import validate_tags  # pylint: disable=import-outside-toplevel

        spec["tags"] = validate_tags(spec["tags"], prefix + "tags")
    sources = spec.get("address_source")
    if sources is None:
        sources = list(DEFAULT_ADDRESS_SOURCE)
    if not isinstance(sources, list) or not sources:
        raise ValidationError(prefix + "address_source", "must be a non-empty list of {0}".format(", ".join(ADDRESS_SOURCES)))
    for index, source in enumerate(sources):
        if source not in ADDRESS_SOURCES:
            raise ValidationError("{0}address_source[{1}]".format(prefix, index), "must be one of {0}, got {1}".format(
                ", ".join(ADDRESS_SOURCES), _validate.shown(repr(source))))
    spec["address_source"] = list(dict.fromkeys(sources))
    if spec["wait_timeout"] < 0:
        raise ValidationError(prefix + "wait_timeout", "must be 0 or more seconds, got {0}".format(spec["wait_timeout"]))
    if spec.get("wait_for") is not None:
        if spec["wait_for"] not in WAIT_FOR:
            raise ValidationError(prefix + "wait_for", "must be one of {0}, got {1!r}".format(", ".join(WAIT_FOR), spec["wait_for"]))
        if spec["state"] != "running":
            raise ValidationError(prefix + "wait_for", "needs state: running, got state: {0}".format(spec["state"]))
        if spec["wait_for"] == "agent" and spec.get("guest_agent") is False:
            raise ValidationError(prefix + "wait_for", "agent needs the guest agent channel; guest_agent is false")


def _cdrom(field, cdrom):
    """`cdrom` (type raw): a path, or a dict of disk options with string values."""
    if isinstance(cdrom, str):
        return dict(path=cdrom)
    if not isinstance(cdrom, dict):
        raise ValidationError(field, "must be an absolute path or a dict with pool and volume, got {0} {1}".format(
            type(cdrom).__name__, _validate.shown(repr(cdrom))))
    for key, value in cdrom.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError("{0}.{1}".format(field, _validate.shown(str(key))), "must be a string, got {0} {1}".format(
                type(value).__name__, _validate.shown(repr(value))))
    return dict(cdrom)


def _unknown(field, given, known):
    unknown = sorted(set(str(k) for k, v in given.items() if v is not None) - set(known))
    if unknown:
        raise ValidationError(field, "unknown option(s) {0}; accepted: {1}".format(
            ", ".join(map(_validate.shown, unknown)), ", ".join(known)))


def _disk(resolver, field, disk, device):
    _unknown(field, disk, _KNOWN_DISK_KEYS)
    result = dict((k, disk.get(k)) for k in _KNOWN_DISK_KEYS)
    for key in _KNOWN_DISK_KEYS:
        if result[key] is not None:
            _validate.text("{0}.{1}".format(field, key), result[key])
    result["_field"] = field
    if result["target"] is not None and not _TARGET.match(result["target"]):
        raise ValidationError(field + ".target", "{0!r} is not a disk target name; expected vd, sd, hd, xvd or ubd and 1 to 6 "
                              "letters, for example vda, sdb, hdc".format(result["target"]))
    result["device"] = result["device"] or device
    if result["device"] not in ("disk", "cdrom"):
        raise ValidationError(field + ".device", "must be disk or cdrom, got {0!r}".format(result["device"]))
    result["bus"] = result["bus"] or ("sata" if result["device"] == "cdrom" else "virtio")
    if result["bus"] not in ("virtio", "sata", "scsi", "ide", "usb"):
        raise ValidationError(field + ".bus", "must be one of virtio, sata, scsi, ide, usb, got {0!r}".format(result["bus"]))
    if result["path"] is not None:
        if result["pool"] is not None or result["volume"] is not None:
            raise ValidationError(field, "give either path or pool and volume, not both")
        _validate.path(field + ".path", result["path"])
        if not os.path.exists(result["path"]):
            raise NotFoundError(field + ".path", "{0} does not exist".format(_validate.shown(result["path"])))
        return result
    if result["pool"] is None or result["volume"] is None:
        raise ValidationError(field, "needs path, or both pool and volume")
    pool = resolver.pool(field + ".pool", result["pool"])
    volume = resolver.volume(field + ".volume", result["pool"], pool, result["volume"])
    if result["format"] is None and volume["format"]:
        result["format"] = "raw" if volume["format"] == "iso" else volume["format"]
    return result


def _interface(resolver, field, nic):
    """One NIC: exactly one of network, bridge or dev (type direct: macvtap
    on a host interface); `type`, when given, must agree."""
    _unknown(field, nic, _KNOWN_NIC_KEYS)
    result = dict((k, nic.get(k)) for k in _KNOWN_NIC_KEYS)
    for key in _KNOWN_NIC_KEYS:
        if isinstance(result[key], str):
            _validate.text("{0}.{1}".format(field, key), result[key])
    given = [key for key in ("network", "bridge", "dev") if result[key] is not None]
    kind = result["type"]
    if kind == "direct" and result["dev"] is None:
        raise ValidationError(field + ".dev", "is required with type: direct (the host interface macvtap attaches to)")
    if kind is not None and kind not in _NIC_TYPES:
        raise ValidationError(field + ".type", "must be one of {0}, got {1!r}".format(", ".join(_NIC_TYPES), kind))
    if len(given) != 1:
        raise ValidationError(field, "give exactly one of network, bridge or dev (type: direct){0}".format(
            ", got " + " and ".join(given) if given else ""))
    own = {"network": "network", "bridge": "bridge", "dev": "direct"}[given[0]]
    if kind is not None and kind != own:
        raise ValidationError(field + ".type", "is {0} but {1} is given; a {0} interface takes {2}".format(
            kind, given[0], {"network": "network", "bridge": "bridge", "direct": "dev"}[kind]))
    result["type"] = own
    if result["mode"] is not None:
        if own != "direct":
            raise ValidationError(field + ".mode", "needs type: direct (a macvtap mode), got a {0} interface".format(own))
        if result["mode"] not in _DIRECT_MODES:
            raise ValidationError(field + ".mode", "must be one of {0}, got {1!r}".format(", ".join(_DIRECT_MODES), result["mode"]))
    if result["portgroup"] is not None and own != "network":
        raise ValidationError(field + ".portgroup", "needs network (a port group of a libvirt network)")
    if result["mtu"] is not None and not _MTU[0] <= result["mtu"] <= _MTU[1]:
        raise ValidationError(field + ".mtu", "must be {0} to {1}, got {2}".format(_MTU[0], _MTU[1], result["mtu"]))
    if result["mac"] is not None:
        result["mac"] = _validate.mac(field + ".mac", result["mac"])
    if own == "network":
        network = resolver.network(field + ".network", result["network"])
        if result["portgroup"] is not None:
            groups = resolver.portgroups(result["network"], network)
            if result["portgroup"] not in groups:
                raise NotFoundError(field + ".portgroup", "network {0!r} has no port group {1!r} (it has: {2})".format(
                    result["network"], result["portgroup"], ", ".join(groups) or "none"))
    else:
        dev = _validate.ifname("{0}.{1}".format(field, given[0]), result[given[0]])
        if not os.path.isdir(os.path.join("/sys/class/net", dev)):
            what = "bridge" if own == "bridge" else "host interface"
            raise NotFoundError("{0}.{1}".format(field, given[0]), "{0} {1!r} does not exist on the host".format(what, dev))
    result["_field"] = field
    result["_model_given"] = result["model"] is not None
    result["model"] = result["model"] or "virtio"
    return result


def require_definition(spec):
    """A domain that does not exist yet needs memory (or xml) to be defined."""
    if spec.get("xml") is not None or spec.get("memory_mib") is not None or spec.get("clone_from") is not None:
        return
    prefix = spec["_prefix"]
    if not any(spec.get(k) is not None for k in STRUCTURED):
        raise NotFoundError(prefix + "name", "domain {0!r} does not exist; give memory (and vcpus, disks, ...) "
                            "or xml to define it".format(spec["name"]))
    raise ValidationError(prefix + "memory", "is required to define the new domain {0!r}".format(spec["name"]))


def vcpu_limit(capabilities):
    """(max vCPUs, machine) from a <domainCapabilities>; (None, None) when it does not say."""
    if capabilities is None:
        return None, None
    vcpu = capabilities.find("vcpu")
    try:
        limit = int(vcpu.get("max")) if vcpu is not None else None
    except (TypeError, ValueError):
        limit = None
    return limit, capabilities.findtext("machine")


def check_capabilities(spec, resolver, actual):
    """Before anything is touched: the machine type and the number of vCPUs
    against libvirt's domain capabilities for this guest (its architecture,
    virt type and machine), which libvirt would only refuse at define time,
    with messages that do not name the option.  `actual`: the domain's
    inactive XML, None when it does not exist.  An unchanged machine is not
    checked (QEMU may have dropped an old one the definition still names)."""
    if spec["state"] == "absent" or spec.get("xml") is not None:
        return
    prefix = spec["_prefix"]
    machine, vcpus = spec.get("machine"), spec.get("vcpus")
    if machine is None and vcpus is None:
        return
    arch, have_machine, virt_type = None, None, spec.get("virt_type")
    if actual is not None:
        os_type = actual.find("os/type")
        if os_type is not None:
            arch, have_machine = os_type.get("arch"), os_type.get("machine")
        virt_type = virt_type or actual.get("type")
    virt_type = virt_type or "kvm"
    new_machine = machine is not None and not (have_machine and machine_matches(machine, have_machine))
    if not new_machine and vcpus is None:
        return
    capabilities, refusal = resolver.domain_capabilities(arch, machine if new_machine else have_machine, virt_type)
    if refusal is not None:
        if new_machine and "machine" in refusal.lower():
            raise ValidationError(prefix + "machine", "{0!r} is not a machine type libvirt offers for {1} guests: {2}".format(
                machine, virt_type, refusal))
        return  # left to define time, where a refusal names the option (_domain_errors)
    limit, expanded = vcpu_limit(capabilities)
    if vcpus is not None and limit is not None and vcpus > limit:
        raise ValidationError(prefix + "vcpus", "must be at most {0} with machine {1} ({2} guests; libvirt's limit), got {3}".format(
            limit, expanded or machine or have_machine, virt_type, vcpus))
