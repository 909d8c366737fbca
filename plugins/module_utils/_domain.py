# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's back end: validate every domain spec, plan each domain
(definition, autostart, lifecycle), then apply the plans over one
connection.  Check mode runs the same path and skips only the writes."""

from __future__ import annotations

import os
import re
import time
import unicodedata

from ansible_collections.kvmops.hypervisor.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import (
    assign_targets,
    build,
    compare,
    describe,
    machine_matches,
    managed_kinds,
    mask,
    parse_user_xml,
    secrets_in,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import (
    KvmError,
    LibvirtError,
    NotFoundError,
    ValidationError,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import (
    ConcurrentChangeError,
    ConnectionLostError,
    libvirt,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._size import parse_mib
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import etree, parse, to_string

STATES = ("present", "running", "shutdown", "destroyed", "paused", "absent")
# Options that describe the definition; `xml` replaces all of them.
STRUCTURED = ("vcpus", "memory", "virt_type", "machine", "cpu_mode", "firmware",
              "disks", "cdrom", "boot", "interfaces", "graphics", "graphics_password", "graphics_listen")
# Every per-domain option (the `domains` items take the same ones).
ITEM_KEYS = ("name", "state", "xml", "autostart", "shutdown_timeout", "force",
             "remove_storage", "remove_nvram") + STRUCTURED
DEFAULTS = dict(state="running", shutdown_timeout=60, force=False, remove_storage=False, remove_nvram=False)

# \Z, not $: "$" also matches before a final newline.
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}\Z")
# Disk target names libvirt can turn into a unit number (virDiskNameParse):
# a prefix, then 1 to 6 letters (7 overflow its int).  libvirt does not tie
# the prefix to the bus (hdc on sata is a valid, old-style definition), and
# QEMU refuses a partition number ("vda1") and fd* names for disks.
_TARGET = re.compile(r"^(vd|sd|hd|xvd|ubd)[a-z]{1,6}\Z")
# libvirt keeps memory sizes in bytes below 2**63 (virMemoryMaxValue, capped).
_MAX_MEMORY_MIB = (2 ** 63 - 1) // 1024 ** 2
# Linux IFNAMSIZ (16) with the terminating NUL.
_IFNAMSIZ = 15
_POLL_SECONDS = 0.25


def shown(value):
    """A value for a one-line message: as it is when every character prints,
    else quoted with escapes (a newline would split the message)."""
    return value if value.isprintable() else repr(value)


def _not_xml_text(text):
    """The first character of `text` that has no place in a libvirt name or in
    XML text (lxml refuses C0 controls, surrogates, U+FFFE/U+FFFF; libvirt
    refuses a newline in a name): every control character (Unicode Cc: C0,
    DEL, C1), surrogates, non-characters, and line/paragraph separators."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in "\ufffe\uffff":
            return char
    return None


def check_text(field, value, secret=False):
    """A string option that goes into the domain XML or to libvirt as a C
    string: no control characters.  `secret`: never quote the value."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string, got {0}".format(type(value).__name__))
    char = _not_xml_text(value)
    if char is not None:
        if secret:
            raise ValidationError(field, "must not contain control characters")
        raise ValidationError(field, "{0!r} must not contain control characters ({1!r})".format(value, char))
    return value


def validate_name(field, name):
    """A domain name as libvirt takes it, and safely: not blank, not '.' or
    '..', no '/' and no control characters.

    libvirt refuses a '/' ("name cannot contain '/'") and a newline ("invalid
    char in name") itself; lxml refuses NUL and most other control characters
    (the module crashed); and libvirt names files and directories after a
    domain (/etc/libvirt/qemu/NAME.xml, /var/lib/libvirt/qemu/snapshot/NAME,
    ...): undefining a domain named '..' deleted libvirt's snapshot/ directory.
    A blank name is accepted by libvirt but names nothing one can type."""
    if not name:
        raise ValidationError(field, "is required")
    if not isinstance(name, str):
        raise ValidationError(field, "must be a string, got {0}".format(type(name).__name__))
    if not name.strip():
        raise ValidationError(field, "must not be blank, got {0!r}".format(name))
    if name in (".", ".."):
        raise ValidationError(field, "{0!r} is not a valid domain name (libvirt names files after domains)".format(name))
    if "/" in name:
        raise ValidationError(field, "must not contain '/', got {0!r}".format(name))
    char = _not_xml_text(name)
    if char is not None:
        raise ValidationError(field, "{0!r} must not contain control characters ({1!r})".format(name, char))
    return name


def validate_ifname(field, name):
    """A host interface name as the kernel takes it (dev_valid_name): 1 to 15
    bytes, not '.' or '..', no '/', ':' or white space; and no control
    characters ('.' passed the /sys/class/net/NAME check: it is a directory)."""
    check_text(field, name)
    if not name:
        raise ValidationError(field, "must not be empty")
    if name in (".", ".."):
        raise ValidationError(field, "{0!r} is not an interface name".format(name))
    if len(name.encode("utf-8")) > _IFNAMSIZ:
        raise ValidationError(field, "{0!r} is longer than {1} bytes (IFNAMSIZ)".format(name, _IFNAMSIZ))
    bad = next((c for c in name if c in "/:" or c.isspace()), None)
    if bad is not None:
        raise ValidationError(field, "{0!r} is not an interface name: it contains {1!r}".format(name, bad))
    return name


def _vir(name, default=0):
    return getattr(libvirt, name, default)


def _inactive_secure():
    """XMLDesc flags: the persistent definition, with console passwords
    (without VIR_DOMAIN_XML_SECURE libvirt leaves them out, and a redefinition
    from that XML would drop them)."""
    return _vir("VIR_DOMAIN_XML_INACTIVE", 2) | _vir("VIR_DOMAIN_XML_SECURE", 1)


def secret_values(params):
    """Console passwords in the `xml` options (top level and `domains` items),
    for main() to add to the module's no_log values: Ansible echoes `xml` in
    the invocation.  XML that does not parse has none (validation reports it)."""
    found = set()
    texts = [params.get("xml")] + [item.get("xml") for item in params.get("domains") or [] if item]
    for text in texts:
        if not text:
            continue
        try:
            found |= secrets_in(parse(text))
        except (etree.XMLSyntaxError, ValueError):
            continue  # validate() reports it, naming the field
    return found


def item_specs(params):
    """[(field prefix, spec dict)] from module params: the single form, or
    one per `domains` item with the top-level options as defaults."""
    top = dict((k, params.get(k)) for k in ITEM_KEYS)
    if not params.get("domains"):
        return [("", _with_defaults(top))]
    specs = []
    for index, item in enumerate(params["domains"]):
        own = dict((k, v) for k, v in item.items() if v is not None)
        spec = dict(top)
        if own.get("xml") is not None:
            # A whole definition: structured defaults from the top level do not apply.
            for key in STRUCTURED:
                spec[key] = None
        spec.update(own)
        specs.append(("domains[{0}].".format(index), _with_defaults(spec)))
    return specs


def _with_defaults(spec):
    for key, value in DEFAULTS.items():
        if spec.get(key) is None:
            spec[key] = value
    return spec


class Resolver:
    """Look-ups of what specs refer to, cached for the whole run."""

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
                self._volumes[key] = {"format": xml.find("target/format").get("type") if xml.find("target/format") is not None else None,
                                      "path": xml.findtext("target/path")}
        if self._volumes[key] is None:
            raise NotFoundError(field, "volume {0!r} does not exist in pool {1!r}".format(name, pool_name))
        return self._volumes[key]

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
                    self._capabilities[key] = (None, one_line(e.get_error_message() or str(e)))
        return self._capabilities[key]

    def network(self, field, name):
        if name not in self._networks:
            self._networks[name] = self.connection.network(name)
        if self._networks[name] is None:
            raise NotFoundError(field, "network {0!r} does not exist".format(name))
        return self._networks[name]


def validate(prefix, spec, resolver):
    """Normalise one spec in place; raise ValidationError/NotFoundError naming the field."""
    name = validate_name(prefix + "name", spec.get("name"))
    if spec["state"] not in STATES:
        raise ValidationError(prefix + "state", "must be one of {0}, got {1!r}".format(", ".join(STATES), spec["state"]))
    if spec["shutdown_timeout"] < 0:
        raise ValidationError(prefix + "shutdown_timeout", "must be 0 or more seconds, got {0}".format(spec["shutdown_timeout"]))
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
        return spec
    if spec.get("vcpus") is not None and spec["vcpus"] < 1:
        raise ValidationError(prefix + "vcpus", "must be 1 or more, got {0}".format(spec["vcpus"]))
    if spec.get("machine") is not None:
        check_text(prefix + "machine", spec["machine"])
        if not spec["machine"].strip():
            raise ValidationError(prefix + "machine", "must not be blank, got {0!r}".format(spec["machine"]))
    if spec.get("memory") is not None:
        check_text(prefix + "memory", spec["memory"])
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
            check_text(prefix + key, spec[key], secret=key == "graphics_password")
            if spec.get("graphics") not in ("vnc", "spice"):
                raise ValidationError(prefix + key, "needs graphics: vnc or spice")
    password = spec.get("graphics_password")
    if password and spec.get("graphics") == "vnc" and len(password) > 8:
        raise ValidationError(prefix + "graphics_password", "VNC allows at most 8 characters, got {0}".format(len(password)))
    if spec.get("graphics_listen") is not None and not spec["graphics_listen"].strip():
        raise ValidationError(prefix + "graphics_listen", "must be an address, for example 127.0.0.1 or 0.0.0.0")
    spec["_managed"] = managed
    spec["_desired"] = build(spec)
    return spec


_KNOWN_DISK_KEYS = ("pool", "volume", "path", "bus", "device", "format", "target")


def _cdrom(field, cdrom):
    """`cdrom` (type raw): a path, or a dict of disk options with string values."""
    if isinstance(cdrom, str):
        return dict(path=cdrom)
    if not isinstance(cdrom, dict):
        raise ValidationError(field, "must be an absolute path or a dict with pool and volume, got {0} {1}".format(
            type(cdrom).__name__, shown(repr(cdrom))))
    for key, value in cdrom.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError("{0}.{1}".format(field, shown(str(key))), "must be a string, got {0} {1}".format(
                type(value).__name__, shown(repr(value))))
    return dict(cdrom)


def _disk(resolver, field, disk, device):
    unknown = sorted(set(str(k) for k, v in disk.items() if v is not None) - set(_KNOWN_DISK_KEYS))
    if unknown:
        raise ValidationError(field, "unknown option(s) {0}; accepted: {1}".format(", ".join(map(shown, unknown)), ", ".join(_KNOWN_DISK_KEYS)))
    result = dict((k, disk.get(k)) for k in _KNOWN_DISK_KEYS)
    for key in _KNOWN_DISK_KEYS:
        if result[key] is not None:
            check_text("{0}.{1}".format(field, key), result[key])
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
        if not os.path.isabs(result["path"]):
            raise ValidationError(field + ".path", "must be an absolute path, got {0!r}".format(result["path"]))
        if not os.path.exists(result["path"]):
            raise NotFoundError(field + ".path", "{0} does not exist".format(shown(result["path"])))
        return result
    if result["pool"] is None or result["volume"] is None:
        raise ValidationError(field, "needs path, or both pool and volume")
    pool = resolver.pool(field + ".pool", result["pool"])
    volume = resolver.volume(field + ".volume", result["pool"], pool, result["volume"])
    if result["format"] is None and volume["format"] and volume["format"] != "iso":
        result["format"] = volume["format"]
    if result["format"] is None and volume["format"] == "iso":
        result["format"] = "raw"
    return result


_KNOWN_NIC_KEYS = ("network", "bridge", "model", "mac")


def _interface(resolver, field, nic):
    unknown = sorted(set(str(k) for k, v in nic.items() if v is not None) - set(_KNOWN_NIC_KEYS))
    if unknown:
        raise ValidationError(field, "unknown option(s) {0}; accepted: {1}".format(", ".join(map(shown, unknown)), ", ".join(_KNOWN_NIC_KEYS)))
    result = dict((k, nic.get(k)) for k in _KNOWN_NIC_KEYS)
    for key in _KNOWN_NIC_KEYS:
        if result[key] is not None:
            check_text("{0}.{1}".format(field, key), result[key])
    if (result["network"] is None) == (result["bridge"] is None):
        raise ValidationError(field, "give exactly one of network or bridge")
    if result["bridge"] is not None:
        validate_ifname(field + ".bridge", result["bridge"])
    if result["mac"] is not None and not _MAC.match(result["mac"]):
        raise ValidationError(field + ".mac", "{0!r} is not a MAC address like 52:54:00:12:34:56".format(result["mac"]))
    if result["network"] is not None:
        resolver.network(field + ".network", result["network"])
    elif not os.path.isdir(os.path.join("/sys/class/net", result["bridge"])):
        raise NotFoundError(field + ".bridge", "bridge {0!r} does not exist on the host".format(result["bridge"]))
    result["_field"] = field
    result["_model_given"] = result["model"] is not None
    result["model"] = result["model"] or "virtio"
    return result


def one_line(text):
    """libvirt's message on one line (some span several)."""
    return " ".join(str(text).split())


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


# What libvirt's refusal of a structured definition is about: (words in its
# message, lower case), the options it names (those the user gave; the first
# one when none was given), and whether one must have been given.
_REFUSALS = (
    (("cpus", "vcpu"), ("vcpus", "machine"), False),
    (("machine", "pci bus"), ("machine",), True),
    (("domaintype", "virt type", "virttype"), ("virt_type",), False),
    (("firmware", "loader", "nvram"), ("firmware",), True),
    (("cpu mode", "host-passthrough", "host-model", "host cpu"), ("cpu_mode",), True),
    (("graphics", "vnc", "spice", "passwd", "listen"), ("graphics", "graphics_password", "graphics_listen"), True),
    (("memory", "value too large", "overflow"), ("memory",), True),
)
_QUOTED_DISK_KEYS = ("target", "format", "path", "volume", "pool", "bus")
_QUOTED_NIC_KEYS = ("model", "mac", "network", "bridge")


def refused_fields(spec, message, prefix=""):
    """The options (field names, with `prefix`) libvirt's refusal to define `spec` is
    about, from its message and what the spec gave; [] when unknown.

    libvirt checks some things only at define time, naming XML rather than
    options: an unknown machine type ("No PCI buses available"), too many
    vCPUs for the machine ("Maximum CPUs greater than specified machine type
    limit 255"), a target it cannot place ("Unknown disk name 'zzz'")."""
    if spec.get("xml") is not None:
        return [prefix + "xml"]
    # A value of a device quoted in the message ("Unknown disk name 'zzz'",
    # "unknown driver format value 'bogus'").
    for key, kind, keys in (("disks", "_field", _QUOTED_DISK_KEYS), ("interfaces", "_field", _QUOTED_NIC_KEYS)):
        for device in spec.get(key) or []:
            for name in keys:
                if device.get(name) and "'{0}'".format(device[name]) in message:
                    return ["{0}.{1}".format(device[kind], name)]
    text = message.lower()
    if "model" in text:
        models = ["{0}.model".format(nic["_field"]) for nic in spec.get("interfaces") or [] if nic.get("_model_given")]
        if models:
            return models
    for words, fields, needs_given in _REFUSALS:
        if any(word in text for word in words):
            given = [f for f in fields if spec.get(f) is not None]
            if given or not needs_given:
                return [prefix + f for f in given or fields[:1]]
    return []


def _state_name(code):
    if code in (_vir("VIR_DOMAIN_RUNNING", 1), _vir("VIR_DOMAIN_BLOCKED", 2)):
        return "running"
    if code in (_vir("VIR_DOMAIN_PAUSED", 3), _vir("VIR_DOMAIN_PMSUSPENDED", 7)):
        return "paused"
    if code == _vir("VIR_DOMAIN_SHUTDOWN", 4):
        return "shutting-down"
    return "shutoff"


def undefine_flags(definition, remove_nvram):
    """Flags for virDomainUndefineFlags.  A UEFI domain (one with NVRAM, a
    loader or firmware='efi') cannot be undefined without saying what to do
    with its NVRAM: delete it with remove_nvram, else keep it."""
    flags = _vir("VIR_DOMAIN_UNDEFINE_MANAGED_SAVE", 1) | _vir("VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA", 2)
    os_el = definition.find("os")
    uefi = os_el is not None and (os_el.get("firmware") == "efi" or os_el.find("nvram") is not None
                                  or os_el.find("loader") is not None)
    if uefi:
        flags |= _vir("VIR_DOMAIN_UNDEFINE_NVRAM", 4) if remove_nvram else _vir("VIR_DOMAIN_UNDEFINE_KEEP_NVRAM", 8)
    return flags


class DomainReconciler:
    """Plans and applies one domain spec.  Never calls exit_json/fail_json."""

    def __init__(self, connection, spec, check_mode, prefix=""):
        self.connection = connection
        self.spec = spec
        self.check_mode = check_mode
        self.prefix = prefix
        self.name = spec["name"]
        self.tracker = DifferenceTracker()
        self.restart_required = False
        self.dom = None
        self.definition = None   # the inactive XML after this run (predicted in check mode)
        self.state = "absent"

    def _call(self, action, func, *args):
        return self.connection.call("{0}domain {1}: {2}".format(self.prefix and self.prefix[:-1] + ": ", self.name, action), func, *args)

    def lookup(self):
        self.dom = self.connection.domain(self.name)
        return self.dom

    def run(self):
        """Plan and (unless check mode) apply; lookup() must have run."""
        if self.spec["state"] == "absent":
            self._absent()
        else:
            self._define()
            self._autostart()
            self._lifecycle()
        return self.result()

    # -- definition ------------------------------------------------------
    def _define(self):
        spec = self.spec
        if self.dom is None:
            desired = self._new_definition()
            self.tracker.add("definition", None, to_string(mask(desired)))
            if self.check_mode:
                self.definition = desired
                return
            self.dom = self._write("define", desired)
            self._reload()
            return
        actual = parse(self._call("read definition", self.dom.XMLDesc, _inactive_secure()))
        self.state = _state_name(self._call("read state", self.dom.state)[0])
        differences, merged = compare(spec["_desired"], actual, spec["_managed"])
        for path, want, have in differences:
            self.tracker.add(path, have, want)
        if not differences:
            self.definition = actual
            return
        if self.state != "shutoff":
            self.restart_required = True
        if self.check_mode:
            self.definition = merged
            return
        self.dom = self._write("redefine", merged)
        self._reload()

    def _write(self, action, definition):
        """defineXML; a refusal that is about options names them (libvirt's
        own message follows)."""
        try:
            return self._call(action, self.connection.conn.defineXML, to_string(definition))
        except (ConnectionLostError, ConcurrentChangeError):
            raise
        except LibvirtError as e:
            get = getattr(e.error, "get_error_message", None)
            message = one_line((get() if get else None) or e.error)
            fields = refused_fields(self.spec, message, self.prefix)
            if not fields:
                raise
            raise ValidationError(", ".join(fields), "libvirt refused to {0} domain {1!r}: {2}".format(
                action, self.name, message))

    def check_capabilities(self, resolver):
        """Before anything is touched: the machine type and the number of
        vCPUs against libvirt's domain capabilities for this guest (its
        architecture, virt type and machine), which libvirt would only refuse
        at define time, with messages that do not name the option.  An
        unchanged machine is not checked (QEMU may have dropped an old one the
        definition still names)."""
        spec = self.spec
        if spec["state"] == "absent" or spec.get("xml") is not None:
            return
        machine, vcpus = spec.get("machine"), spec.get("vcpus")
        if machine is None and vcpus is None:
            return
        arch, have_machine, virt_type = None, None, spec.get("virt_type")
        if self.dom is not None:
            actual = parse(self._call("read definition", self.dom.XMLDesc, _vir("VIR_DOMAIN_XML_INACTIVE", 2)))
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
                raise ValidationError(self.prefix + "machine", "{0!r} is not a machine type libvirt offers for {1} guests: {2}".format(
                    machine, virt_type, refusal))
            return  # left to define time, where a refusal names the option (_write)
        limit, expanded = vcpu_limit(capabilities)
        if vcpus is not None and limit is not None and vcpus > limit:
            raise ValidationError(self.prefix + "vcpus", "must be at most {0} with machine {1} ({2} guests; libvirt's limit), got {3}".format(
                limit, expanded or machine or have_machine, virt_type, vcpus))

    def _new_definition(self):
        spec = self.spec
        if spec.get("xml") is not None:
            return spec["_desired"]
        if spec.get("memory_mib") is None:
            if not any(spec.get(k) is not None for k in STRUCTURED):
                raise NotFoundError(self.prefix + "name", "domain {0!r} does not exist; give memory (and vcpus, disks, ...) "
                                    "or xml to define it".format(self.name))
            raise ValidationError(self.prefix + "memory", "is required to define the new domain {0!r}".format(self.name))
        return build(spec, new=True)

    def _reload(self):
        self.definition = parse(self._call("read definition", self.dom.XMLDesc, _inactive_secure()))

    # -- autostart -------------------------------------------------------
    def _autostart(self):
        want = self.spec.get("autostart")
        if want is None:
            return
        have = bool(self._call("read autostart", self.dom.autostart)) if self.dom is not None else False
        if self.tracker.add("autostart", have, want) and not self.check_mode:
            self._call("set autostart", self.dom.setAutostart, 1 if want else 0)

    # -- lifecycle -------------------------------------------------------
    def _lifecycle(self):
        want = self.spec["state"]
        # A domain defined by this check-mode run does not exist yet: it would be shut off.
        have = _state_name(self._call("read state", self.dom.state)[0]) if self.dom is not None else "shutoff"
        if want == "present":
            self.state = have
            return
        target = {"running": "running", "paused": "paused", "shutdown": "shutoff", "destroyed": "shutoff"}[want]
        if have == "shutting-down" and target != "shutoff":
            have = "running"
        if have == target:
            self.state = have
            return
        self.tracker.add("state", have, target)
        self.state = target
        if self.check_mode:
            return
        if target == "running":
            if have == "paused":
                self._call("resume", self.dom.resume)
            else:
                self._call("start", self.dom.create)
        elif target == "paused":
            if have == "shutoff":
                self._call("start paused", self.dom.createWithFlags, _vir("VIR_DOMAIN_START_PAUSED", 1))
            else:
                self._call("suspend", self.dom.suspend)
        elif want == "destroyed":
            self._call("destroy", self.dom.destroy)
        else:
            self._shutdown(have)

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
            raise KvmError("{0}state: domain {1!r} did not shut down within shutdown_timeout={2} seconds; "
                           "set force: true to destroy it after the timeout".format(self.prefix, self.name, timeout))
        self._call("destroy after shutdown_timeout", self.dom.destroy)

    # -- absent ----------------------------------------------------------
    def _absent(self):
        if self.dom is None:
            return
        actual = parse(self._call("read definition", self.dom.XMLDesc, _inactive_secure()))
        self.definition = actual
        self.state = _state_name(self._call("read state", self.dom.state)[0])
        storage = self._storage(actual) if self.spec["remove_storage"] else []
        nvram = actual.findtext("os/nvram") if self.spec["remove_nvram"] else None
        self.tracker.add("state", self.state, "absent")
        for path in storage:
            self.tracker.add("storage[{0}]".format(path), "present", "absent")
        if nvram:
            self.tracker.add("nvram[{0}]".format(nvram.strip()), "present", "absent")
        self.state = "absent"
        if self.check_mode:
            return
        if self._call("read state", self.dom.isActive):
            self._call("destroy", self.dom.destroy)
        self._call("undefine", self.dom.undefineFlags, undefine_flags(actual, self.spec["remove_nvram"]))
        self.dom = None
        for path in storage:
            self._remove_storage(path)

    def _storage(self, actual):
        """Paths of the domain's disk images (device disk; CD-ROM media are kept)."""
        paths = []
        for disk in actual.findall("devices/disk"):
            if disk.get("device", "disk") != "disk":
                continue
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
            domain["autostart"] = self._autostart_now()
        return {
            "name": self.name,
            "changed": self.tracker.changed,
            "domain": domain,
            "restart_required": self.restart_required,
            "diff": self.tracker.diff(),
        }

    def _autostart_now(self):
        if self.spec.get("autostart") is not None:
            return bool(self.spec["autostart"])
        if self.dom is None:
            return False
        return bool(self._call("read autostart", self.dom.autostart))


def reconcile(connection, params, check_mode):
    """Validate every spec, then reconcile each domain in order.

    Returns the module result: the single form returns `domain`,
    `restart_required` and `diff`; the `domains` form returns `domains`,
    one entry per item.
    """
    resolver = Resolver(connection)
    specs = item_specs(params)
    names = {}
    for prefix, spec in specs:
        validate(prefix, spec, resolver)
        if spec["name"] in names:
            raise ValidationError(prefix + "name", "{0!r} is already given in {1}name".format(spec["name"], names[spec["name"]]))
        names[spec["name"]] = prefix
    # Domains to be created need a definition: check that before touching any.
    reconcilers = [DomainReconciler(connection, spec, check_mode, prefix) for prefix, spec in specs]
    for item in reconcilers:
        if item.lookup() is None and item.spec["state"] != "absent":
            item._new_definition()
        item.check_capabilities(resolver)
    results = [item.run() for item in reconcilers]
    if not params.get("domains"):
        single = results[0]
        return dict(changed=single["changed"], domain=single["domain"],
                    restart_required=single["restart_required"], diff=single["diff"])
    return dict(
        changed=any(r["changed"] for r in results),
        domains=results,
        restart_required=any(r["restart_required"] for r in results),
        diff=dict(before=dict((r["name"], r["diff"]["before"]) for r in results if r["changed"]),
                  after=dict((r["name"], r["diff"]["after"]) for r in results if r["changed"])),
    )
