# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images written into a staging volume's file: a local file or a URL read
once, hashed as given (the `checksum` is of the file as published,
compressed or not), unpacked on the way in (.gz, .xz), nothing written
anywhere but the pool."""

from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import struct
import zlib
from urllib.error import URLError
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError

_CHUNK = 1024 * 1024
_QCOW2_MAGIC = b"QFI\xfb"


def compression(name):
    """'gz', 'xz' or None, from a file name or a URL's path."""
    path = urlsplit(name).path if "://" in name else name
    for suffix in ("gz", "xz"):
        if path.endswith("." + suffix):
            return suffix
    return None


def shown_url(url):
    """A URL for messages, without user:password@."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def virtual_size(path):
    """The guest-visible size of a local image: a qcow2 header's, else the file's."""
    with open(path, "rb") as handle:
        header = handle.read(32)
    if len(header) == 32 and header[:4] == _QCOW2_MAGIC:
        return struct.unpack(">Q", header[24:32])[0]
    return os.path.getsize(path)


def _decompressor(kind):
    if kind == "gz":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "xz":
        return lzma.LZMADecompressor()
    return None


def write_image(source, dest, kind, label, algorithm="sha256"):
    """Copy the readable `source` into the file `dest` (truncated first),
    unpacking `kind`; the hash of the bytes read (the file as given)."""
    digest = hashlib.new(algorithm)
    unpack = _decompressor(kind)
    try:
        with open(dest, "wb") as out:
            for block in iter(lambda: source.read(_CHUNK), b""):
                digest.update(block)
                out.write(unpack.decompress(block) if unpack is not None else block)
            if kind == "gz":
                out.write(unpack.flush())
                if not unpack.eof:
                    raise KvmError("{0}: the gzip stream is truncated".format(label))
            elif kind == "xz" and not unpack.eof:
                raise KvmError("{0}: the xz stream is truncated".format(label))
            out.flush()
            os.fsync(out.fileno())
    except (zlib.error, lzma.LZMAError) as e:
        raise KvmError("{0}: cannot unpack the {1} image: {2}".format(label, kind, e))
    except (OSError, http.client.HTTPException) as e:
        raise KvmError("{0}: {1}".format(label, getattr(e, "strerror", None) or e))
    return digest.hexdigest()


def open_source(spec, label):
    """A readable of the image: the local file or the URL's response."""
    if spec.src is not None:
        try:
            return open(spec.src, "rb")
        except OSError as e:
            raise KvmError("{0}: {1}".format(label, e.strerror or e))
    # Imported here: only url runs need it.
    from ansible.module_utils.urls import open_url

    try:
        return open_url(spec.url, url_username=spec.url_username, url_password=spec.url_password,
                        validate_certs=spec.validate_certs, timeout=spec.timeout, force_basic_auth=bool(spec.url_username))
    except (URLError, http.client.HTTPException, OSError, ValueError) as e:
        raise KvmError("{0}: cannot download {1} ({2}): {3}".format(spec.field("url"), shown_url(spec.url), label, e))
