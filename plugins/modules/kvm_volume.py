#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kvm_volume
short_description: Manage libvirt storage volumes, including idempotent uploads
version_added: 0.1.0
description:
  - Creates, grows and deletes volumes in an active libvirt storage pool.
  - With O(src), streams a file of the managed host (for example an installation ISO) into the volume through
    libvirt, and verifies the volume's content after the upload. A re-run is unchanged when the volume's content
    already has the expected sha256 (O(checksum), or else the sha256 of O(src)). The content is read from the
    volume's file when the URI is local, and downloaded through libvirt otherwise.
  - A volume made from an image (O(src), O(url), O(backing_volume)) is the guest's disk from then on; later runs
    check that it exists with the asked format, at least the asked capacity and the same backing volume, and never
    hash it against its source again. An ISO (O(format=iso), or a volume libvirt reports as iso) is compared by its
    sha256 on every run, and so is any volume with O(replace=true).
  - A volume's content is never replaced unless O(replace=true), never while a domain uses it, and only by an upload
    that verified.
  - Resizing only grows a volume; asking for a smaller O(capacity) fails and changes nothing.
  - With O(volumes), many volumes are handled in one run over one connection. Every item is validated and planned
    before any is touched.
extends_documentation_fragment:
  - kvmops.hypervisor.connection
  - kvmops.hypervisor.attributes
options:
  pool:
    description:
      - Name of the storage pool that holds the volume. The pool must exist and be active.
      - With O(volumes), the default pool of every item.
    type: str
  name:
    description:
      - Name of the volume (a file name in a directory pool). Must not contain C(/).
      - Exactly one of O(name) and O(volumes) is required.
    type: str
  state:
    description:
      - V(present) creates (or uploads, or grows) the volume; V(absent) deletes it.
      - With O(volumes), the default state of every item.
    type: str
    choices: [present, absent]
    default: present
  capacity:
    description:
      - Size of the volume, as bytes or with a unit (V(512M), V(20G), V(1T); units are powers of 1024).
      - Required to create a volume without O(src), O(url) or O(backing_volume). An existing volume smaller than
        this is grown; one larger fails, except a volume made from an image (the guest's disk may have grown).
      - With O(src) or O(url), the size of the new volume, grown at creation; never smaller than the image's virtual
        size (the default). With O(backing_volume), at least the backing volume's size (the default).
      - A volume that a running domain uses as a disk grows through that domain (libvirt's C(blockResize)), so the
        guest sees the larger block device at once, without a reboot; growing the file system inside is the guest's
        business (or cloud-init's C(growpart)). A volume that overlays depend on (a base image) is not grown.
    type: raw
  format:
    description:
      - Format of a new volume. Defaults to V(qcow2) without O(src) and to V(raw) with O(src).
      - An existing volume (without O(src)) whose format differs fails; formats are not converted.
      - With O(src), the uploaded bytes are the volume's content as they are, and libvirt reports the format it
        detects in them.
    type: str
    choices: [qcow2, raw, iso]
  src:
    description:
      - A file on the managed host to upload into the volume (streamed through libvirt).
      - The upload lands in a staging volume beside the target (C(<name>.kvmops-upload)) and is renamed into place
        only after its sha256 verified, so the volume never holds a partial upload. A staging volume left by a run
        that died (libvirtd lost mid-upload) is deleted by the next run.
      - An existing ISO volume whose content differs fails, naming the volume, unless O(replace=true).
      - A file ending in C(.xz) or C(.gz) is unpacked on the way in (through the pool's directory).
    type: path
  replace:
    description:
      - With O(src), replace the content of an existing volume whose content differs.
      - Refused, naming the domain, while any domain uses the volume (as a disk, a CD-ROM, or a backing file of one).
      - The new content is uploaded and verified beside the old one first and then renamed over it (a directory
        pool on this host, that is a local URI); a failed upload leaves the old content intact.
    type: bool
    default: false
  url:
    description:
      - An image to download on the managed host straight into the pool (written into a staging volume in the
        pool's directory, nothing in C(/tmp)), then renamed into place. Needs O(checksum) and a directory pool on
        the host (a local URI).
      - A URL path ending in C(.xz) or C(.gz) is unpacked on the way in; O(checksum) is that of the file as
        published (compressed).
      - The new volume is the guest's disk from then on, as with O(src). Credentials go in O(url_username) and
        O(url_password), not in the URL.
    type: str
  url_username:
    description: User name for HTTP basic authentication of O(url).
    type: str
  url_password:
    description: Password for HTTP basic authentication of O(url).
    type: str
  validate_certs:
    description: Whether the TLS certificate of an https O(url) is verified.
    type: bool
    default: true
  backing_volume:
    description:
      - Create the volume as a qcow2 copy-on-write overlay on this volume (C(<backingStore>)), in constant time (nothing is
        copied). O(format) must be V(qcow2) or unset.
      - The base may be created by an earlier item of the same O(volumes). Later runs check the overlay's backing
        file; another one fails.
    type: dict
    suboptions:
      pool:
        description: Pool of the base volume (default this volume's pool).
        type: str
      volume:
        description: Name of the base volume.
        type: str
        required: true
  checksum:
    description:
      - Expected content of the volume, as C(sha256:<64 hex digits>) (or C(sha512:<128 hex digits>), as Debian
        publishes its cloud images).
      - With O(src), the file is checked against it before anything is touched, and the volume after the upload; an
        upload that does not match is deleted and the task fails.
      - Without O(src), an existing volume whose content does not match fails.
    type: str
  volumes:
    description:
      - Many volumes in one run. Each item takes the options above; options given at the top level are defaults
        for every item.
      - All items are validated before any is touched; the result lists each item.
    type: list
    elements: dict
    suboptions:
      pool:
        description: Pool of this volume (default O(pool)).
        type: str
      name:
        description: Name of this volume.
        type: str
        required: true
      state:
        description: State of this volume (default O(state)).
        type: str
        choices: [present, absent]
      capacity:
        description: As O(capacity).
        type: raw
      format:
        description: As O(format).
        type: str
        choices: [qcow2, raw, iso]
      src:
        description: As O(src).
        type: path
      checksum:
        description: As O(checksum).
        type: str
      replace:
        description: As O(replace) (default O(replace)).
        type: bool
      url:
        description: As O(url).
        type: str
      url_username:
        description: As O(url_username).
        type: str
      url_password:
        description: As O(url_password).
        type: str
      validate_certs:
        description: As O(validate_certs) (default O(validate_certs)).
        type: bool
      backing_volume:
        description: As O(backing_volume).
        type: dict
        suboptions:
          pool:
            description: Pool of the base volume (default this volume's pool).
            type: str
          volume:
            description: Name of the base volume.
            type: str
            required: true
seealso:
  - module: kvmops.hypervisor.kvm_pool
author:
  - kvmops contributors (@kvmops)
"""

EXAMPLES = r"""
- name: Upload the installation ISO (unchanged on re-runs)
  kvmops.hypervisor.kvm_volume:
    pool: iso
    name: CentOS-7-x86_64-Minimal.iso
    src: /root/CentOS-7-x86_64-Minimal-2009.iso
    format: iso
    checksum: sha256:07b94e6b1a0b0260b94c83e6bb0ddde4a9ae0a6ea0e4bd0f4d1c4d4e0c2e6c3b

- name: A 20 GiB disk
  kvmops.hypervisor.kvm_volume:
    pool: store
    name: vm1.qcow2
    capacity: 20G

- name: A cloud image downloaded into the pool, and a guest disk on it (copy-on-write, grown to 20 GiB)
  kvmops.hypervisor.kvm_volume:
    pool: store
    volumes:
      - name: debian-12-base.qcow2
        url: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
        checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000
      - name: vm1.qcow2
        backing_volume:
          volume: debian-12-base.qcow2
        capacity: 20G

- name: Several disks in one task
  kvmops.hypervisor.kvm_volume:
    pool: store
    format: qcow2
    volumes:
      - name: vm1.qcow2
        capacity: 20G
      - name: vm2.qcow2
        capacity: 40G
      - name: old.qcow2
        state: absent
"""

RETURN = r"""
volume:
  description:
    - The volume after the run (in check mode, as the run would leave it; values libvirt has not assigned yet are
      null). Empty when the volume is absent. Returned by the single form (O(name)).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: Volume name.
      type: str
      sample: vm1.qcow2
    key:
      description: libvirt's key of the volume (its path, for directory pools).
      type: str
      sample: /data_kvm/store/vm1.qcow2
    path:
      description: Path of the volume on the host.
      type: str
      sample: /data_kvm/store/vm1.qcow2
    capacity:
      description: Size in bytes.
      type: int
      sample: 21474836480
    allocation:
      description: Bytes allocated on disk.
      type: int
      sample: 200704
    format:
      description: Volume format as libvirt reports it.
      type: str
      sample: qcow2
    backing_path:
      description: The backing file of a qcow2 overlay (only for overlays).
      type: str
      sample: /data_kvm/store/debian-12-base.qcow2
actions:
  description:
    - The writes the run made (or in check mode would make), in order. With O(volumes), each is prefixed with the
      item's name and a colon.
  returned: always
  type: list
  elements: str
  sample: ["create volume store/vm1.qcow2"]
volumes:
  description:
    - One result per item of O(volumes), in order. When an item fails while it is applied, the items before it are
      listed as applied and the failed one with C(failed), C(msg) and the actions it completed; the task fails.
  returned: when O(volumes) is given
  type: list
  elements: dict
  contains:
    pool:
      description: Pool of the item.
      type: str
    name:
      description: Name of the item.
      type: str
    state:
      description: Requested state of the item.
      type: str
    changed:
      description: Whether this item changed (or would change, in check mode).
      type: bool
    volume:
      description: The volume, as RV(volume).
      type: dict
    actions:
      description: The writes for this item, as RV(actions) (without the name prefix).
      type: list
      elements: str
    diff:
      description: Before/after of what differs for this item, with its headers (only with C(--diff)).
      type: dict
diff:
  description:
    - With C(--diff), before/after of what differs. With O(volumes), a list of one such dict per changed item,
      each with C(before_header) and C(after_header) naming the volume, so C(--diff) prints them all.
  returned: with C(--diff)
  type: raw
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils._module import CONNECTION_ARGS, run
from ansible_collections.kvmops.hypervisor.plugins.module_utils._volume import VolumeBackend


def main():
    item = dict(
        pool=dict(type="str"),
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"]),
        capacity=dict(type="raw"),
        format=dict(type="str", choices=["qcow2", "raw", "iso"]),
        src=dict(type="path"),
        checksum=dict(type="str"),
        replace=dict(type="bool"),
        url=dict(type="str"),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool"),
        backing_volume=dict(type="dict", options=dict(pool=dict(type="str"), volume=dict(type="str", required=True))),
    )
    argument_spec = dict(item, name=dict(type="str"), state=dict(type="str", choices=["present", "absent"], default="present"),
                         replace=dict(type="bool", default=False), validate_certs=dict(type="bool", default=True),
                         volumes=dict(type="list", elements="dict", options=item))
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[["name", "volumes"]],
        required_one_of=[["name", "volumes"]],
        supports_check_mode=True,
    )
    run(module, VolumeBackend)


if __name__ == "__main__":
    main()
