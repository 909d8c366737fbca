# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid inputs of kvm_domain: one strategy per reason the input is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs_common import (  # noqa: E402  pylint: disable=wrong-import-position
    DOMAIN,
    NETWORK,
    NET_BRIDGE,
    NEW,
    POOL,
    SRC,
    VOLUME,
    _LOWER,
    bad_ifname,
    bad_mac,
    bad_size,
    case,
    control_name,
    control_path,
    generate_from_spec,
    new_name,
    new_path,
    not_int,
    not_one_of,
    slash_name,
    st,
    strategy,
    string,
    suffix,
    word,
)


NEW_DOMAIN = dict(memory="64", virt_type="qemu", state="present")


def _dom(fields, **args):
    args.setdefault("state", "present")
    return case("kvm_domain", fields, **args)


target_domain = st.sampled_from([NEW + "d", DOMAIN])


@strategy("kvm_domain", "name with a slash", 3)
def _domain_name_with_a_slash():
    return slash_name.map(lambda n: _dom("name", name=n, memory="64", virt_type="qemu"))


@strategy("kvm_domain", "name with a control character", 3)
def _domain_name_with_a_control_character():
    return control_name.map(lambda n: _dom("name", name=n, **NEW_DOMAIN))


@strategy("kvm_domain", "cdrom neither a path nor a dict", 4)
def _domain_cdrom_neither_a_path_nor_a_dict():
    return st.builds(lambda n, c: _dom("cdrom", name=n, cdrom=c, **NEW_DOMAIN), target_domain,
                     st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False), st.lists(word, min_size=1, max_size=3),
                               st.text(alphabet=_LOWER + "./", min_size=1, max_size=12).filter(lambda p: p[0] != "/"), control_path))


@strategy("kvm_domain", "unknown machine", 2)
def _domain_unknown_machine():
    return st.builds(lambda n, m: _dom("machine", name=n, machine="kvmops-no-such-" + m, **NEW_DOMAIN), target_domain, suffix)


@strategy("kvm_domain", "more vcpus than the machine takes", 2)
def _domain_more_vcpus_than_the_machine_takes():
    return st.builds(lambda n, v: _dom("vcpus", name=n, vcpus=v, **NEW_DOMAIN), target_domain, st.integers(256, 2 ** 31 - 1))


@strategy("kvm_domain", "bad disk target", 3)
def _domain_bad_disk_target():
    targets = st.one_of(st.sampled_from(["vd", "sd", "zzz", "sd1", "vdaaaaaaa", "vda\n", "../vda", "VDA"]),
                        st.text(alphabet=string.digits + "_-/", min_size=1, max_size=6))
    return st.builds(lambda n, t: _dom("target", name=n, disks=[dict(pool=POOL, volume=VOLUME, target=t)], **NEW_DOMAIN), target_domain, targets)


@strategy("kvm_domain", "empty name", 1)
def _domain_empty_name():
    return st.just(_dom("name", name="", memory="64", virt_type="qemu"))


@strategy("kvm_domain", "name and domains, or neither", 2)
def _domain_name_and_domains_or_neither():
    return st.sampled_from([
        _dom(("name", "domains"), name=NEW + "a", domains=[dict(name=NEW + "b", **NEW_DOMAIN)]),
        _dom(("name", "domains"), memory="64"),
    ])


@strategy("kvm_domain", "unknown choice", 6)
def _domain_unknown_choice():
    keys = dict(state=["present", "running", "shutdown", "destroyed", "paused", "absent"], virt_type=["kvm", "qemu"],
                cpu_mode=["host-passthrough", "host-model", "maximum", "custom"], firmware=["bios", "efi"],
                graphics=["vnc", "spice", "none"])

    def build(n, key, v):
        return _dom(key, name=n, **dict(NEW_DOMAIN, **{key: v}))
    return st.builds(build, target_domain, st.sampled_from(sorted(keys)),
                     not_one_of([v for values in keys.values() for v in values]))


@strategy("kvm_domain", "unknown boot device", 2)
def _domain_unknown_boot_device():
    return st.builds(lambda n, b: _dom("boot", name=n, boot=["hd", b], **NEW_DOMAIN), target_domain, not_one_of(["hd", "cdrom", "network", "fd"]))


@strategy("kvm_domain", "bad vcpus", 4)
def _domain_bad_vcpus():
    return st.builds(lambda n, v: _dom("vcpus", name=n, vcpus=v, **NEW_DOMAIN), target_domain,
                     st.one_of(st.integers(max_value=0, min_value=-(2 ** 31)), not_int))


@strategy("kvm_domain", "bad memory", 5)
def _domain_bad_memory():
    return st.builds(lambda n, m: _dom("memory", name=n, memory=m, virt_type="qemu"), target_domain,
                     st.one_of(bad_size.filter(lambda v: not isinstance(v, bool)).map(str), st.sampled_from(["512K", "1023K", "1000000B"])))


@strategy("kvm_domain", "new domain without memory", 2)
def _domain_new_domain_without_memory():
    return st.builds(lambda n, v: _dom("memory", name=n, vcpus=v, virt_type="qemu"), new_name, st.integers(1, 4))


@strategy("kvm_domain", "new domain with nothing to define it", 1)
def _domain_new_domain_with_nothing_to_define_it():
    return new_name.map(lambda n: _dom("name", name=n))


@strategy("kvm_domain", "negative shutdown_timeout", 2)
def _domain_negative_shutdown_timeout():
    return st.builds(lambda n, t: _dom("shutdown_timeout", name=n, shutdown_timeout=t, **NEW_DOMAIN), target_domain,
                     st.integers(max_value=-1, min_value=-(2 ** 31)))


@strategy("kvm_domain", "xml with structured options", 2)
def _domain_xml_with_structured_options():
    return st.builds(lambda n, key: _dom(("xml", key), name=n, xml="<domain type='qemu'><name>{0}</name></domain>".format(n),
                                         **{key: dict(vcpus=2, memory="64", machine="pc", graphics="vnc")[key]}),
                     target_domain, st.sampled_from(["vcpus", "memory", "machine", "graphics"]))


bad_xml = st.one_of(
    st.text(alphabet="<>/ad= '\"&", min_size=1, max_size=30).filter(lambda s: s.strip() != ""),
    st.builds("<domain type='qemu'><name>{0}</name>".format, target_domain),
    st.builds("<domain type='qemu'><name>{0}</name></domian>".format, target_domain),
    st.builds("<domain type='qemu'><name>{0}</name></domain><domain/>".format, target_domain),
)


@strategy("kvm_domain", "malformed xml", 4)
def _domain_malformed_xml():
    return st.builds(lambda n, x: _dom("xml", name=n, xml=x), target_domain, bad_xml)


@strategy("kvm_domain", "xml of something else or another name", 4)
def _domain_xml_of_something_else_or_another_name():
    wrong_root = st.builds(lambda n, tag: _dom("xml", name=n, xml="<{0}><name>{1}</name></{0}>".format(tag, n)), target_domain,
                           st.sampled_from(["network", "pool", "Domain", "domainx"]))
    other_name = st.builds(lambda n, o: _dom("xml", name=n, xml="<domain type='qemu'><name>{0}</name><memory>65536</memory></domain>".format(o)),
                           target_domain, new_name.filter(lambda o: o != NEW + "d"))
    no_name = target_domain.map(lambda n: _dom("xml", name=n, xml="<domain type='qemu'><memory>65536</memory></domain>"))
    return st.one_of(wrong_root, other_name, no_name)


# A disk or interface that cannot be, and what the message names.
bad_disk = st.one_of(
    st.just((dict(path=SRC, pool=POOL, volume=VOLUME), "disks[0]")),
    st.just((dict(bus="virtio"), "disks[0]")),
    st.just((dict(pool=POOL), "disks[0]")),
    st.text(alphabet=_LOWER + "./", min_size=1, max_size=15).filter(lambda s: s[0] != "/").map(lambda p: (dict(path=p), "disks[0].path")),
    st.one_of(new_path, control_path).map(lambda p: (dict(path=p), "disks[0].path")),
    new_name.map(lambda p: (dict(pool=p, volume=VOLUME), "disks[0].pool")),
    new_name.map(lambda v: (dict(pool=POOL, volume=v), "disks[0].volume")),
    not_one_of(["virtio", "sata", "scsi", "ide", "usb"]).map(lambda b: (dict(pool=POOL, volume=VOLUME, bus=b), "bus")),
)


@strategy("kvm_domain", "bad disk", 8)
def _domain_bad_disk():
    return st.builds(lambda n, d: _dom(d[1], name=n, disks=[d[0]], **NEW_DOMAIN), target_domain, bad_disk)


@strategy("kvm_domain", "two disks on one target", 1)
def _domain_two_disks_on_one_target():
    disk = dict(pool=POOL, volume=VOLUME, target="vdb")
    return target_domain.map(lambda n: _dom("disks", name=n, disks=[disk, dict(disk)], **NEW_DOMAIN))


bad_nic = st.one_of(
    st.just((dict(network=NETWORK, bridge=NET_BRIDGE), "interfaces[0]")),
    st.just((dict(model="virtio"), "interfaces[0]")),
    bad_mac.map(lambda m: (dict(network=NETWORK, mac=m), "interfaces[0].mac")),
    new_name.map(lambda w: (dict(network=w), "interfaces[0].network")),
    suffix.map(lambda b: (dict(bridge="kvrobno" + b.replace("-", "")[:8]), "interfaces[0].bridge")),
    bad_ifname.map(lambda b: (dict(bridge=b), "interfaces[0].bridge")),
)


@strategy("kvm_domain", "bad interface", 10)
def _domain_bad_interface():
    return st.builds(lambda n, i: _dom(i[1], name=n, interfaces=[i[0]], **NEW_DOMAIN), target_domain, bad_nic)


@strategy("kvm_domain", "valid domains, then an invalid one", 4)
def _domain_valid_domains_then_an_invalid_one():
    def build(valid, bad):
        item, field = bad
        items = [dict(name=NEW + "ok{0}".format(i), **NEW_DOMAIN) for i in range(valid)]
        items.append(dict(name=NEW + "bad", disks=[item], **NEW_DOMAIN))
        return _dom("domains[{0}].{1}".format(valid, field), domains=items)
    return st.builds(build, st.integers(1, 2), bad_disk.filter(lambda d: d[1].startswith("disks[0]")))


@strategy("kvm_domain", "domains lists one twice", 1)
def _domain_domains_lists_one_twice():
    return st.just(_dom("domains[1].name", domains=[dict(name=NEW + "tw", **NEW_DOMAIN), dict(name=NEW + "tw", **NEW_DOMAIN)]))


# Not a boolean, an unknown option, a bad uri: from the options the module documents now.
generate_from_spec("kvm_domain", _dom, target_domain, NEW_DOMAIN)
