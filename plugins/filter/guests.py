# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role kvm_guests's list of guests -> what kvm_volume and kvm_domain take.

    guest_volumes(guests, defaults) -> [volume spec]   for kvm_volume `volumes`
    guest_domains(guests, defaults) -> [domain spec]   for kvm_domain `domains`

`defaults` holds the role's defaults: state, vcpus, memory, virt_type,
autostart, disk_pool, disk_format, iso_pool, graphics.  Bad items raise
AnsibleFilterError naming the item (kvm_guests[2] (web1).image: ...)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# What an `image` item may carry besides pool/volume or url/checksum: the
# download options of kvm_volume's url (as kvm_storage_isos).
_URL_OPTIONS = ("url_username", "url_password", "validate_certs")
_DEFAULT_KEYS = ("state", "vcpus", "memory", "virt_type", "autostart", "disk_pool", "disk_format", "iso_pool",
                 "graphics")


def _where(index, guest):
    name = guest.get("name") if isinstance(guest, dict) else None
    return "kvm_guests[{0}]{1}".format(index, " ({0})".format(name) if name else "")


def _fail(index, guest, field, message):
    raise AnsibleFilterError("{0}{1}: {2}".format(_where(index, guest), "." + field if field else "", message))


def _check(guests, defaults):
    if not isinstance(guests, list):
        raise AnsibleFilterError("kvm_guests: must be a list of guests, got {0}".format(type(guests).__name__))
    if not isinstance(defaults, dict):
        raise AnsibleFilterError("the defaults of the guests must be a dict")
    missing = [key for key in _DEFAULT_KEYS if key not in defaults]
    if missing:
        raise AnsibleFilterError("the defaults of the guests lack {0}".format(", ".join(missing)))
    for index, guest in enumerate(guests):
        if not isinstance(guest, dict):
            _fail(index, guest, None, "must be a dict, got {0}".format(type(guest).__name__))
        if not isinstance(guest.get("name"), str) or not guest.get("name"):
            _fail(index, guest, "name", "is required")
        image = guest.get("image")
        if image is not None:
            _check_image(index, guest, image)
        disk = guest.get("disk")
        if disk is not None and not isinstance(disk, dict):
            _fail(index, guest, "disk", "must be a dict")
        if image is None and disk is not None and disk.get("size") is None and _state(guest, defaults) != "absent":
            _fail(index, guest, "disk.size", "is required (it defaults to the image's size only with image)")
        if guest.get("bridge") is not None and guest.get("network") is not None:
            _fail(index, guest, None, "give one of bridge and network, not both")


def _check_image(index, guest, image):
    if not isinstance(image, dict):
        _fail(index, guest, "image", "must be a dict: {pool, volume} of a base volume, or {url, checksum}")
    has_volume = image.get("volume") is not None
    has_url = image.get("url") is not None
    if has_volume == has_url:
        _fail(index, guest, "image", "give either volume (with pool) or url (with checksum)")
    if has_url and not image.get("checksum"):
        _fail(index, guest, "image.checksum", "is required with url (sha256:<hex>)")
    if has_volume:
        unknown = sorted(key for key in image if key not in ("pool", "volume"))
    else:
        unknown = sorted(key for key in image if key not in ("url", "checksum") + _URL_OPTIONS)
    if unknown:
        _fail(index, guest, "image", "unknown key(s) {0}".format(", ".join(unknown)))
    if guest.get("iso") is not None:
        _fail(index, guest, None, "give one of image and iso, not both")


def _state(guest, defaults):
    return guest.get("state") or defaults["state"]


def _disk(guest, defaults):
    """(pool, volume, format) of the guest's system disk, or None."""
    disk = guest.get("disk")
    if disk is None and guest.get("image") is None:
        return None
    disk = disk or {}
    disk_format = disk.get("format") or defaults["disk_format"]
    volume = disk.get("volume") or "{0}.{1}".format(guest["name"], disk_format)
    return disk.get("pool") or defaults["disk_pool"], volume, disk_format


def guest_volumes(guests, defaults):
    """The disk volumes of the guests that are not absent (kvm_volume `volumes`)."""
    _check(guests, defaults)
    volumes = []
    for guest in guests:
        disk = _disk(guest, defaults)
        if disk is None or _state(guest, defaults) == "absent":
            continue
        pool, name, disk_format = disk
        spec = {"name": name, "pool": pool, "format": disk_format}
        size = (guest.get("disk") or {}).get("size")
        if size is not None:
            spec["capacity"] = size
        image = guest.get("image")
        if image is not None and image.get("volume") is not None:
            spec["backing_volume"] = {"pool": image.get("pool") or defaults["disk_pool"], "volume": image["volume"]}
        elif image is not None:
            spec["url"] = image["url"]
            spec["checksum"] = image["checksum"]
            for key in _URL_OPTIONS:
                if image.get(key) is not None:
                    spec[key] = image[key]
        volumes.append(spec)
    return volumes


def guest_domains(guests, defaults):
    """The domains (kvm_domain `domains`), secrets (graphics_password, cloud_init) included:
    use the result only as the module's argument, never in a fact or a loop."""
    _check(guests, defaults)
    domains = []
    for guest in guests:
        disk = _disk(guest, defaults)
        iso = guest.get("iso")
        interfaces = []
        if guest.get("bridge") is not None:
            interfaces = [{"bridge": guest["bridge"]}]
        elif guest.get("network") is not None:
            interfaces = [{"network": guest["network"]}]
        domain = {
            "name": guest["name"],
            "state": _state(guest, defaults),
            "vcpus": guest.get("vcpus") or defaults["vcpus"],
            "memory": str(guest.get("memory") or defaults["memory"]),
            "virt_type": guest.get("virt_type") or defaults["virt_type"],
            "autostart": defaults["autostart"] if guest.get("autostart") is None else guest["autostart"],
            "disks": [{"pool": disk[0], "volume": disk[1]}] if disk else [],
            "cdrom": {"pool": iso.get("pool") or defaults["iso_pool"], "volume": iso["volume"]} if iso else None,
            "boot": ["cdrom", "hd"] if iso else ["hd"],
            "interfaces": interfaces,
            "graphics": defaults["graphics"],
            "graphics_listen": guest.get("graphics_listen"),
        }
        # Only what the guest sets: a domain without these keeps kvm_domain's defaults.
        for key in ("graphics_password", "cloud_init", "wait_for", "wait_timeout", "tags", "guest_agent",
                    "address_source", "machine", "firmware", "secure_boot", "tpm"):
            if guest.get(key) is not None:
                domain[key] = guest[key]
        domains.append(domain)
    return domains


class FilterModule:
    """kvm_guests's guest list, turned into module arguments."""

    def filters(self):
        return {"guest_volumes": guest_volumes, "guest_domains": guest_domains}
