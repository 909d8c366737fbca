# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verdict per kind of input, for every module: object names, interface
names, MAC addresses, paths and text that goes into XML or a C string.
Each check raises ValidationError naming the field, or returns the value."""

from __future__ import annotations

import re
import unicodedata

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

# Unicode categories that have no place in a name or in XML text: controls
# (C0, DEL, C1), format characters (bidi overrides, zero-width), surrogates,
# line and paragraph separators.  lxml refuses most of them outright; the rest
# make a name that prints as something else.
_BAD_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")
# XML 1.0 excludes these non-characters.
_NON_CHARACTERS = "\ufffe\uffff"
# Linux IFNAMSIZ (16) with the terminating NUL.
IFNAMSIZ = 15
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")


def shown(value):
    """A value for a one-line message: as it is when every character prints,
    else quoted with escapes (a newline would split the message)."""
    value = str(value)
    return value if value.isprintable() else repr(value)


def one_line(text):
    """Any message (libvirt's, a command's stderr) on one line."""
    return " ".join(str(text).split())


def bad_character(text):
    """The first character of `text` that no name or XML text may hold, or None."""
    for char in text:
        if char in _NON_CHARACTERS or unicodedata.category(char) in _BAD_CATEGORIES:
            return char
    return None


def text(field, value, secret=False):
    """A string that goes into XML or to libvirt as a C string.
    `secret`: the message never quotes the value."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string, got {0}".format(type(value).__name__))
    char = bad_character(value)
    if char is not None:
        if secret:
            raise ValidationError(field, "must not contain control characters")
        raise ValidationError(field, "{0!r} must not contain control characters ({1!r})".format(value, char))
    return value


def name(field, value):
    """A libvirt object name (pool, volume, network, domain, snapshot).

    libvirt names files and directories after its objects
    (/etc/libvirt/qemu/NAME.xml, a volume's file, snapshot/NAME): '.', '..'
    and '/' name other paths (undefining a domain named '..' deleted
    libvirt's snapshot/ directory).  Leading or trailing white space makes a
    name nobody can type back; control and format characters make one that
    prints as another."""
    if value is None or value == "":
        raise ValidationError(field, "is required")
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string, got {0}".format(type(value).__name__))
    if not value.strip():
        raise ValidationError(field, "must not be blank, got {0!r}".format(value))
    if value in (".", ".."):
        raise ValidationError(field, "{0!r} is not a valid name (libvirt names files after its objects)".format(value))
    if "/" in value:
        raise ValidationError(field, "must not contain '/', got {0!r}".format(value))
    if value != value.strip():
        raise ValidationError(field, "must not begin or end with white space, got {0!r}".format(value))
    char = bad_character(value)
    if char is not None:
        raise ValidationError(field, "{0!r} must not contain control characters ({1!r})".format(value, char))
    return value


def ifname(field, value):
    """A host interface name as the kernel takes it (dev_valid_name): 1 to 15
    bytes, not '.' or '..', no '/', ':' or white space.  Quotes, '$' and other
    shell characters are valid names: whatever reaches a shell quotes them."""
    if value is None or value == "":
        raise ValidationError(field, "is required")
    text(field, value)
    if value in (".", ".."):
        raise ValidationError(field, "{0!r} is not an interface name".format(value))
    if len(value.encode("utf-8")) > IFNAMSIZ:
        raise ValidationError(field, "{0!r} is longer than {1} bytes (IFNAMSIZ)".format(value, IFNAMSIZ))
    bad = next((c for c in value if c in "/:" or c.isspace()), None)
    if bad is not None:
        raise ValidationError(field, "{0!r} is not an interface name: it contains {1!r}".format(value, bad))
    return value


def mac(field, value):
    """A unicast MAC address, returned in lower case."""
    if not isinstance(value, str) or not _MAC.match(value):
        raise ValidationError(field, "{0!r} is not a MAC address; expected six hex pairs such as 52:54:00:12:34:56".format(
            value if isinstance(value, str) else type(value).__name__))
    if int(value[:2], 16) & 1:
        raise ValidationError(field, "{0} is a multicast address; the first octet must be even".format(value))
    return value.lower()


def path(field, value, absolute=True):
    """A file system path on the managed host."""
    text(field, value)
    if not value:
        raise ValidationError(field, "must not be empty")
    if absolute and not value.startswith("/"):
        raise ValidationError(field, "{0!r} must be an absolute path".format(value))
    return value
