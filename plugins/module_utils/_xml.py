# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Subset comparison of libvirt XML: only what the user specified is
compared against what libvirt returns, so defaults libvirt fills in (MACs,
UUIDs, PCI addresses) never count as changes."""

from __future__ import annotations

import copy
import traceback

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

HAS_LXML = etree is not None


def parse(text):
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.fromstring(text.encode("utf-8") if isinstance(text, str) else text, parser)


def to_string(element):
    return etree.tostring(element, pretty_print=True, encoding="unicode")


def _text(element):
    return (element.text or "").strip()


def _matched_children(desired, actual):
    """(child, index, candidates): each element child of `desired`, its index
    among its same-tag siblings, and `actual`'s children of that tag (looked up
    per child, so children appended meanwhile count)."""
    seen = {}
    for child in desired:
        if not isinstance(child.tag, str):
            continue  # comments
        index = seen.get(child.tag, 0)
        seen[child.tag] = index + 1
        yield child, index, actual.findall(child.tag)


def subset_differences(desired, actual, path=None):
    """List of (path, desired, actual) where `desired` is not contained in `actual`.

    Attributes and non-empty text of `desired` must be equal in `actual`.
    Children are matched by tag, in order among siblings of the same tag.
    """
    path = path or desired.tag
    found = []
    if actual is None:
        return [(path, to_string(desired).strip(), None)]
    for key, value in desired.attrib.items():
        if actual.get(key) != value:
            found.append(("{0}/@{1}".format(path, key), value, actual.get(key)))
    if _text(desired) and _text(desired) != _text(actual):
        found.append((path, _text(desired), _text(actual)))
    for child, index, candidates in _matched_children(desired, actual):
        match = candidates[index] if index < len(candidates) else None
        child_path = "{0}/{1}[{2}]".format(path, child.tag, index + 1) if len(candidates) > 1 or index else "{0}/{1}".format(path, child.tag)
        found.extend(subset_differences(child, match, child_path))
    return found


def merge_into(desired, actual):
    """Return a copy of `actual` with everything from `desired` written over it.

    Used to update an object in place while keeping what libvirt assigned.
    Children are matched the same way as in subset_differences.
    """
    merged = copy.deepcopy(actual)
    _merge(desired, merged)
    return merged


def _merge(desired, target):
    for key, value in desired.attrib.items():
        target.set(key, value)
    if _text(desired):
        target.text = desired.text
    for child, index, candidates in _matched_children(desired, target):
        if index < len(candidates):
            _merge(child, candidates[index])
        else:
            target.append(copy.deepcopy(child))
