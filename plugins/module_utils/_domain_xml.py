# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain XML: build the desired definition from structured options, compare
it with libvirt's inactive XML, merge it into that XML, and describe a
definition for the module's return values.

Comparison is a subset comparison (plugins/module_utils/_xml.py) with three
refinements that generic positional matching cannot get right for domains:

* devices are matched by identity, not position: disks by target dev,
  interfaces by MAC (by position among the rest when no MAC is given),
  graphics by type;
* a device kind the user specified (disks, interfaces, graphics) is the
  whole list of that kind: devices of that kind not in the list are removed
  from the definition (their storage is never touched);
* the boot order is compared as a list, and a machine alias (``pc``,
  ``q35``) matches the versioned machine libvirt expanded it to.

Secrets: a console password (``<graphics passwd=...>``) is only in the XML
libvirt returns with VIR_DOMAIN_XML_SECURE, so the caller must read that
form.  A password is compared on its own (an empty one asks for none), and
every difference, diff and description this module produces carries
``MASK`` instead of a password, old or new.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import (
    etree,
    merge_into,
    parse,
    subset_differences,
    to_string,
)

# Attributes that hold secrets (libvirt's <graphics passwd=...> for VNC and SPICE).
SECRET_ATTRIBUTES = ("passwd",)
MASK = "********"
_SECRET_IN_TEXT = re.compile(r"""\b({0})\s*=\s*(?:'[^']*'|"[^"]*")""".format("|".join(SECRET_ATTRIBUTES)))

# Device kinds matched by identity; every other device tag is matched by
# position among its siblings of the same tag.
MANAGED_DEVICES = ("disk", "interface", "graphics")

_DEV_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}
_BOOT_DEV = {"hd": "hd", "cdrom": "cdrom", "network": "network", "fd": "fd"}
_MACHINE_ALIASES = {"pc": "pc-i440fx-", "q35": "pc-q35-"}
# libvirt memory units -> bytes
_MEM_UNITS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
}


def _sub(parent, tag, attrib=None, text=None):
    element = etree.SubElement(parent, tag)
    for key, value in (attrib or {}).items():
        if value is not None:
            element.set(key, str(value))
    if text is not None:
        element.text = str(text)
    return element


def assign_targets(disks):
    """Fill in `target` for disks that have none: vda, vdb... per bus prefix,
    skipping the names given explicitly.  Works on a list of dicts in place."""
    taken = set(d["target"] for d in disks if d.get("target"))
    for disk in disks:
        if disk.get("target"):
            continue
        prefix = _DEV_PREFIX[disk["bus"]]
        for index in range(26 * 27):
            name = prefix + _dev_suffix(index)
            if name not in taken:
                taken.add(name)
                disk["target"] = name
                break
    return disks


def _dev_suffix(index):
    # 0 -> a, 25 -> z, 26 -> aa (as libvirt/virt-install name them)
    if index < 26:
        return chr(ord("a") + index)
    return chr(ord("a") + index // 26 - 1) + chr(ord("a") + index % 26)


def build(spec, new=False):
    """The desired <domain> from a normalised structured spec.

    Contains only what the user specified (for the subset comparison); with
    new=True, the defaults a fresh definition needs are added as well.
    Disks in `spec["disks"]` must already carry target, bus, device and
    (for volumes) the resolved format.
    """
    root = etree.Element("domain")
    virt_type = spec.get("virt_type") or ("kvm" if new else None)
    if virt_type:
        root.set("type", virt_type)
    _sub(root, "name", text=spec["name"])
    if spec.get("memory_mib"):
        kib = spec["memory_mib"] * 1024
        _sub(root, "memory", {"unit": "KiB"}, kib)
        _sub(root, "currentMemory", {"unit": "KiB"}, kib)
    if spec.get("vcpus") or new:
        _sub(root, "vcpu", text=spec.get("vcpus") or 1)
    if new or spec.get("machine") or spec.get("firmware") or spec.get("boot") is not None:
        os_el = _sub(root, "os", {"firmware": spec.get("firmware")})
        _sub(os_el, "type", {"machine": spec.get("machine")}, "hvm")
        for dev in spec.get("boot") or []:
            _sub(os_el, "boot", {"dev": _BOOT_DEV[dev]})
    if new:
        features = _sub(root, "features")
        _sub(features, "acpi")
        _sub(features, "apic")
        if spec.get("firmware") == "efi":
            # Never Secure Boot by accident: the firmware descriptors offer it first.
            set_secure_boot(root, bool(spec.get("secure_boot")))
    if spec.get("cpu_mode"):
        _sub(root, "cpu", {"mode": spec["cpu_mode"]})
    devices = _sub(root, "devices")
    for disk in spec.get("disks") or []:
        _build_disk(devices, disk)
    for nic in spec.get("interfaces") or []:
        _build_interface(devices, nic)
    graphics = spec.get("graphics")
    if graphics and graphics != "none":
        password = spec.get("graphics_password")
        if new and not password:
            password = None  # an empty password on a new domain: none at all
        element = _sub(devices, "graphics", {"type": graphics, "autoport": "yes" if new else None,
                                             "listen": spec.get("graphics_listen"), "passwd": password})
        if spec.get("graphics_listen"):
            _sub(element, "listen", {"type": "address", "address": spec["graphics_listen"]})
    if new and spec.get("tpm"):
        set_tpm(root, True)
    if new:
        _sub(devices, "console", {"type": "pty"})
        if spec.get("guest_agent") is not False and spec.get("xml") is None:
            set_guest_agent(root, True)
    return root


def add_seed_cdrom(desired, actual, disk, is_seed, domain):
    """Add the cloud-init seed's CD-ROM `disk` to `desired` (in place): on
    the target it has in `actual` when attached, else on the first target of
    its bus free in both definitions."""
    current = None
    if actual is not None:
        current = next((d for d in actual.findall("devices/disk") if is_seed(d, domain)), None)
    if current is not None and current.find("target") is not None:
        disk["target"] = current.find("target").get("dev")
    else:
        taken = set(_target(d) for root in (desired, actual) if root is not None for d in root.findall("devices/disk"))
        disk["target"] = next(name for name in (_DEV_PREFIX[disk["bus"]] + _dev_suffix(i) for i in range(26 * 27))
                              if name not in taken)
    devices = desired.find("devices")
    if devices is None:
        devices = _sub(desired, "devices")
    _build_disk(devices, disk)


# The virtio-serial channel qemu-guest-agent listens on in the guest.
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"


def _agent_channels(root):
    return [channel for channel in root.findall("devices/channel")
            if channel.find("target") is not None and channel.find("target").get("name") == GUEST_AGENT_CHANNEL]


def has_guest_agent(root):
    return bool(_agent_channels(root))


def set_guest_agent(root, want):
    """Add (want) or remove the guest agent channel in `root`, in place; True when it changed."""
    channels = _agent_channels(root)
    if want and not channels:
        devices = root.find("devices")
        if devices is None:
            devices = _sub(root, "devices")
        channel = _sub(devices, "channel", {"type": "unix"})
        _sub(channel, "target", {"type": "virtio", "name": GUEST_AGENT_CHANNEL})
        return True
    if not want and channels:
        for channel in channels:
            channel.getparent().remove(channel)
        return True
    return False


# UEFI firmware features libvirt selects a firmware descriptor by
# (<os firmware='efi'><firmware><feature .../>); Secure Boot needs the
# variables template with keys enrolled, and SMM.
SECURE_BOOT_FEATURES = ("secure-boot", "enrolled-keys")


def secure_boot(root):
    """True/False from the secure-boot firmware feature of a <domain>; None
    when it does not say (libvirt then takes the first descriptor, which on
    Debian is a Secure Boot one)."""
    for feature in root.findall("os/firmware/feature"):
        if feature.get("name") == "secure-boot":
            return feature.get("enabled") == "yes"
    return None


def set_secure_boot(root, want):
    """Ask for a firmware with (want) or without Secure Boot, in place: the
    secure-boot and enrolled-keys features, and SMM on when wanted (left as
    it is otherwise).  A loader or NVRAM template chosen earlier goes, so
    libvirt selects the firmware again.  True when it changed."""
    os_el = root.find("os")
    if os_el is None:
        os_el = _sub(root, "os")
    firmware = os_el.find("firmware")
    if firmware is None:
        firmware = etree.Element("firmware")
        os_type = os_el.find("type")
        os_el.insert(list(os_el).index(os_type) + 1 if os_type is not None else 0, firmware)
    changed = False
    value = "yes" if want else "no"
    for name in SECURE_BOOT_FEATURES:
        feature = next((f for f in firmware.findall("feature") if f.get("name") == name), None)
        if feature is None:
            feature = _sub(firmware, "feature", {"enabled": value, "name": name})
            changed = True
        elif feature.get("enabled") != value:
            feature.set("enabled", value)
            changed = True
    if want:
        features = root.find("features")
        if features is None:
            features = etree.Element("features")
            root.insert(list(root).index(os_el) + 1, features)
        smm = features.find("smm")
        if smm is None:
            smm = _sub(features, "smm")
        if smm.get("state") != "on":
            smm.set("state", "on")
            changed = True
    if changed:
        loader = os_el.find("loader")
        if loader is not None:
            os_el.remove(loader)
        nvram = os_el.find("nvram")
        if nvram is not None and nvram.get("template") is not None:
            del nvram.attrib["template"]
    return changed


def has_tpm(root):
    """Whether the definition has an emulated TPM 2.0 (swtpm)."""
    return any(_is_emulated_tpm(tpm) for tpm in root.findall("devices/tpm"))


def _is_emulated_tpm(tpm):
    backend = tpm.find("backend")
    return backend is not None and backend.get("type") == "emulator" and backend.get("version", "2.0") == "2.0"


def set_tpm(root, want):
    """Add (want) an emulated TPM 2.0 (swtpm, CRB interface) or remove every
    TPM device, in place; True when it changed.  Its state (outside the
    definition) is left alone either way."""
    tpms = root.findall("devices/tpm")
    if want:
        if any(_is_emulated_tpm(tpm) for tpm in tpms):
            return False
        devices = root.find("devices")
        if devices is None:
            devices = _sub(root, "devices")
        for tpm in tpms:  # another kind (passthrough): one TPM per guest
            devices.remove(tpm)
        tpm = _sub(devices, "tpm", {"model": "tpm-crb"})
        _sub(tpm, "backend", {"type": "emulator", "version": "2.0"})
        return True
    for tpm in tpms:
        tpm.getparent().remove(tpm)
    return bool(tpms)


def _build_disk(devices, disk):
    kind = "volume" if disk.get("pool") else "file"
    element = _sub(devices, "disk", {"type": kind, "device": disk["device"]})
    if disk.get("format"):
        _sub(element, "driver", {"name": "qemu", "type": disk["format"]})
    if kind == "volume":
        _sub(element, "source", {"pool": disk["pool"], "volume": disk["volume"]})
    else:
        _sub(element, "source", {"file": disk["path"]})
    _sub(element, "target", {"dev": disk["target"], "bus": disk["bus"]})
    if disk["device"] == "cdrom":
        _sub(element, "readonly")


def _build_interface(devices, nic):
    kind = nic.get("type") or ("network" if nic.get("network") else "bridge")
    element = _sub(devices, "interface", {"type": kind})
    if nic.get("mac"):
        _sub(element, "mac", {"address": nic["mac"].lower()})
    if kind == "direct":
        _sub(element, "source", {"dev": nic["dev"], "mode": nic.get("mode")})
    else:
        _sub(element, "source", {kind: nic[kind], "portgroup": nic.get("portgroup")})
    _sub(element, "model", {"type": nic.get("model") or "virtio"})
    if nic.get("mtu"):
        _sub(element, "mtu", {"size": nic["mtu"]})


def parse_user_xml(field, text):
    """A whole definition given as `xml`; memory sizes normalised to KiB so
    that `<memory unit='MiB'>128</memory>` compares equal to libvirt's form."""
    try:
        root = parse(text)
    except etree.XMLSyntaxError as e:
        raise ValidationError(field, "is not well-formed XML: {0}".format(" ".join(str(e).split())))
    except ValueError as e:  # a lone surrogate does not encode to UTF-8
        raise ValidationError(field, "is not well-formed XML: {0}".format(" ".join(str(e).split())))
    if root.tag != "domain":
        raise ValidationError(field, "the root element must be <domain>, got <{0}>".format(root.tag))
    for tag in ("memory", "currentMemory", "maxMemory"):
        element = root.find(tag)
        if element is None:
            continue
        unit = (element.get("unit") or "KiB").lower()
        if unit not in _MEM_UNITS:
            raise ValidationError(field, "<{0}> has an unknown unit {1!r}".format(tag, element.get("unit")))
        try:
            amount = int((element.text or "").strip())
        except ValueError:
            raise ValidationError(field, "<{0}> must be an integer, got {1!r}".format(tag, element.text))
        element.set("unit", "KiB")
        element.text = str(amount * _MEM_UNITS[unit] // 1024)
    return root


def managed_kinds(desired):
    """Device kinds that the given desired XML specifies (used for `xml`)."""
    devices = desired.find("devices")
    if devices is None:
        return set()
    return set(child.tag for child in devices if child.tag in MANAGED_DEVICES)


def machine_matches(want, have):
    if want == have or have is None:
        return want == have
    prefix = _MACHINE_ALIASES.get(want)
    return bool(prefix and have.startswith(prefix)) or have.startswith(want + "-")


def compare(desired, actual, managed):
    """Return (differences, merged) for a desired and an actual <domain>.

    differences: [(path, want, have)]; merged: a new <domain>, actual with
    desired written over it, keeping what libvirt assigned.  `managed` is
    the set of device kinds whose list is authoritative.
    """
    desired = copy.deepcopy(desired)
    differences = []

    # Machine alias: keep libvirt's expansion when the alias matches it.
    want_type = desired.find("os/type")
    have_type = actual.find("os/type")
    if want_type is not None and have_type is not None and want_type.get("machine"):
        if machine_matches(want_type.get("machine"), have_type.get("machine")):
            want_type.set("machine", have_type.get("machine"))

    # Boot order, as a list.
    want_boot = None
    os_el = desired.find("os")
    if os_el is not None and os_el.find("boot") is not None:
        want_boot = [b.get("dev") for b in os_el.findall("boot")]
        for boot in os_el.findall("boot"):
            os_el.remove(boot)

    devices = desired.find("devices")
    if devices is not None:
        desired.remove(devices)

    differences.extend(subset_differences(desired, actual))
    merged = merge_into(desired, actual)

    if want_boot is not None:
        have_boot = [b.get("dev") for b in actual.findall("os/boot")]
        if want_boot != have_boot:
            differences.append(("domain/os/boot", want_boot, have_boot))
            _replace_boot(merged, want_boot)

    _compare_devices(devices, merged, managed, differences)
    # Secret attributes are compared apart (_compare_secret); this catches one
    # in any other XML text a difference may quote (user XML, unmanaged devices).
    differences = [(path, _mask_value(path, want), _mask_value(path, have)) for path, want, have in differences]
    return differences, merged


def _mask_value(path, value):
    if value is None:
        return None
    if path.rpartition("/@")[2] in SECRET_ATTRIBUTES:
        return value if value in (MASK, MASK + " (new)") else MASK
    return mask_text(value)


def _replace_boot(root, devs):
    os_el = root.find("os")
    if os_el is None:
        os_el = _sub(root, "os")
    for boot in os_el.findall("boot"):
        os_el.remove(boot)
    os_type = os_el.find("type")
    position = list(os_el).index(os_type) + 1 if os_type is not None else 0
    for offset, dev in enumerate(devs):
        os_el.insert(position + offset, etree.Element("boot", dev=dev))
    # libvirt refuses per-device <boot order> together with <os><boot>.
    if devs:
        for order in root.findall("devices/*/boot"):
            order.getparent().remove(order)


def _device_label(element):
    tag = element.tag
    if tag == "disk":
        return "disk[{0}]".format(_target(element))
    if tag == "interface":
        mac = element.find("mac")
        return "interface[{0}]".format(mac.get("address") if mac is not None else "new")
    if tag == "graphics":
        return "graphics[{0}]".format(element.get("type"))
    return tag


def _target(disk):
    target = disk.find("target")
    return target.get("dev") if target is not None else None


def _mac(nic):
    mac = nic.find("mac")
    return (mac.get("address") or "").lower() if mac is not None else None


def _match_devices(tag, wanted, present):
    """Pairs (desired, actual-or-None) and the actual devices left unmatched."""
    left = list(present)
    pairs = []
    pending = []
    for element in wanted:
        key = None
        if tag == "disk":
            key = _target(element)
            match = next((a for a in left if key and _target(a) == key), None)
        elif tag == "interface":
            key = _mac(element)
            match = next((a for a in left if key and _mac(a) == key), None)
        else:
            key = element.get("type")
            match = next((a for a in left if a.get("type") == key), None)
        if match is not None:
            left.remove(match)
            pairs.append((element, match))
        elif key is None and tag != "graphics":
            pending.append(element)
        else:
            pairs.append((element, None))
    # Interfaces without MAC (disks without target): by position among the rest.
    for element in pending:
        match = left.pop(0) if left else None
        pairs.append((element, match))
    return pairs, left


def _compare_devices(devices, merged, managed, differences):
    merged_devices = merged.find("devices")
    if merged_devices is None:
        merged_devices = _sub(merged, "devices")
    wanted_children = list(devices) if devices is not None else []
    for tag in MANAGED_DEVICES:
        wanted = [c for c in wanted_children if c.tag == tag]
        if tag not in managed and not wanted:
            continue
        present = merged_devices.findall(tag)
        pairs, left = _match_devices(tag, wanted, present)
        for element, match in pairs:
            label = _device_label(element)
            if match is None:
                differences.append(("domain/devices/" + label, describe_device(element), None))
                merged_devices.append(_without_empty_secrets(element))
                continue
            label = _device_label(match) if tag == "interface" else label
            if element.get("type") != match.get("type"):
                differences.append(("domain/devices/{0}/@type".format(label), element.get("type"), match.get("type")))
                _replace_device(merged_devices, _without_empty_secrets(element), match)
                continue
            element = copy.deepcopy(element)
            for name in SECRET_ATTRIBUTES:
                _compare_secret("domain/devices/{0}/@{1}".format(label, name), name, element, match, differences)
            if tag == "graphics":
                _compare_listen("domain/devices/{0}/listen".format(label), element, match, differences)
            found = subset_differences(element, match, "domain/devices/" + label)
            if found:
                differences.extend(found)
                _merge_device(element, match)
        if tag in managed:
            for extra in left:
                differences.append(("domain/devices/" + _device_label(extra), None, describe_device(extra)))
                merged_devices.remove(extra)
    # Any other device the user's XML gives: by position among the same tag.
    others = etree.Element("devices")
    for child in wanted_children:
        if child.tag not in MANAGED_DEVICES and isinstance(child.tag, str):
            others.append(copy.deepcopy(child))
    if len(others):
        differences.extend(subset_differences(others, merged_devices, "domain/devices"))
        merged_into = merge_into(others, merged_devices)
        merged.replace(merged_devices, merged_into)


def _compare_secret(path, name, element, match, differences):
    """Compare one secret attribute apart, so that neither value ever reaches
    `differences`; `match` (in the merged definition) is updated in place and
    the attribute taken off `element`.  An empty wanted value asks for none."""
    want = element.attrib.pop(name, None)
    have = match.get(name)
    if want is None or want == (have or ""):
        return
    if want == "":
        differences.append((path, None, MASK))
        del match.attrib[name]
    else:
        differences.append((path, MASK if have is None else MASK + " (new)", None if have is None else MASK))
        match.set(name, want)


def _compare_listen(path, element, match, differences):
    """<listen> children of a graphics device, when given, replace the actual
    ones as a whole: merging an address listen into a network or socket one
    gives XML libvirt refuses.  Taken off `element`; `match` updated in place."""
    wanted = element.findall("listen")
    if not wanted:
        return
    for listen in wanted:
        element.remove(listen)
    want = [dict(listen.attrib) for listen in wanted]
    have = [dict(listen.attrib) for listen in match.findall("listen")]
    if len(want) == len(have) and all(all(h.get(k) == v for k, v in w.items()) for w, h in zip(want, have)):
        return
    differences.append((path, want, have))
    for listen in match.findall("listen"):
        match.remove(listen)
    for listen in wanted:
        match.append(copy.deepcopy(listen))


def _without_empty_secrets(element):
    element = copy.deepcopy(element)
    for name in SECRET_ATTRIBUTES:
        if element.get(name) == "":
            del element.attrib[name]
    return element


def mask(element):
    """A copy of `element` with every secret attribute value replaced by MASK."""
    element = copy.deepcopy(element)
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        for name in SECRET_ATTRIBUTES:
            if node.get(name) is not None:
                node.set(name, MASK)
    return element


def mask_text(value):
    """`value` with any secret attribute in XML text masked (other values unchanged)."""
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(lambda m: "{0}='{1}'".format(m.group(1), MASK), value)
    if isinstance(value, dict):
        return dict((k, mask_text(v)) for k, v in value.items())
    if isinstance(value, list):
        return [mask_text(v) for v in value]
    return value


def secrets_in(element):
    """The values of the secret attributes in `element` (for no_log)."""
    return set(node.get(name) for node in element.iter() if isinstance(node.tag, str)
               for name in SECRET_ATTRIBUTES if node.get(name))


def _merge_device(desired, actual):
    """Write desired over actual in place, keeping what libvirt assigned."""
    merged = merge_into(desired, actual)
    actual.getparent().replace(actual, merged)


def _replace_device(parent, desired, actual):
    """A device whose type changed: take the desired one, keep MAC and address."""
    replacement = copy.deepcopy(desired)
    for keep in ("mac", "address"):
        old = actual.find(keep)
        if old is not None and replacement.find(keep) is None:
            replacement.insert(0, copy.deepcopy(old)) if keep == "mac" else replacement.append(copy.deepcopy(old))
    parent.replace(actual, replacement)


def describe_device(element):
    if element.tag == "disk":
        return describe_disk(element)
    if element.tag == "interface":
        return describe_interface(element)
    if element.tag == "graphics":
        return {"type": element.get("type")}
    return to_string(element).strip()


def describe_disk(disk):
    source = disk.find("source")
    driver = disk.find("driver")
    target = disk.find("target")
    result = {
        "device": disk.get("device", "disk"),
        "type": disk.get("type"),
        "target": target.get("dev") if target is not None else None,
        "bus": target.get("bus") if target is not None else None,
        "format": driver.get("type") if driver is not None else None,
        "path": None,
        "pool": None,
        "volume": None,
    }
    if source is not None:
        result["path"] = source.get("file") or source.get("dev")
        result["pool"] = source.get("pool")
        result["volume"] = source.get("volume")
    return result


def describe_interface(nic):
    source = nic.find("source")
    model = nic.find("model")
    mtu = nic.find("mtu")
    try:
        mtu = int(mtu.get("size")) if mtu is not None else None
    except (TypeError, ValueError):
        mtu = None

    def attribute(name):
        return source.get(name) if source is not None else None

    return {
        "type": nic.get("type"),
        "network": attribute("network"),
        "bridge": attribute("bridge"),
        "dev": attribute("dev") if nic.get("type") == "direct" else None,
        "mode": attribute("mode") if nic.get("type") == "direct" else None,
        "portgroup": attribute("portgroup"),
        "model": model.get("type") if model is not None else None,
        "mac": _mac(nic),
        "mtu": mtu,
    }


def describe(root):
    """The `domain` return value's definition part, from a <domain>."""
    memory = root.find("memory")
    mib = None
    if memory is not None and (memory.text or "").strip():
        unit = (memory.get("unit") or "KiB").lower()
        mib = int(memory.text.strip()) * _MEM_UNITS.get(unit, 1024) // (1024 ** 2)
    vcpu = root.find("vcpu")
    os_type = root.find("os/type")
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "virt_type": root.get("type"),
        "vcpus": int(vcpu.text) if vcpu is not None and (vcpu.text or "").strip() else None,
        "memory_mib": mib,
        "machine": os_type.get("machine") if os_type is not None else None,
        "boot": [b.get("dev") for b in root.findall("os/boot")],
        "disks": [describe_disk(d) for d in root.findall("devices/disk")],
        "interfaces": [describe_interface(n) for n in root.findall("devices/interface")],
        "graphics": [g.get("type") for g in root.findall("devices/graphics")],
        "firmware": _firmware(root),
        "secure_boot": secure_boot(root) if _firmware(root) == "efi" else False,
        "tpm": has_tpm(root),
    }


def _firmware(root):
    """efi or bios: <os firmware=...>, or a loader of type pflash (a UEFI given by path)."""
    os_el = root.find("os")
    if os_el is None:
        return "bios"
    if os_el.get("firmware"):
        return os_el.get("firmware")
    loader = os_el.find("loader")
    return "efi" if loader is not None and loader.get("type") == "pflash" else "bios"
