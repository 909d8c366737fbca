# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud-init NoCloud seeds: validate a `cloud_init` option, render its files,
build the ISO 9660 image (label `cidata`) and read one back.

Public interface (everything else is private):

    SEED_LABEL = "cidata"
    SECRET_MASK = "********"
    seed_volume_name(domain_name) -> "<domain_name>-cidata.iso"
    validate(value, domain_name, field="cloud_init") -> Seed
        `value` is the option as a dict (None values count as absent):
        user_data (dict or str), meta_data (dict), network_config (dict, v1 or v2),
        pool (str).  Raises _errors.ValidationError naming the field, e.g.
        "cloud_init.user_data.users[0]: ...".  Nothing is touched.
    Seed (the validated spec)
        .pool            pool name or None (the caller picks the default pool)
        .user_data       dict or str as given
        .meta_data       dict with instance-id and local-hostname filled in
        .network_config  dict or None
        .files           {"user-data": bytes, "meta-data": bytes[, "network-config": bytes]}
        .digest          sha256 hex of .files (names and contents)
        .secrets         set of secret strings inside user_data (give them to
                         module.no_log_values so they never appear in output)
        .masked()        {"user_data": <masked>, "meta_data": ..., "network_config": ..., "pool": ...}
                         a copy safe to return/print; secrets replaced by SECRET_MASK
    render(seed_or_spec) -> files dict (same as Seed.files)
    digest(files) -> sha256 hex over the files' names and contents
    build_iso(files) -> bytes of an ISO 9660 image, Joliet + Rock Ridge, label cidata
    read_iso(data) -> (label, files) or None when `data` is not a readable ISO image
    seed_matches(data, files) -> True when the ISO `data` has label cidata and exactly `files`
    mask(user_data) -> a copy of user_data (dict or str) with secrets masked
    secrets(user_data) -> set of the secret strings inside user_data
    require_pycdlib() -> the pycdlib module, or ValidationError("cloud_init", ...) when missing

Files are rendered deterministically: a dict user_data becomes "#cloud-config"
followed by JSON (sorted keys, indented).  JSON is YAML, so cloud-init reads it
with any YAML loader, and the managed host needs no YAML library; the same input
always renders to the same bytes, so an existing seed is compared by its files.
The ISO image itself is written by pycdlib (a maintained pure-Python library,
PyPI `pycdlib`), which the managed host needs only when `cloud_init` is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _validate
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

SEED_LABEL = "cidata"
SEED_SUFFIX = "-cidata.iso"
SECRET_MASK = "********"

USER_DATA = "user-data"
META_DATA = "meta-data"
NETWORK_CONFIG = "network-config"
# ISO 9660 names (level 3 allows 30 d-characters) for readers without Rock Ridge/Joliet.
_ISO_NAMES = {USER_DATA: "USER_DATA.;1", META_DATA: "META_DATA.;1", NETWORK_CONFIG: "NETWORK_CONFIG.;1"}

_KEYS = ("user_data", "meta_data", "network_config", "pool")
# Keys whose value is a secret wherever they appear in cloud-config.
_SECRET_KEYS = frozenset(("passwd", "password", "plain_text_passwd", "hashed_passwd", "chpasswd"))
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S)
# In a user_data string: `key: value` lines for the secret keys (YAML scalars).
_SECRET_LINE = re.compile(
    r"^(?P<head>[ \t-]*(?:passwd|password|plain_text_passwd|hashed_passwd)[ \t]*:[ \t]*)(?P<value>\S.*?)[ \t]*$",
    re.M)
# chpasswd: list: | followed by indented user:password lines, or list: "a:b" (old form).
_CHPASSWD_LIST = re.compile(
    r"^(?P<indent>[ \t]*)list[ \t]*:[ \t]*(?P<value>[|>][^\n]*\n(?:(?P=indent)[ \t]+[^\n]*\n?)*|\S[^\n]*)", re.M)
# Characters JSON leaves as they are but YAML refuses in a stream (C1 controls,
# non-characters) or reads as line breaks inside a quoted string (NEL, LS, PS).
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_HOSTNAME_BAD = re.compile(r"[^A-Za-z0-9-]+")


class Seed:
    """A validated `cloud_init` option and the files of its NoCloud seed."""

    def __init__(self, user_data, meta_data, network_config, pool):
        self.user_data = user_data
        self.meta_data = meta_data
        self.network_config = network_config
        self.pool = pool
        self.files = render(self)
        self.digest = digest(self.files)
        self.secrets = secrets(user_data)

    def masked(self):
        return {
            "user_data": mask(self.user_data),
            "meta_data": self.meta_data,
            "network_config": self.network_config,
            "pool": self.pool,
        }


def seed_volume_name(domain_name):
    """The seed's volume name in its pool."""
    return domain_name + SEED_SUFFIX


def default_hostname(domain_name):
    """A host name from a domain name: characters a host name may not hold become '-'."""
    host = _HOSTNAME_BAD.sub("-", domain_name).strip("-")[:63].strip("-")
    return host or "localhost"


def validate(value, domain_name, field="cloud_init"):
    """The `cloud_init` option -> Seed, or ValidationError naming the field."""
    if not isinstance(value, dict):
        raise ValidationError(field, "must be a dict with keys {0}, got {1}".format(", ".join(_KEYS), type(value).__name__))
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise ValidationError(field, "unknown key(s) {0}; accepted: {1}".format(", ".join(unknown), ", ".join(_KEYS)))

    pool = value.get("pool")
    if pool is not None:
        _validate.name(field + ".pool", pool)

    user_data = value.get("user_data")
    if user_data is None:
        user_data = {}
    if isinstance(user_data, dict):
        _check_data(field + ".user_data", user_data)
    elif isinstance(user_data, str):
        _check_text(field + ".user_data", user_data)
    else:
        raise ValidationError(field + ".user_data", "must be a dict (cloud-config) or a string, got {0}".format(
            type(user_data).__name__))

    meta_data = value.get("meta_data")
    if meta_data is None:
        meta_data = {}
    if not isinstance(meta_data, dict):
        raise ValidationError(field + ".meta_data", "must be a dict, got {0}".format(type(meta_data).__name__))
    _check_data(field + ".meta_data", meta_data)
    meta_data = dict(meta_data)
    meta_data.setdefault("instance-id", domain_name)
    meta_data.setdefault("local-hostname", default_hostname(domain_name))
    for key in ("instance-id", "local-hostname"):
        item = meta_data[key]
        if not isinstance(item, str) or not item.strip():
            raise ValidationError("{0}.meta_data.{1}".format(field, key), "must be a non-empty string, got {0!r}".format(item))
        _validate.text("{0}.meta_data.{1}".format(field, key), item)

    network_config = value.get("network_config")
    if network_config is not None:
        _check_network(field + ".network_config", network_config)
    return Seed(user_data, meta_data, network_config, pool)


def _check_network(field, config):
    if not isinstance(config, dict):
        raise ValidationError(field, "must be a dict (network config version 1 or 2), got {0}".format(type(config).__name__))
    _check_data(field, config)
    inner = config.get("network") if isinstance(config.get("network"), dict) else config
    where = field + (".network" if inner is not config else "")
    version = inner.get("version")
    if version not in (1, 2) or isinstance(version, bool):
        raise ValidationError(where + ".version", "must be 1 or 2, got {0!r}".format(version))
    if version == 1 and not isinstance(inner.get("config"), list):
        raise ValidationError(where + ".config", "version 1 needs a list of config entries")
    if version == 2:
        known = ("version", "renderer", "ethernets", "bonds", "bridges", "vlans", "wifis")
        unknown = sorted(str(key) for key in inner if key not in known)
        if unknown:
            raise ValidationError(where, "unknown version 2 key(s) {0}; accepted: {1}".format(
                ", ".join(unknown), ", ".join(known)))


def _check_text(field, value):
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "is not valid UTF-8 text")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")


def _check_data(field, value):
    """Walk `value`; everything must be YAML-serialisable (str keys, str/int/float/bool/None, lists, dicts)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, "keys must be strings, got {0!r}".format(key))
            _check_text("{0}.{1}".format(field, key), key)
            _check_data("{0}.{1}".format(field, key), item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_data("{0}[{1}]".format(field, index), item)
    elif isinstance(value, str):
        _check_text(field, value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValidationError(field, "{0!r} cannot be written to YAML".format(value))
    elif value is None or isinstance(value, (bool, int)):
        pass
    else:
        raise ValidationError(field, "is not YAML-serialisable (a {0})".format(type(value).__name__))


def _dump(data):
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, separators=(",", ": "))
    return _YAML_UNSAFE.sub(lambda match: "\\u{0:04x}".format(ord(match.group(0))), text) + "\n"


def render(seed):
    """The NoCloud files of a Seed (or any object with user_data, meta_data, network_config)."""
    user_data = seed.user_data
    if isinstance(user_data, dict):
        user_text = "#cloud-config\n" + _dump(user_data)
    else:
        user_text = user_data
    files = {
        USER_DATA: user_text.encode("utf-8"),
        META_DATA: _dump(seed.meta_data).encode("utf-8"),
    }
    if seed.network_config is not None:
        files[NETWORK_CONFIG] = _dump(seed.network_config).encode("utf-8")
    return files


def digest(files):
    """sha256 over the files' names and contents (order-independent)."""
    sha = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        sha.update("{0}\0{1}\0".format(name, len(content)).encode("utf-8"))
        sha.update(content)
    return sha.hexdigest()


# ---- secrets

def _secret_strings(value, found):
    if isinstance(value, dict):
        for item in value.values():
            _secret_strings(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _secret_strings(item, found)
    elif isinstance(value, str) and value:
        found.add(value)


def _is_secret_key(key):
    return isinstance(key, str) and (key in _SECRET_KEYS or key.endswith("_private"))


def secrets(user_data):
    """The secret strings inside user_data: values of password keys, chpasswd,
    ssh_keys.*_private and any PEM private key."""
    found = set()
    if isinstance(user_data, str):
        found.update(match.group(0) for match in _PRIVATE_KEY.finditer(user_data))
        for match in _SECRET_LINE.finditer(user_data):
            found.add(match.group("value").strip("'\""))
        for match in _CHPASSWD_LIST.finditer(user_data):
            lines = [line.strip() for line in match.group("value").splitlines()]
            found.update(line for line in lines if line and line not in ("|", ">"))
        return found

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if _is_secret_key(key):
                    _secret_strings(item, found)
                else:
                    walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.update(match.group(0) for match in _PRIVATE_KEY.finditer(value))

    walk(user_data)
    return found


def mask(user_data):
    """A copy of user_data with every secret replaced by SECRET_MASK."""
    if isinstance(user_data, str):
        text = _PRIVATE_KEY.sub(SECRET_MASK, user_data)
        text = _SECRET_LINE.sub(lambda match: match.group("head") + SECRET_MASK, text)
        return _CHPASSWD_LIST.sub(lambda match: match.group("indent") + "list: " + SECRET_MASK + (
            "\n" if match.group("value").endswith("\n") else ""), text)
    if isinstance(user_data, dict):
        masked = {}
        for key, item in user_data.items():
            if _is_secret_key(key) and item is not None:
                masked[key] = _mask_all(item)
            else:
                masked[key] = mask(item)
        return masked
    if isinstance(user_data, (list, tuple)):
        return [mask(item) for item in user_data]
    return user_data


def _mask_all(value):
    """Every scalar under a secret key masked, the shape kept (chpasswd: {expire: false} stays readable)."""
    if isinstance(value, dict):
        return dict((key, item if isinstance(item, bool) else _mask_all(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_mask_all(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    return SECRET_MASK


# ---- ISO 9660

def require_pycdlib():
    try:
        import pycdlib  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise ValidationError("cloud_init", "needs the Python library pycdlib on the managed host (pip install pycdlib)")
    return pycdlib


def build_iso(files):
    """An ISO 9660 image (Joliet + Rock Ridge, volume label cidata) holding `files`."""
    pycdlib = require_pycdlib()
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=SEED_LABEL, sys_ident="LINUX")
    try:
        for index, name in enumerate(sorted(files)):
            content = files[name]
            iso_name = _ISO_NAMES.get(name) or "FILE{0}.;1".format(index)
            iso.add_fp(io.BytesIO(content), len(content), "/" + iso_name, rr_name=name, joliet_path="/" + name)
        out = io.BytesIO()
        iso.write_fp(out)
        return out.getvalue()
    finally:
        iso.close()


def _iso_plain_name(name):
    """ISO 9660 name as a reader without extensions shows it: lower case, no version, no trailing dot."""
    name = name.split(";", 1)[0].rstrip(".").lower()
    return name.replace("_", "-")


def read_iso(data):
    """(label, {name: bytes}) of the files in the root of an ISO image, or None
    when `data` is not a readable ISO 9660 image.  Names come from Rock Ridge,
    else Joliet, else ISO 9660 (lower-cased, '_' read as '-', as cloud-init's
    own reader does)."""
    pycdlib = require_pycdlib()
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
    except Exception:  # pylint: disable=broad-except
        # pycdlib raises PyCdlibInvalidInput, but also IndexError/struct.error on truncated images.
        return None
    try:
        label = iso.pvd.volume_identifier.decode("ascii", "replace").strip().rstrip("\x00").strip()
        if iso.has_rock_ridge():
            facade, plain = iso.get_rock_ridge_facade(), False
        elif iso.has_joliet():
            facade, plain = iso.get_joliet_facade(), False
        else:
            facade, plain = iso.get_iso9660_facade(), True
        files = {}
        for child in facade.list_children("/"):
            if child is None or child.is_dot() or child.is_dotdot() or child.is_dir():
                continue
            name = _child_name(iso, child, facade)
            if plain:
                name = _iso_plain_name(name)
            out = io.BytesIO()
            facade.get_file_from_iso_fp(out, "/" + name) if not plain else \
                iso.get_file_from_iso_fp(out, iso_path="/" + child.file_identifier().decode("ascii"))
            files[name] = out.getvalue()
        return label, files
    except Exception:  # pylint: disable=broad-except
        return None
    finally:
        iso.close()


def _child_name(iso, child, facade):
    if iso.has_rock_ridge() and facade.__class__.__name__.endswith("RockRidge"):
        return child.rock_ridge.name().decode("utf-8")
    if facade.__class__.__name__.endswith("Joliet"):
        return child.file_identifier().decode("utf-16_be").split(";", 1)[0]
    return child.file_identifier().decode("ascii")


def seed_matches(data, files):
    """True when the ISO image `data` is a cidata seed with exactly `files`."""
    found = read_iso(data)
    if found is None:
        return False
    label, existing = found
    return label.lower() == SEED_LABEL and digest(existing) == digest(files)
