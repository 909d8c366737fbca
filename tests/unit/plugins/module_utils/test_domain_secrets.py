# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Console passwords in kvm_domain's back end (libvirt's test:///default driver):
compared on the secure XML, kept across updates, never in a result or a diff.

These call the back end directly, below AnsibleModule, so Ansible's own
masking of no_log values cannot hide a leak: every check on a result is on
exactly what the module would return."""

from __future__ import annotations

import json

import libvirt
import pytest

from ansible.module_utils.common.parameters import PASS_VARS

from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_secrets import secret_values
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_spec import ITEM_KEYS
from ansible_collections.kvmops.hypervisor.plugins.module_utils._domain_xml import (
    MASK,
    compare,
    mask,
    mask_text,
    secrets_in,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils._xml import parse, to_string
from ansible_collections.kvmops.hypervisor.plugins.modules import kvm_domain
from ansible_collections.kvmops.hypervisor.tests.unit.plugins._runner import run_main

URI = "test:///default"
PW1 = "Pw1-q7Zx"
PW2 = "Pw2-k4Rm"


def params(**kw):
    result = dict((key, None) for key in ITEM_KEYS)
    result.update(domains=None, uri=URI)
    result.update(kw)
    return result


def guest(prefix, **kw):
    spec = dict(name=prefix + "g", virt_type="qemu", vcpus=1, memory="64", state="present", graphics="vnc")
    spec.update(kw)
    return spec


def secure_graphics(connection, name):
    dom = connection.conn.lookupByName(name)
    secure = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)).find("devices/graphics")
    plain = parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find("devices/graphics")
    assert plain is None or plain.get("passwd") is None  # what libvirt hides without the SECURE flag
    return secure


def no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text


def steps(reconcile, p, *secrets):
    """The four steps, each result checked for the secrets; returns them."""
    results = [reconcile(p, check_mode=check) for check in (True, False, True, False)]
    for result in results:
        no_secret(result, *secrets)
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert results[0]["diff"] == results[1]["diff"]
    return results


def test_new_domain_with_password_four_steps(lab, reconcile):
    connection, prefix, _volume = lab
    first, applied, _again, _last = steps(reconcile, params(**guest(prefix, graphics_password=PW1, graphics_listen="127.0.0.1")), PW1)
    assert "passwd=\"{0}\"".format(MASK) in first["diff"]["after"]["definition"]
    graphics = secure_graphics(connection, prefix + "g")
    assert graphics.get("passwd") == PW1
    assert graphics.get("listen") == "127.0.0.1"
    assert applied["domain"]["graphics"] == ["vnc"]


def test_password_change_is_detected_and_masked(lab, reconcile):
    connection, prefix, _volume = lab
    reconcile(params(**guest(prefix, graphics_password=PW1)), check_mode=False)
    first, _a, _g, _l = steps(reconcile, params(**guest(prefix, graphics_password=PW2)), PW1, PW2)
    assert (first["diff"]["before"], first["diff"]["after"]) == ({"domain/devices/graphics[vnc]/@passwd": MASK},
                                                                 {"domain/devices/graphics[vnc]/@passwd": MASK + " (new)"})
    assert secure_graphics(connection, prefix + "g").get("passwd") == PW2


def test_password_set_on_an_existing_domain_and_removed(lab, reconcile):
    connection, prefix, _volume = lab
    reconcile(params(**guest(prefix)), check_mode=False)
    first = steps(reconcile, params(**guest(prefix, graphics_password=PW1)), PW1)[0]
    assert first["diff"]["before"] == {"domain/devices/graphics[vnc]/@passwd": None}
    assert secure_graphics(connection, prefix + "g").get("passwd") == PW1
    first = steps(reconcile, params(**guest(prefix, graphics_password="")), PW1)[0]
    assert first["diff"]["after"] == {"domain/devices/graphics[vnc]/@passwd": None}
    assert secure_graphics(connection, prefix + "g").get("passwd") is None


def test_other_updates_keep_the_password(lab, reconcile):
    # Without the secure XML, a redefinition for another change dropped the password.
    connection, prefix, _volume = lab
    reconcile(params(**guest(prefix, graphics_password=PW1)), check_mode=False)
    steps(reconcile, params(**guest(prefix, vcpus=2)), PW1)
    steps(reconcile, params(**guest(prefix, vcpus=3, graphics_listen="0.0.0.0")), PW1)
    graphics = secure_graphics(connection, prefix + "g")
    assert graphics.get("passwd") == PW1 and graphics.get("listen") == "0.0.0.0"
    assert graphics.find("listen").get("address") == "0.0.0.0"


def test_password_in_user_xml(lab, reconcile):
    connection, prefix, _volume = lab
    xml = ("<domain type='qemu'><name>{0}x</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
           "<devices><graphics type='spice' passwd='{1}'/></devices></domain>")
    p = params(name=prefix + "x", state="present", xml=xml.format(prefix, PW1))
    assert secret_values(p) == {PW1}
    first = steps(reconcile, p, PW1)[0]
    assert MASK in first["diff"]["after"]["definition"]
    assert secure_graphics(connection, prefix + "x").get("passwd") == PW1
    first = steps(reconcile, params(name=prefix + "x", state="present", xml=xml.format(prefix, PW2)), PW1, PW2)[0]
    assert first["diff"]["after"] == {"domain/devices/graphics[spice]/@passwd": MASK + " (new)"}
    assert secure_graphics(connection, prefix + "x").get("passwd") == PW2


def test_domains_items_with_passwords(lab, reconcile):
    connection, prefix, _volume = lab
    items = [dict(name=prefix + "a", graphics_password=PW1), dict(name=prefix + "b")]
    first = steps(reconcile, params(domains=items, virt_type="qemu", memory="64", state="present", graphics="vnc"), PW1)[0]
    assert [r["changed"] for r in first["domains"]] == [True, True]
    assert secure_graphics(connection, prefix + "a").get("passwd") == PW1
    assert secure_graphics(connection, prefix + "b").get("passwd") is None
    items[1]["graphics_password"] = PW2
    result = reconcile(params(domains=items, virt_type="qemu", memory="64", state="present", graphics="vnc"), False)
    no_secret(result, PW1, PW2)
    assert [r["changed"] for r in result["domains"]] == [False, True]


@pytest.mark.parametrize("bad, field", [
    (dict(graphics=None, graphics_password=PW1), "graphics_password"),
    (dict(graphics="none", graphics_password=PW1), "graphics_password"),
    (dict(graphics=None, graphics_listen="0.0.0.0"), "graphics_listen"),
    (dict(graphics_listen=" "), "graphics_listen"),
    (dict(graphics_password=PW1 + "9"), "graphics_password"),  # libvirt refuses a VNC password over 8 characters
])
def test_bad_graphics_options_name_the_field_not_the_value(lab, reconcile, bad, field):
    connection, prefix, _volume = lab
    with pytest.raises(reconcile.Failed) as err:
        reconcile(params(**guest(prefix, **bad)), check_mode=False)
    assert err.value.field == field
    assert PW1 not in str(err.value) and "q7Zx" not in str(err.value)
    assert not [d for d in connection.conn.listAllDomains() if d.name().startswith(prefix)]


ACTUAL = """<domain type='qemu'><name>g</name><devices>
<graphics type='vnc' port='-1' autoport='yes' passwd='{0}'><listen type='address'/></graphics>
<redirdev bus='usb' type='spicevmc'/></devices></domain>"""


def test_compare_masks_every_secret():
    actual = parse(ACTUAL.format(PW1))
    desired = parse("<domain><name>g</name><devices><graphics type='vnc' passwd='{0}'/>"
                    "<redirdev bus='usb' type='tcp' passwd='{0}'/></devices></domain>".format(PW2))
    differences, merged = compare(desired, actual, {"graphics"})
    assert PW1 not in repr(differences) and PW2 not in repr(differences)
    assert ("domain/devices/graphics[vnc]/@passwd", MASK + " (new)", MASK) in differences
    assert merged.find("devices/graphics").get("passwd") == PW2
    same, _merged = compare(parse("<domain><name>g</name><devices><graphics type='vnc' passwd='{0}'/></devices></domain>".format(PW1)),
                            actual, {"graphics"})
    assert same == []


def test_mask_helpers():
    root = parse(ACTUAL.format(PW1))
    assert PW1 not in to_string(mask(root)) and root.find("devices/graphics").get("passwd") == PW1
    assert secrets_in(root) == {PW1}
    text = mask_text({"a": [to_string(root)], "b": "passwd = \"{0}\"".format(PW2), "c": 3})
    assert PW1 not in json.dumps(text) and PW2 not in json.dumps(text) and text["c"] == 3
    assert secret_values(dict(xml="<domain", domains=[dict(xml=ACTUAL.format(PW2)), dict(xml=None)])) == {PW2}


def test_listen_address_replaces_a_network_listen(lab, reconcile):
    # Merging an address into <listen type='network'> gives XML libvirt refuses.
    connection, prefix, _volume = lab
    connection.conn.defineXML("<domain type='test'><name>{0}n</name><memory>65536</memory><os><type>hvm</type></os><devices>"
                              "<graphics type='vnc'><listen type='network' network='default'/></graphics></devices></domain>".format(prefix))
    first = steps(reconcile, params(name=prefix + "n", state="present", graphics="vnc", graphics_listen="0.0.0.0"))[0]
    assert first["diff"]["before"]["domain/devices/graphics[vnc]/listen"] == [{"type": "network", "network": "default"}]
    graphics = secure_graphics(connection, prefix + "n")
    assert [dict(listen.attrib) for listen in graphics.findall("listen")] == [{"type": "address", "address": "0.0.0.0"}]


# ---------------------------------------------------------------- secrets in `xml` that does not parse (issue 11 item 7)

BROKEN = [
    # (xml as a user might get it wrong, the secrets in it)
    ("<domain><devices><graphics type='vnc' passwd='{0}'></devices></domain>", {PW1}),           # tag mismatch
    ("<domain><devices><graphics type='vnc' passwd=\"{0}\"/></devices>", {PW1}),                 # unclosed root
    ("<domain><devices><graphics type='vnc' passwd={0} /></devices></domain>", {PW1}),           # unquoted
    ("<domain><devices><graphics type='vnc' passwd='{0}", {PW1}),                                # cut short
    ("<domain><devices><graphics type='spice' PASSWORD = '{0}'/>\x00</devices></domain>", {PW1}),  # NUL, case
    ("<domain><secret type='passphrase'>{0}</secret><secret>{1}", {PW1, PW2}),                   # element texts
    ("<domain><ns:password xmlns:ns='urn:x'><![CDATA[{0}]]></ns:password>\ud800</domain>", {PW1}),  # CDATA, surrogate
]


@pytest.mark.parametrize("xml, secrets", BROKEN)
def test_secret_values_in_xml_that_does_not_parse(xml, secrets):
    text = xml.format(PW1, PW2)
    with pytest.raises((etree_error(), ValueError)):
        parse(text)
    assert secrets <= secret_values(dict(xml=text, domains=None))
    assert secrets <= secret_values(dict(xml=None, domains=[dict(xml=None), dict(xml=text)]))


def etree_error():
    from lxml import etree
    return etree.XMLSyntaxError


def test_secret_values_in_xml_that_parses():
    xml = ("<domain><devices><graphics type='vnc' passwd='{0}'/><disk><auth username='u'><secret type='ceph' usage='x'/>"
           "</auth></disk></devices><x:secret xmlns:x='urn:x'> {1} </x:secret></domain>").format(PW1, PW2)
    assert secret_values(dict(xml=xml, domains=None)) >= {PW1, PW2}
    assert "u" not in secret_values(dict(xml=xml, domains=None)) and "" not in secret_values(dict(xml=xml, domains=None))
    assert secret_values(dict(xml="<domain><name>x</name></domain>", domains=None)) == set()


def test_a_broken_xml_fails_and_its_password_is_not_printed(lab):
    """Through AnsibleModule's own fail_json: the invocation it prints holds `xml`, masked."""
    _connection, prefix, _volume = lab
    xml = "<domain type='qemu'><name>{0}b</name><devices><graphics type='vnc' passwd='{1}'></devices></domain>".format(prefix, PW1)
    args = dict(name=prefix + "b", uri=URI, state="present", xml=xml, _ansible_verbosity=3)
    if "inject_invocation" in PASS_VARS:  # ansible-core >= 2.21 prints the invocation only when asked
        args["_ansible_inject_invocation"] = True
    result = run_main(kvm_domain.main, args)
    out = result.output
    assert result["failed"] and result["msg"].startswith("xml: is not well-formed XML")
    assert "passwd=" in result["invocation"]["module_args"]["xml"]
    assert PW1 not in out
