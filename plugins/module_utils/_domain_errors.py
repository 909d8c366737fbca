# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's refusals of a domain definition, mapped to the options they are
about.  libvirt checks some things only at define time and names XML rather
than options: an unknown machine type ("No PCI buses available"), too many
vCPUs for the machine ("Maximum CPUs greater than specified machine type
limit 255"), a target it cannot place ("Unknown disk name 'zzz'")."""

from __future__ import annotations

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import LibvirtError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import (
    ConcurrentChangeError,
    ConnectionLostError,
    UnreachableError,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import one_line

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
_QUOTED_NIC_KEYS = ("model", "mac", "network", "bridge", "dev", "portgroup")


def refused_fields(spec, message, prefix=""):
    """The options (field names, with `prefix`) libvirt's refusal to define
    `spec` is about, from its message and what the spec gave; [] when unknown."""
    if spec.get("xml") is not None:
        return [prefix + "xml"]
    # A value of a device quoted in the message ("Unknown disk name 'zzz'",
    # "unknown driver format value 'bogus'").
    for key, keys in (("disks", _QUOTED_DISK_KEYS), ("interfaces", _QUOTED_NIC_KEYS)):
        for device in spec.get(key) or []:
            for name in keys:
                if device.get(name) and "'{0}'".format(device[name]) in message:
                    return ["{0}.{1}".format(device["_field"], name)]
    text = message.lower()
    if "mtu" in text:  # "setting MTU on interface type direct is not supported yet"
        mtus = ["{0}.mtu".format(nic["_field"]) for nic in spec.get("interfaces") or [] if nic.get("mtu") is not None]
        if mtus:
            return mtus[:1] if "direct" not in text else [
                "{0}.mtu".format(nic["_field"]) for nic in spec["interfaces"] if nic.get("mtu") is not None
                and nic.get("type") == "direct"] or mtus[:1]
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


def define_refusal(spec, action, error):
    """A ValidationError naming the options when libvirt's refusal (a
    LibvirtError from defineXML) is about them, else None (raise the original)."""
    if not isinstance(error, LibvirtError) or isinstance(error, (ConcurrentChangeError, ConnectionLostError, UnreachableError)):
        return None  # lost connection, concurrent change: not about the options
    get = getattr(error.error, "get_error_message", None)
    message = one_line((get() if get else None) or error.error)
    fields = refused_fields(spec, message, spec.get("_prefix", ""))
    if not fields:
        return None
    return ValidationError(", ".join(fields), "libvirt refused to {0} domain {1!r}: {2}".format(action, spec["name"], message))
