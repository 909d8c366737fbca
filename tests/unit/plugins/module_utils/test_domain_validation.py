# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvm_domain's input validation: every invalid input fails before anything
is touched, with one line naming the field (test:///default; domain
capabilities, which the test driver lacks, from qemu:///system when it is
reachable, read only)."""

from __future__ import annotations

import uuid

import libvirt
import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_errors import refused_fields
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_secrets import secret_values
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import ITEM_KEYS, Resolver, vcpu_limit
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import ifname as validate_ifname
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import name as validate_name
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import shown
from ansible_collections.kvmops.hypervisor.plugins.module_utils._validate import text as check_text
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._libvirt import Connection
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse

URI = "test:///default"
POOL = "default-pool"


def params(**kw):
    result = dict((key, None) for key in ITEM_KEYS)
    result.update(domains=None, uri=URI)
    result.update(kw)
    return result


def mine(connection, prefix):
    return sorted(d.name() for d in connection.conn.listAllDomains() if d.name().startswith(prefix))


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("name", ["", " ", "\t", ".", "..", "a/b", "/", "a\x00b", "a\x01b", "a\nb", "a\rb", "a\x1fb", "a\x7fb",
                                  "a\x85b", "a\u2028b", "a\ud800b", "a\ufffeb"])
def test_bad_names(name):
    with pytest.raises(ValidationError) as err:
        validate_name("domains[2].name", name)
    assert err.value.field == "domains[2].name"
    assert str(err.value).startswith("domains[2].name: ")
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("name", ["web1", "a b", "...", ".a", "a..b", "a:b", "gäst-ü", "x" * 200])
def test_good_names(name):
    assert validate_name("name", name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\nb", "a\x00b", "b" * 16, "\u00e4" * 8, "a\u3000b"])
def test_bad_interface_names(name):
    with pytest.raises(ValidationError) as err:
        validate_ifname("interfaces[1].bridge", name)
    assert str(err.value).startswith("interfaces[1].bridge: ")
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("name", ["br0", "b" * 15, "virbr0", "br.10", "br-lan_1", "\u00e4" * 7])
def test_good_interface_names(name):
    assert validate_ifname("bridge", name) == name


def test_check_text_never_quotes_a_secret():
    with pytest.raises(ValidationError) as err:
        check_text("graphics_password", "se\x01cret", secret=True)
    assert "se" not in str(err.value).split(": ", 1)[1]
    with pytest.raises(ValidationError) as err:
        check_text("graphics_listen", "1.2.3.4\n")
    assert str(err.value) == "graphics_listen: '1.2.3.4\\n' must not contain control characters ('\\n')"


def test_shown_quotes_only_what_does_not_print():
    assert shown("/var/lib/a b.qcow2") == "/var/lib/a b.qcow2"
    assert shown("/tmp/a\nb") == "'/tmp/a\\nb'"
    assert shown("/tmp/a\u2028b") == "'/tmp/a\\u2028b'"


# ---------------------------------------------------------------- the whole run, nothing touched

def bad_cases(prefix, volume):
    """(params of one run, the field its message must start with)."""
    new = dict(virt_type="qemu", memory="64", state="present")
    disk = dict(pool=POOL, volume=volume)
    return [
        (dict(name=prefix + "a\x00b", **new), "name"),
        (dict(name=prefix + "a\x1bb", **new), "name"),
        (dict(name=" ", **new), "name"),
        (dict(name=".", **new), "name"),
        (dict(name="..", **new), "name"),
        (dict(name=prefix + "n", interfaces=[dict(bridge=".")], **new), "interfaces[0].bridge"),
        (dict(name=prefix + "n", interfaces=[dict(bridge="br0\n")], **new), "interfaces[0].bridge"),
        (dict(name=prefix + "n", interfaces=[dict(network="default", mac="52:54:00:12:34:56\n")], **new), "interfaces[0].mac"),
        (dict(name=prefix + "n", interfaces=[dict(network="def\x00ault")], **new), "interfaces[0].network"),
        (dict(name=prefix + "n", cdrom=5, **new), "cdrom"),
        (dict(name=prefix + "n", cdrom=["a"], **new), "cdrom"),
        (dict(name=prefix + "n", cdrom=dict(pool=5, volume="x"), **new), "cdrom.pool"),
        (dict(name=prefix + "n", cdrom=dict(pool=POOL, volume=volume, target="zzz"), **new), "cdrom.target"),
        (dict(name=prefix + "n", disks=[dict(disk, target="zzz")], **new), "disks[0].target"),
        (dict(name=prefix + "n", disks=[dict(disk, target="vda1")], **new), "disks[0].target"),
        (dict(name=prefix + "n", disks=[dict(disk, target="vdaaaaaaa")], **new), "disks[0].target"),
        (dict(name=prefix + "n", disks=[dict(disk, format="qcow2\x00")], **new), "disks[0].format"),
        (dict(name=prefix + "n", disks=[dict(path="/var/tmp/kvmops-none\nb")], **new), "disks[0].path"),
        (dict(name=prefix + "n", disks=[dict(pool="p\x01", volume="v")], **new), "disks[0].pool"),
        (dict(name=prefix + "n", machine="pc\x00", **new), "machine"),
        (dict(name=prefix + "n", machine=" ", **new), "machine"),
        (dict(name=prefix + "n", memory="8192P", virt_type="qemu"), "memory"),
        (dict(name=prefix + "n", graphics="vnc", graphics_listen="0.0.0.0\x00", **new), "graphics_listen"),
        (dict(name=prefix + "n", graphics="vnc", graphics_password="pw\x00", **new), "graphics_password"),
        (dict(name=prefix + "n", xml="<domain><name>{0}n</name>\x00</domain>".format(prefix), state="present"), "xml"),
        (dict(domains=[dict(name=prefix + "ok"), dict(name=prefix + "ok2"), dict(name=prefix + "a\x00b")], **new), "domains[2].name"),
        (dict(domains=[dict(name=prefix + "ok"), dict(name="..")], **new), "domains[1].name"),
        (dict(domains=[dict(name=prefix + "ok"), dict(name=prefix + "c", cdrom=5)], **new), "domains[1].cdrom"),
        (dict(domains=[dict(name=prefix + "ok"), dict(name=prefix + "c", interfaces=[dict(bridge="..")])], **new),
         "domains[1].interfaces[0].bridge"),
    ]


def test_invalid_inputs_fail_naming_the_field_before_anything_is_touched(lab, reconcile):
    connection, prefix, volume = lab
    cases = bad_cases(prefix, volume)
    problems = []
    for args, field in cases:
        try:
            reconcile(params(**args), check_mode=False)
        except reconcile.Failed as e:
            message = str(e)
            if message.startswith("Failed to log to syslog (embedded null character)") and "\\x00" in repr(args):
                pass  # ansible-core >= 2.21 refuses a NUL in any argument before the module runs
            elif not message.startswith(field + ": ") or len(message.splitlines()) != 1:
                problems.append((field, message))
        else:
            problems.append((field, "did not fail"))
        if mine(connection, prefix):
            problems.append((field, "defined {0}".format(mine(connection, prefix))))
    assert problems == []
    assert len(cases) == 29


def test_a_valid_run_still_works_after_validation(lab, reconcile):
    connection, prefix, volume = lab
    args = dict(name=prefix + "ok", virt_type="qemu", memory="64", state="present", machine="pc", vcpus=2,
                disks=[dict(pool=POOL, volume=volume, target="hdc", bus="sata")], cdrom=dict(pool=POOL, volume=volume, target="sdz"),
                interfaces=[dict(network="default", mac="52:54:00:12:34:56")])
    result = reconcile(params(**args), check_mode=False)
    assert result["changed"] and mine(connection, prefix) == [prefix + "ok"]
    assert [d["target"] for d in result["domain"]["disks"]] == ["hdc", "sdz"]
    assert not reconcile(params(**args), check_mode=False)["changed"]


def test_secret_values_ignores_xml_that_does_not_encode():
    assert secret_values(dict(xml="<domain>\ud800</domain>", domains=None)) == set()


# ---------------------------------------------------------------- libvirt's refusals at define time

def test_define_refusal_names_vcpus(lab, reconcile):
    # The test driver has no domain capabilities: its refusal at define time is mapped.
    connection, prefix, _volume = lab
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(name=prefix + "n", virt_type="qemu", memory="64", vcpus=2 ** 32, state="present"), check_mode=False)
    assert str(err.value).startswith("vcpus: libvirt refused to define domain ")
    assert "maximum vcpus count must be an integer" in str(err.value)
    assert mine(connection, prefix) == []


def test_define_refusal_names_the_disk_format(lab, reconcile):
    connection, prefix, volume = lab
    items = [dict(name=prefix + "a"), dict(name=prefix + "b", disks=[dict(pool=POOL, volume=volume, format="bogus")])]
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(domains=items, virt_type="qemu", memory="64", state="present"), check_mode=False)
    # A run-time failure of an item: the runner names the item, then the field (issue 10).
    assert str(err.value).startswith("domains[1] ({0}b): domains[1].disks[0].format: libvirt refused to define domain ".format(prefix))
    assert [(d["name"], d["changed"]) for d in err.value.result["domains"]] == [(prefix + "a", True), (prefix + "b", False)]
    assert "'bogus'" in str(err.value)


REFUSALS = [
    (dict(machine="x"), "XML error: No PCI buses available", ["machine"]),
    (dict(), "XML error: No PCI buses available", []),
    (dict(vcpus=100000), "unsupported configuration: Maximum CPUs greater than specified machine type limit 255", ["vcpus"]),
    (dict(vcpus=300, machine="pc"), "unsupported configuration: Maximum CPUs greater than specified machine type limit 255",
     ["vcpus", "machine"]),
    (dict(disks=[dict(target="zzz", _field="disks[0]"), dict(target="vdb", _field="cdrom")]),
     "XML error: Unknown disk name 'zzz' and no address specified", ["disks[0].target"]),
    (dict(disks=[dict(target="vda", _field="disks[0]"), dict(target="vda1", _field="cdrom")]),
     "unsupported configuration: invalid disk target 'vda1', partitions can't appear in disk targets", ["cdrom.target"]),
    (dict(interfaces=[dict(model="virtio", _model_given=False, _field="interfaces[0]"),
                      dict(model="e 1000", _model_given=True, _field="interfaces[1]")]),
     "invalid argument: Model name contains invalid characters", ["interfaces[1].model"]),
    (dict(), "invalid argument: could not find capabilities for arch=x86_64 domaintype=kvm", ["virt_type"]),
    (dict(xml="<domain/>", vcpus=None), "unsupported configuration: Maximum CPUs greater than specified machine type limit 255", ["xml"]),
    (dict(memory="1P"), "numerical overflow: value too large: 1152921504606846976", ["memory"]),
    (dict(), "internal error: something else", []),
    (dict(interfaces=[dict(type="network", mtu=1400, _field="interfaces[0]"), dict(type="direct", mtu=1400, _field="interfaces[1]")]),
     "unsupported configuration: setting MTU on interface type direct is not supported yet", ["interfaces[1].mtu"]),
]


@pytest.mark.parametrize("spec, message, fields", REFUSALS)
def test_refused_fields(spec, message, fields):
    assert refused_fields(spec, message) == fields


def test_refused_fields_with_an_item_prefix():
    spec = dict(vcpus=300, disks=[dict(target="zzz", _field="domains[2].disks[0]")])
    assert refused_fields(spec, "Maximum CPUs greater than specified machine type limit 255", "domains[2].") == ["domains[2].vcpus"]
    assert refused_fields(spec, "Unknown disk name 'zzz'", "domains[2].") == ["domains[2].disks[0].target"]


# ---------------------------------------------------------------- domain capabilities

DOMCAPS = """<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><domain>qemu</domain>
<machine>pc-i440fx-7.2</machine><arch>x86_64</arch><vcpu max='255'/></domainCapabilities>"""


def test_vcpu_limit():
    assert vcpu_limit(parse(DOMCAPS)) == (255, "pc-i440fx-7.2")
    assert vcpu_limit(parse("<domainCapabilities/>")) == (None, None)
    assert vcpu_limit(None) == (None, None)


@pytest.fixture
def qemu():
    """qemu:///system, only read (domain capabilities, look-ups of names that do not exist)."""
    connection = Connection("qemu:///system")
    try:
        connection.open()
    except KvmError as e:
        pytest.skip("qemu:///system is not reachable: {0}".format(e))
    try:
        connection.conn.getDomainCapabilities(None, None, None, "qemu", 0)
    except libvirt.libvirtError as e:
        connection.close()
        pytest.skip("no QEMU domain capabilities: {0}".format(e))
    yield connection
    connection.close()


NEW = "kvmops-it-unit-validation-{0}".format(uuid.uuid4().hex[:8])


def limit_of(connection, machine):
    caps = parse(connection.conn.getDomainCapabilities(None, None, machine, "qemu", 0))
    return vcpu_limit(caps)


@pytest.mark.parametrize("args, field, words", [
    (dict(machine="kvmops-no-such-machine"), "machine", "'kvmops-no-such-machine' is not a machine type libvirt offers for qemu guests"),
    (dict(vcpus="limit+1"), "vcpus", "must be at most {limit} with machine {machine} (qemu guests; libvirt's limit), got {vcpus}"),
    (dict(vcpus="limit+1", machine="q35"), "vcpus", "must be at most {limit} with machine {machine} "),
    (dict(domains=[dict(name=NEW + "a"), dict(name=NEW + "b", vcpus="limit+1")]), "domains[1].vcpus", "must be at most {limit} "),
])
def test_capabilities_refuse_before_anything_is_touched(qemu, reconcile, args, field, words):
    limit, machine = limit_of(qemu, args.get("machine") if args.get("machine") != "kvmops-no-such-machine" else None)
    p = dict(params(virt_type="qemu", memory="64", state="present"), uri="qemu:///system")
    if "domains" not in args:
        p["name"] = NEW
    p.update(args)
    for item in [p] + (p["domains"] or []):
        if item.get("vcpus") == "limit+1":
            item["vcpus"] = limit + 1
    with pytest.raises(reconcile.Failed) as err:
        reconcile(p, check_mode=False)
    assert str(err.value).startswith(field + ": ")
    assert words.format(limit=limit, machine=machine, vcpus=limit + 1) in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    assert not [d for d in qemu.conn.listAllDomains() if d.name().startswith(NEW)]


def test_capabilities_accept_what_libvirt_offers(qemu, reconcile):
    resolver = Resolver(qemu)
    caps, refusal = resolver.domain_capabilities(None, "pc", "qemu")
    assert refusal is None and vcpu_limit(caps)[0] >= 1
    assert resolver.domain_capabilities(None, "pc", "qemu")[0] is caps  # cached
    result = reconcile(dict(params(name=NEW, virt_type="qemu", memory="64", vcpus=vcpu_limit(caps)[0], machine="pc",
                                   state="present"), uri="qemu:///system"), check_mode=True)
    assert result["changed"] and result["domain"]["vcpus"] == vcpu_limit(caps)[0]
    assert qemu.domain(NEW) is None
