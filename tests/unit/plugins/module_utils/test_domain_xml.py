# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""XML building, subset comparison and merging of domain definitions."""

from __future__ import annotations

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import (
    assign_targets,
    build,
    compare,
    describe,
    has_tpm,
    machine_matches,
    parse_user_xml,
    secure_boot,
    set_secure_boot,
    set_tpm,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import _firmware as spec_firmware
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import check_firmware
from ansible_collections.kvmops.hypervisor.plugins.module_utils._errors import KvmError, ValidationError
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string

# What qemu:///system returned (inactive XML) for a small TCG guest.
ACTUAL = """
<domain type='qemu'>
  <name>g1</name>
  <uuid>634305cb-7596-4954-96af-d6a29af0f89b</uuid>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='cdrom'/>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='p' volume='g1.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/iso/a.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:9c:7f:33'/>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes'>
      <listen type='address'/>
    </graphics>
  </devices>
</domain>
"""


def spec(**kw):
    base = dict(name="g1", virt_type="qemu", vcpus=1, memory_mib=128, machine="pc", boot=["cdrom", "hd"],
                disks=assign_targets([
                    dict(pool="p", volume="g1.qcow2", bus="virtio", device="disk", format="qcow2", target=None),
                    dict(path="/iso/a.iso", bus="sata", device="cdrom", format=None, target=None),
                ]),
                interfaces=[dict(network="default", model="virtio")], graphics="vnc")
    base.update(kw)
    return base


MANAGED = {"disk", "interface", "graphics"}


def test_same_spec_is_a_subset_of_what_libvirt_returns():
    differences, _merged = compare(build(spec()), parse(ACTUAL), MANAGED)
    assert differences == []


def test_build_new_has_defaults_and_targets():
    root = build(spec(virt_type=None, graphics=None), new=True)
    assert root.get("type") == "kvm"
    assert [t.get("dev") for t in root.findall("devices/disk/target")] == ["vda", "sda"]
    assert root.find("features/acpi") is not None
    assert root.findtext("memory") == str(128 * 1024)
    assert root.find("devices/graphics") is None


def test_memory_change_is_reported_and_merged_keeping_mac_uuid_addresses():
    differences, merged = compare(build(spec(memory_mib=256, vcpus=2)), parse(ACTUAL), MANAGED)
    paths = dict((p, (w, h)) for p, w, h in differences)
    assert paths["domain/memory"] == (str(256 * 1024), "131072")
    assert paths["domain/vcpu"] == ("2", "1")
    assert merged.findtext("uuid") == "634305cb-7596-4954-96af-d6a29af0f89b"
    assert merged.find("devices/interface/mac").get("address") == "52:54:00:9c:7f:33"
    assert merged.find("devices/disk/address").get("slot") == "0x05"
    assert merged.find("os/type").get("machine") == "pc-i440fx-7.2"
    assert compare(build(spec(memory_mib=256, vcpus=2)), merged, MANAGED)[0] == []


def test_machine_alias_and_change():
    assert machine_matches("pc", "pc-i440fx-7.2")
    assert machine_matches("q35", "pc-q35-7.2")
    assert machine_matches("pc-i440fx-7.2", "pc-i440fx-7.2")
    assert not machine_matches("q35", "pc-i440fx-7.2")
    differences, merged = compare(build(spec(machine="q35")), parse(ACTUAL), MANAGED)
    assert ("domain/os/type/@machine", "q35", "pc-i440fx-7.2") in differences
    assert merged.find("os/type").get("machine") == "q35"


def test_boot_order_is_a_list():
    differences, merged = compare(build(spec(boot=["hd"])), parse(ACTUAL), MANAGED)
    assert differences == [("domain/os/boot", ["hd"], ["cdrom", "hd"])]
    assert [b.get("dev") for b in merged.findall("os/boot")] == ["hd"]
    # The <boot> elements stay right after <type>, where libvirt's schema wants them.
    assert [c.tag for c in merged.find("os")] == ["type", "boot"]


def test_interface_without_mac_matched_by_position_keeps_mac():
    differences, merged = compare(build(spec(interfaces=[dict(network="default", model="e1000")])), parse(ACTUAL), MANAGED)
    assert differences == [("domain/devices/interface[52:54:00:9c:7f:33]/model/@type", "e1000", "virtio")]
    nic = merged.find("devices/interface")
    assert nic.find("mac").get("address") == "52:54:00:9c:7f:33"
    assert nic.find("model").get("type") == "e1000"


def test_interface_with_other_mac_replaces_and_extra_is_removed():
    wanted = [dict(network="default", model="virtio", mac="52:54:00:00:00:01")]
    differences, merged = compare(build(spec(interfaces=wanted)), parse(ACTUAL), MANAGED)
    assert [p for p, _w, _h in differences] == ["domain/devices/interface[52:54:00:00:00:01]",
                                                "domain/devices/interface[52:54:00:9c:7f:33]"]
    assert [m.get("address") for m in merged.findall("devices/interface/mac")] == ["52:54:00:00:00:01"]


def test_interface_type_change_keeps_mac_and_address():
    differences, merged = compare(build(spec(interfaces=[dict(bridge="br0", model="virtio")])), parse(ACTUAL), MANAGED)
    assert ("domain/devices/interface[52:54:00:9c:7f:33]/@type", "bridge", "network") in differences
    nic = merged.find("devices/interface")
    assert nic.get("type") == "bridge"
    assert nic.find("source").attrib == {"bridge": "br0"}
    assert nic.find("mac").get("address") == "52:54:00:9c:7f:33"
    assert nic.find("address").get("slot") == "0x03"


def test_disk_list_is_authoritative_unlisted_removed():
    only_disk = spec(disks=assign_targets([dict(pool="p", volume="g1.qcow2", bus="virtio", device="disk", format="qcow2", target=None)]))
    differences, merged = compare(build(only_disk), parse(ACTUAL), MANAGED)
    assert [p for p, _w, _h in differences] == ["domain/devices/disk[sda]"]
    assert [t.get("dev") for t in merged.findall("devices/disk/target")] == ["vda"]


def test_unspecified_kinds_are_left_alone():
    bare = dict(name="g1", memory_mib=128)
    differences, merged = compare(build(bare), parse(ACTUAL), set())
    assert differences == []
    assert len(merged.findall("devices/disk")) == 2


def test_graphics_none_removes_graphics():
    differences, merged = compare(build(spec(graphics="none")), parse(ACTUAL), MANAGED)
    assert [p for p, _w, _h in differences] == ["domain/devices/graphics[vnc]"]
    assert merged.find("devices/graphics") is None


def test_new_disk_is_added():
    disks = assign_targets([dict(pool="p", volume="g1.qcow2", bus="virtio", device="disk", format="qcow2", target=None),
                            dict(path="/iso/a.iso", bus="sata", device="cdrom", format=None, target=None),
                            dict(pool="p", volume="data", bus="virtio", device="disk", format="raw", target=None)])
    assert [d["target"] for d in disks] == ["vda", "sda", "vdb"]
    differences, merged = compare(build(spec(disks=disks)), parse(ACTUAL), MANAGED)
    assert [p for p, _w, _h in differences] == ["domain/devices/disk[vdb]"]
    assert merged.findall("devices/disk")[-1].find("source").get("volume") == "data"


def test_assign_targets_skips_given_names():
    disks = assign_targets([dict(bus="virtio", target=None), dict(bus="virtio", target="vda"), dict(bus="ide", target=None)])
    assert [d["target"] for d in disks] == ["vdb", "vda", "hda"]


def test_user_xml_memory_units_are_normalised():
    root = parse_user_xml("xml", "<domain type='qemu'><name>g1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu></domain>")
    assert root.find("memory").get("unit") == "KiB"
    assert root.findtext("memory") == "131072"
    assert compare(root, parse(ACTUAL), set())[0] == []


@pytest.mark.parametrize("text, message", [
    ("<domain><name>x</name>", "not well-formed"),
    ("<network/>", "root element must be <domain>"),
    ("<domain><memory unit='XB'>1</memory></domain>", "unknown unit"),
    ("<domain><memory>12X</memory></domain>", "must be an integer"),
])
def test_user_xml_bad(text, message):
    with pytest.raises(ValidationError) as err:
        parse_user_xml("domains[2].xml", text)
    assert err.value.field == "domains[2].xml"
    assert message in str(err.value)


def test_describe():
    info = describe(parse(ACTUAL))
    assert info["memory_mib"] == 128
    assert info["vcpus"] == 1
    assert info["boot"] == ["cdrom", "hd"]
    assert info["interfaces"] == [dict(type="network", network="default", bridge=None, model="virtio", mac="52:54:00:9c:7f:33",
                                       dev=None, mode=None, portgroup=None, mtu=None)]
    assert info["disks"][0]["pool"] == "p" and info["disks"][0]["target"] == "vda"
    assert info["disks"][1]["path"] == "/iso/a.iso" and info["disks"][1]["device"] == "cdrom"


def test_built_xml_is_well_formed_text():
    text = to_string(build(spec(), new=True))
    assert parse(text).findtext("name") == "g1"


def test_firmware_and_cpu_mode_are_built_and_compared():
    root = build(spec(firmware="efi", cpu_mode="host-passthrough"))
    assert root.find("os").get("firmware") == "efi"
    assert root.find("cpu").get("mode") == "host-passthrough"
    differences, merged = compare(root, parse(ACTUAL), MANAGED)
    assert ("domain/os/@firmware", "efi", None) in differences
    assert ("domain/cpu", "<cpu mode=\"host-passthrough\"/>", None) in differences
    assert merged.find("os").get("firmware") == "efi"
    assert merged.find("cpu").get("mode") == "host-passthrough"


# ------------------------------------------------- UEFI, Secure Boot, TPM (issue 13)

def _features(root):
    return dict((f.get("name"), f.get("enabled")) for f in root.findall("os/firmware/feature"))


@pytest.mark.parametrize("given, want", [(None, "no"), (False, "no"), (True, "yes")])
def test_new_efi_domain_never_gets_secure_boot_by_accident(given, want):
    root = build(spec(machine="q35", firmware="efi", secure_boot=given), new=True)
    assert root.find("os").get("firmware") == "efi"
    assert _features(root) == {"secure-boot": want, "enrolled-keys": want}
    assert (root.find("features/smm") is not None) == (want == "yes")
    if want == "yes":
        assert root.find("features/smm").get("state") == "on"
    # <firmware> right after <type>, where libvirt's schema has it.
    assert [c.tag for c in root.find("os")][:2] == ["type", "firmware"]
    assert describe(root)["firmware"] == "efi" and describe(root)["secure_boot"] is (want == "yes")


def test_new_bios_domain_has_no_firmware_features_nor_tpm():
    root = build(spec(), new=True)
    assert root.find("os/firmware") is None and root.find("devices/tpm") is None
    assert describe(root)["firmware"] == "bios" and describe(root)["secure_boot"] is False
    assert describe(root)["tpm"] is False


def test_new_domain_with_tpm_gets_an_emulated_tpm2():
    root = build(spec(tpm=True), new=True)
    tpm = root.find("devices/tpm")
    assert tpm.get("model") == "tpm-crb"
    assert dict(tpm.find("backend").attrib) == {"type": "emulator", "version": "2.0"}
    assert has_tpm(root) and describe(root)["tpm"] is True


# What qemu:///system (libvirt 9.0) keeps of an efi + Secure Boot domain in
# its inactive XML: the features, no loader nor nvram (chosen at start).
EFI_ACTUAL = """
<domain type='qemu'>
  <name>g2</name>
  <memory unit='KiB'>262144</memory>
  <vcpu placement='static'>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware>
      <feature enabled='yes' name='enrolled-keys'/>
      <feature enabled='yes' name='secure-boot'/>
    </firmware>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><smm state='on'/></features>
  <devices>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
  </devices>
</domain>
"""


def test_secure_boot_read_and_unchanged_in_libvirts_order():
    actual = parse(EFI_ACTUAL)
    assert secure_boot(actual) is True
    # libvirt lists enrolled-keys first: the same wish, no change.
    assert set_secure_boot(actual, True) is False
    assert to_string(actual) == to_string(parse(EFI_ACTUAL))
    assert secure_boot(parse("<domain><os firmware='efi'><type>hvm</type></os></domain>")) is None


def test_secure_boot_off_and_on_again():
    actual = parse(EFI_ACTUAL)
    assert set_secure_boot(actual, False) is True
    assert _features(actual) == {"secure-boot": "no", "enrolled-keys": "no"}
    assert actual.find("features/smm").get("state") == "on"  # left as it was
    assert set_secure_boot(actual, True) is True and secure_boot(actual) is True


def test_secure_boot_on_adds_smm_and_drops_an_old_loader_choice():
    root = parse("<domain><os firmware='efi'><type machine='pc-q35-7.2'>hvm</type>"
                 "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                 "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/g_VARS.fd</nvram>"
                 "</os><features><acpi/></features></domain>")
    assert set_secure_boot(root, True) is True
    assert root.find("features/smm").get("state") == "on"
    assert root.find("os/loader") is None
    # The file stays (the guest's variables); only the template libvirt picked goes.
    assert root.findtext("os/nvram") == "/var/lib/libvirt/qemu/nvram/g_VARS.fd"
    assert root.find("os/nvram").get("template") is None
    # Without <features> at all: one is made after <os>.
    bare = parse("<domain><name>g</name><os firmware='efi'><type>hvm</type></os><devices/></domain>")
    assert set_secure_boot(bare, True) and [c.tag for c in bare] == ["name", "os", "features", "devices"]


def test_tpm_kept_added_and_removed():
    actual = parse(EFI_ACTUAL)
    assert has_tpm(actual) and set_tpm(actual, True) is False
    assert set_tpm(actual, False) is True and actual.find("devices/tpm") is None
    assert set_tpm(actual, False) is False
    assert set_tpm(actual, True) is True and has_tpm(actual)
    # A passthrough TPM is not the emulated one asked for: replaced (one TPM per guest).
    passthrough = parse("<domain><devices><tpm model='tpm-tis'><backend type='passthrough'>"
                        "<device path='/dev/tpm0'/></backend></tpm></devices></domain>")
    assert not has_tpm(passthrough)
    assert set_tpm(passthrough, True) is True and len(passthrough.findall("devices/tpm")) == 1
    assert has_tpm(passthrough)


def test_describe_efi_domain():
    described = describe(parse(EFI_ACTUAL))
    assert (described["firmware"], described["secure_boot"], described["tpm"]) == ("efi", True, True)


def _spec_for_firmware(**kw):
    base = dict(_prefix="domains[1].", name="g", state="running", xml=None, firmware=None, secure_boot=None,
                tpm=None, machine=None, virt_type="qemu")
    base.update(kw)
    return base


@pytest.mark.parametrize("kw, field, words", [
    (dict(secure_boot=True), "domains[1].secure_boot", "needs firmware: efi, got firmware: (not given)"),
    (dict(secure_boot=False, firmware="bios"), "domains[1].secure_boot", "needs firmware: efi, got firmware: bios"),
    (dict(secure_boot=True, firmware="efi", machine="pc"), "domains[1].machine", "must be q35"),
    (dict(secure_boot=True, firmware="efi", machine="pc-i440fx-7.2"), "domains[1].machine", "must be q35"),
])
def test_secure_boot_bad_input_names_the_field(kw, field, words):
    with pytest.raises(ValidationError) as err:
        spec_firmware(_spec_for_firmware(**kw))
    assert err.value.field == field and words in str(err.value)
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("machine", ["q35", "pc-q35-7.2"])
def test_secure_boot_on_q35_is_accepted(machine):
    spec_firmware(_spec_for_firmware(secure_boot=True, firmware="efi", machine=machine))
    spec_firmware(_spec_for_firmware(secure_boot=False, firmware="efi", machine="pc"))


# Parts of `virsh domcapabilities --virttype qemu --machine q35` on a Debian 12 host:
# with ovmf and swtpm installed, and without them.
_LOADER = ("<loader supported='yes'><value>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</value>"
           "<enum name='secure'><value>yes</value><value>no</value></enum></loader>")
_TPM = ("<tpm supported='yes'><enum name='model'><value>tpm-tis</value><value>tpm-crb</value></enum>"
        "<enum name='backendModel'><value>passthrough</value><value>emulator</value></enum></tpm>")
CAPS_FULL = ("<domainCapabilities><machine>pc-q35-7.2</machine><os supported='yes'><enum name='firmware'>"
             "<value>efi</value></enum>" + _LOADER + "</os><devices>" + _TPM + "</devices></domainCapabilities>")
CAPS_BARE = ("<domainCapabilities><machine>pc-q35-7.2</machine><os supported='yes'><enum name='firmware'/>"
             "<loader supported='yes'><enum name='secure'><value>no</value></enum></loader></os><devices>"
             "<tpm supported='yes'><enum name='backendModel'><value>passthrough</value></enum></tpm>"
             "</devices></domainCapabilities>")


class _Capabilities:
    """What Resolver.domain_capabilities answers, from a fixed XML."""

    def __init__(self, text):
        self.text = text
        self.asked = []

    def domain_capabilities(self, arch, machine, virt_type):
        self.asked.append((arch, machine, virt_type))
        return parse(self.text), None


@pytest.mark.parametrize("kw, field, words", [
    (dict(firmware="efi", machine="q35"), "domains[1].firmware", "install the package ovmf"),
    (dict(firmware="efi", machine="q35", secure_boot=True), "domains[1].firmware", "install the package ovmf"),
    (dict(tpm=True), "domains[1].tpm", "install the packages swtpm and swtpm-tools"),
])
def test_a_host_without_ovmf_or_swtpm_fails_naming_the_package(kw, field, words):
    with pytest.raises(KvmError) as err:
        check_firmware(_spec_for_firmware(**kw), _Capabilities(CAPS_BARE), None)
    assert err.value.field == field and words in str(err.value)


def test_a_host_with_ovmf_and_swtpm_passes():
    resolver = _Capabilities(CAPS_FULL)
    check_firmware(_spec_for_firmware(firmware="efi", machine="q35", secure_boot=True, tpm=True), resolver, None)
    assert resolver.asked == [(None, "q35", "qemu")]
    # Nothing asked of the host for a BIOS guest without TPM.
    check_firmware(_spec_for_firmware(firmware="bios"), resolver, None)
    assert len(resolver.asked) == 1


def test_secure_boot_machine_of_a_new_or_existing_domain():
    resolver = _Capabilities(CAPS_FULL)
    with pytest.raises(ValidationError) as err:
        check_firmware(_spec_for_firmware(firmware="efi", secure_boot=True), resolver, None)
    assert err.value.field == "domains[1].machine" and "is required with secure_boot: true" in str(err.value)
    pc = parse("<domain type='qemu'><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os></domain>")
    with pytest.raises(ValidationError) as err:
        check_firmware(_spec_for_firmware(firmware="efi", secure_boot=True), resolver, pc)
    assert err.value.field == "domains[1].machine" and "'pc-i440fx-7.2'" in str(err.value)
    check_firmware(_spec_for_firmware(firmware="efi", secure_boot=True), resolver, parse(EFI_ACTUAL))
    assert resolver.asked[-1] == ("x86_64", "pc-q35-7.2", "qemu")
