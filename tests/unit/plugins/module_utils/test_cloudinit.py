# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud-init NoCloud seeds: validation naming the field, the rendered files,
the ISO image read back by pycdlib and by a real ISO reader (xorriso, in
tests/lab/apt-packages.txt), and the masking of secrets."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.module_utils import _cloudinit as ci
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import ValidationError

USER_DATA = {
    "hostname": "web1",
    "users": [{"name": "ops", "ssh_authorized_keys": ["ssh-ed25519 AAAAC3Nza ops@lab"],
               "passwd": "$6$salt$hash", "lock_passwd": False}],
    "chpasswd": {"expire": False, "list": "root:hunter2\nops:s3cret"},
    "ssh_keys": {"rsa_private": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
                 "rsa_public": "ssh-rsa AAAAB3 host"},
    "write_files": [{"path": "/etc/motd", "content": "héllo ✓ 😀\n"}],
}


def seed(value=None, name="web1"):
    return ci.validate(value if value is not None else {"user_data": USER_DATA}, name)


def test_files_and_defaults():
    files = seed().files
    assert sorted(files) == ["meta-data", "user-data"]
    user = files["user-data"].decode("utf-8")
    assert user.startswith("#cloud-config\n")
    # cloud-init reads user-data and meta-data with a YAML loader: the JSON we write is YAML.
    assert yaml.safe_load(user) == USER_DATA
    assert yaml.safe_load(files["meta-data"]) == {"instance-id": "web1", "local-hostname": "web1"}


def test_defaults_from_a_name_that_is_no_hostname():
    meta = seed({}, name="db_1.prod vm").meta_data
    assert meta == {"instance-id": "db_1.prod vm", "local-hostname": "db-1-prod-vm"}
    assert seed({"meta_data": {"local-hostname": "x", "instance-id": "i-1", "extra": 1}}).meta_data == {
        "local-hostname": "x", "instance-id": "i-1", "extra": 1}
    assert seed({}, name="___").meta_data["local-hostname"] == "localhost"


def test_string_user_data_as_given():
    text = "#!/bin/sh\necho hi > /tmp/x\n"
    assert seed({"user_data": text}).files["user-data"] == text.encode()


def test_rendering_is_deterministic():
    reordered = dict(reversed(list(USER_DATA.items())))
    assert seed().files == seed({"user_data": reordered}).files
    assert seed().digest == seed({"user_data": reordered}).digest
    assert seed().digest != seed({"user_data": dict(USER_DATA, hostname="web2")}).digest


def test_yaml_unsafe_characters_are_escaped():
    # JSON leaves C1 controls and U+FFFE as they are; a YAML reader refuses them in a stream.
    data = {"a": "x\x85y\x9fz\ufffe\u2028"}
    text = seed({"user_data": data}).files["user-data"].decode()
    assert "\x9f" not in text and "\ufffe" not in text
    assert yaml.safe_load(text) == data


def test_network_config_v1_v2():
    v2 = {"version": 2, "ethernets": {"eth0": {"dhcp4": True}}}
    files = seed({"network_config": v2}).files
    assert json.loads(files["network-config"]) == v2
    wrapped = {"network": {"version": 1, "config": [{"type": "physical", "name": "eth0"}]}}
    assert json.loads(seed({"network_config": wrapped}).files["network-config"]) == wrapped


@pytest.mark.parametrize("value, field", [
    ("text", "cloud_init"),
    ({"userdata": {}}, "cloud_init"),
    ({"user_data": 5}, "cloud_init.user_data"),
    ({"user_data": {"runcmd": [["echo", b"bytes"]]}}, "cloud_init.user_data.runcmd[0][1]"),
    ({"user_data": {"users": [{"name": {1, 2}}]}}, "cloud_init.user_data.users[0].name"),
    ({"user_data": {1: "x"}}, "cloud_init.user_data"),
    ({"user_data": {"x": float("nan")}}, "cloud_init.user_data.x"),
    ({"user_data": "a\x00b"}, "cloud_init.user_data"),
    ({"user_data": "\ud800"}, "cloud_init.user_data"),
    ({"meta_data": []}, "cloud_init.meta_data"),
    ({"meta_data": {"instance-id": ""}}, "cloud_init.meta_data.instance-id"),
    ({"meta_data": {"local-hostname": 7}}, "cloud_init.meta_data.local-hostname"),
    ({"meta_data": {"local-hostname": "a\nb"}}, "cloud_init.meta_data.local-hostname"),
    ({"network_config": "dhcp"}, "cloud_init.network_config"),
    ({"network_config": {"version": 3}}, "cloud_init.network_config.version"),
    ({"network_config": {"network": {"version": True}}}, "cloud_init.network_config.network.version"),
    ({"network_config": {"version": 1}}, "cloud_init.network_config.config"),
    ({"network_config": {"version": 2, "ethernet": {}}}, "cloud_init.network_config"),
    ({"pool": "a/b"}, "cloud_init.pool"),
    ({"pool": ""}, "cloud_init.pool"),
])
def test_bad_input_names_the_field(value, field):
    with pytest.raises(ValidationError) as err:
        ci.validate(value, "web1")
    assert err.value.field == field
    assert str(err.value).startswith(field + ": ")


def test_none_values_are_absent():
    # An argument spec with suboptions hands over None for what was not given.
    spec = ci.validate({"user_data": None, "meta_data": None, "network_config": None, "pool": None}, "vm")
    assert spec.pool is None and spec.network_config is None
    assert sorted(spec.files) == ["meta-data", "user-data"]
    assert ci.seed_volume_name("vm") == "vm-cidata.iso"


def test_secrets_of_a_dict():
    spec = seed()
    assert spec.secrets == {"$6$salt$hash", "root:hunter2\nops:s3cret", USER_DATA["ssh_keys"]["rsa_private"]}
    masked = spec.masked()["user_data"]
    text = json.dumps(masked)
    for secret in spec.secrets:
        assert json.dumps(secret)[1:-1] not in text
    assert masked["users"][0]["passwd"] == ci.SECRET_MASK
    assert masked["users"][0]["ssh_authorized_keys"] == USER_DATA["users"][0]["ssh_authorized_keys"]
    assert masked["chpasswd"] == {"expire": False, "list": ci.SECRET_MASK}
    assert masked["ssh_keys"]["rsa_public"] == "ssh-rsa AAAAB3 host"
    # The input is not changed in place.
    assert USER_DATA["users"][0]["passwd"] == "$6$salt$hash"


def test_private_key_anywhere_in_a_dict():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----"
    data = {"write_files": [{"path": "/root/.ssh/id", "content": "prefix\n" + key + "\n"}]}
    assert ci.secrets(data) == {key}
    assert key not in json.dumps(ci.mask(data))


def test_secrets_of_a_string():
    text = (
        "#cloud-config\n"
        "password: topsecret\n"
        "users:\n"
        "  - name: ops\n"
        "    hashed_passwd: '$6$abc'\n"
        "    plain_text_passwd: pl41n\n"
        "chpasswd:\n"
        "  list: |\n"
        "    root:rootpw\n"
        "    ops:opspw\n"
        "  expire: false\n"
        "ssh_keys:\n"
        "  rsa_private: |\n"
        "    -----BEGIN RSA PRIVATE KEY-----\n"
        "    MIIE\n"
        "    -----END RSA PRIVATE KEY-----\n"
    )
    found = ci.secrets(text)
    assert {"topsecret", "$6$abc", "pl41n", "root:rootpw", "ops:opspw"} <= found
    masked = ci.mask(text)
    for secret in ("topsecret", "$6$abc", "pl41n", "rootpw", "opspw", "MIIE"):
        assert secret not in masked, secret
    assert "expire: false" in masked and "name: ops" in masked


def test_iso_round_trip_with_pycdlib():
    spec = seed({"user_data": USER_DATA, "network_config": {"version": 2, "ethernets": {}}})
    data = ci.build_iso(spec.files)
    label, files = ci.read_iso(data)
    assert label == "cidata"
    assert files == spec.files
    assert ci.seed_matches(data, spec.files)
    other = seed({"user_data": dict(USER_DATA, hostname="web2")})
    assert not ci.seed_matches(data, other.files)
    # A seed is compared by its files, not its bytes (pycdlib stamps the time).
    assert ci.seed_matches(ci.build_iso(spec.files), spec.files)


def test_read_iso_of_something_else():
    assert ci.read_iso(b"") is None
    assert ci.read_iso(b"\0" * 65536) is None
    assert not ci.seed_matches(b"not an iso", seed().files)


def _xorriso(*args):
    return subprocess.run(["xorriso", "-abort_on", "FAILURE", *args], check=True, capture_output=True, text=True)


def test_a_real_reader_sees_the_files(tmp_path):
    """xorriso reads the image like the kernel's isofs: Rock Ridge names, then Joliet, then plain ISO 9660."""
    spec = seed({"user_data": USER_DATA, "network_config": {"version": 2, "ethernets": {}}})
    image = tmp_path / "seed.iso"
    image.write_bytes(ci.build_iso(spec.files))
    out = tmp_path / "rr"
    _xorriso("-osirrox", "on", "-indev", str(image), "-extract", "/", str(out))
    assert sorted(os.listdir(out)) == ["meta-data", "network-config", "user-data"]
    for name, content in spec.files.items():
        assert (out / name).read_bytes() == content
    info = _xorriso("-indev", str(image), "-pvd_info").stdout
    assert "Volume Id    : cidata" in info
    joliet = tmp_path / "joliet"
    _xorriso("-read_fs", "norock", "-osirrox", "on", "-indev", str(image), "-extract", "/", str(joliet))
    assert sorted(os.listdir(joliet)) == ["meta-data", "network-config", "user-data"]
    plain = tmp_path / "plain"
    _xorriso("-read_fs", "ecma119", "-osirrox", "on", "-indev", str(image), "-extract", "/", str(plain))
    assert sorted(os.listdir(plain)) == ["META_DATA", "NETWORK_CONFIG", "USER_DATA"]


@pytest.mark.parametrize("extensions", [["-J", "-r"], []])
def test_reads_a_seed_made_by_another_tool(tmp_path, extensions):
    """A seed made with genisoimage's options (here xorriso -as mkisofs) is read
    by its files: with Rock Ridge/Joliet names, and as plain ISO 9660 names."""
    spec = seed()
    src = tmp_path / "src"
    src.mkdir()
    for name, content in spec.files.items():
        (src / name).write_bytes(content)
    image = tmp_path / "other.iso"
    _xorriso("-as", "mkisofs", "-quiet", "-o", str(image), "-V", "cidata", *extensions, str(src))
    label, files = ci.read_iso(image.read_bytes())
    assert label == "cidata"
    assert files == spec.files
    assert ci.seed_matches(image.read_bytes(), spec.files)
