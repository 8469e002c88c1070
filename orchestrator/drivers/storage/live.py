"""Snapshot, resize and flatten qcow2 disks attached to a RUNNING libvirt domain.

Live snapshot method (chosen after trying both on libvirt 9.0 / QEMU 7.2):
the guest keeps writing, so the old top cannot be renamed or rewritten under QEMU. We
  1. hard-link the disk's current top file to ``layer_path`` (same inode, second name);
  2. pre-create the new overlay ``new_top_path`` with ``qemu-img create -u -b layer_path -F qcow2``
     so its header names the LAYER path (absolute, backing format pinned);
  3. call ``snapshotCreateXML`` with ``DISK_ONLY | NO_METADATA | ATOMIC | REUSE_EXT`` listing every
     disk of the domain (the ones not snapshotted as ``snapshot='no'``): QEMU switches all listed
     disks to their new overlays in one transaction (crash-consistent across volumes), the old
     top is reopened read-only and becomes a backing node;
  4. unlink the old top's name and chmod 0400 the layer;
  5. for a persistent domain, libvirt wrote the new top into the persistent definition WITH an
     explicit ``<backingStore>`` chain naming the OLD top path (which no longer exists). libvirt
     uses an explicit chain as given instead of reading the headers, so the domain would not
     start again - and worse, a chain recorded there would silently go stale after any later
     offline operation (``freeze_top``, ``flatten``, ``rebase``), mixing the wrong layers. We
     therefore redefine the domain with the ``<backingStore>`` of the snapshotted disks removed
     (nothing else changes): on every start libvirt reads the chain from the image headers,
     which this driver keeps correct (absolute paths, format pinned). Persistent definitions of
     ec2d domains must never carry ``<backingStore>`` (the compute designer writes none).
     The live XML keeps the old name for the backing node until the next start; that is
     harmless (QEMU holds the open file, and ``live_flatten`` streams without a base).
The volume's active path therefore CHANGES (``new_top_path``, the next generation in the volume's
directory); libvirt updates the domain's live and persistent disk source itself, and the caller
records the returned path. We did not keep the path stable because that would need rewriting the
header of a file QEMU has open.

Flatten: ``blockPull`` (block-stream) without a base copies every block of the chain into the
ACTIVE top, which keeps its path and then has no backing file. We do not use ``blockCommit
--active --pivot``: it writes the top's data down INTO the base layer, and our layers are
immutable and shared with other volumes and snapshots.

All functions raise ``StorageError`` (never ``libvirt.libvirtError``) and take an optional open
``conn``; without one they open (and close) ``qemu:///system``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import libvirt

from orchestrator.drivers.storage import luks, qcow2
from orchestrator.drivers.storage.qcow2 import (
    LAYER_MODE,
    StorageError,
    check_chain,
    read_header,
)

__all__ = [
    "AttachedDisk",
    "DEFAULT_URI",
    "attached_disks",
    "live_flatten",
    "live_resize",
    "live_snapshot",
    "live_snapshot_many",
]

DEFAULT_URI = "qemu:///system"
log = logging.getLogger(__name__)


def _quiet_error_handler(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; they reach us as exceptions."""


libvirt.registerErrorHandler(_quiet_error_handler, None)


@dataclass(frozen=True)
class AttachedDisk:
    target_dev: str
    source: Path | None
    driver_type: str | None
    device: str
    secret_uuid: str | None = None  # an encrypted disk's libvirt secret (its top's <encryption>)


@contextlib.contextmanager
def _connection(conn: libvirt.virConnect | None) -> Iterator[libvirt.virConnect]:
    if conn is not None:
        yield conn
        return
    try:
        c = libvirt.open(DEFAULT_URI)
    except libvirt.libvirtError as exc:
        raise StorageError(f"cannot connect to {DEFAULT_URI}: {exc}") from exc
    try:
        yield c
    finally:
        c.close()


def _domain(conn: libvirt.virConnect, dom_name: str, *, running: bool = True) -> libvirt.virDomain:
    try:
        dom = conn.lookupByName(dom_name)
        active = dom.isActive()
    except libvirt.libvirtError as exc:
        raise StorageError(f"domain {dom_name}: {exc}") from exc
    if running and not active:
        raise StorageError(f"domain {dom_name} is not running; use the offline (qemu-img) operation")
    return dom


def attached_disks(dom: libvirt.virDomain) -> list[AttachedDisk]:
    """The domain's disks as the running domain sees them (live XML)."""
    try:
        root = ET.fromstring(dom.XMLDesc(0))
    except libvirt.libvirtError as exc:
        raise StorageError(f"cannot read the XML of {dom.name()}: {exc}") from exc
    disks = []
    for d in root.findall("./devices/disk"):
        target = d.find("target")
        if target is None:
            continue
        src = d.find("source")
        file = src.get("file") if src is not None else None
        drv = d.find("driver")
        secret = d.find("source/encryption/secret")
        disks.append(AttachedDisk(target.get("dev", ""), Path(file) if file else None,
                                  drv.get("type") if drv is not None else None, d.get("device", "disk"),
                                  secret.get("uuid") if secret is not None else None))
    return disks


def _snapshot_xml(disks: Sequence[AttachedDisk], new_tops: dict[str, Path]) -> str:
    snap = ET.Element("domainsnapshot")
    ET.SubElement(snap, "description").text = "ec2d snapshot layer"
    xd = ET.SubElement(snap, "disks")
    for d in disks:
        if d.target_dev in new_tops:
            e = ET.SubElement(xd, "disk", name=d.target_dev, snapshot="external")
            ET.SubElement(e, "driver", type="qcow2")
            source = ET.SubElement(e, "source", file=str(new_tops[d.target_dev]))
            if d.secret_uuid:  # the new top is encrypted in the disk's lineage, as the old one
                enc = ET.SubElement(source, "encryption", format="luks")
                ET.SubElement(enc, "secret", type="passphrase", uuid=d.secret_uuid)
        else:
            ET.SubElement(xd, "disk", name=d.target_dev, snapshot="no")
    return ET.tostring(snap, encoding="unicode")


def live_snapshot(dom_name: str, target_dev: str, layer_path: str | os.PathLike[str],
                  new_top_path: str | os.PathLike[str], *, conn: libvirt.virConnect | None = None,
                  roots: Sequence[Path] = (), quiesce: bool = False) -> Path:
    """Freeze the top of ``target_dev`` of running ``dom_name`` as ``layer_path``; the guest
    continues on a new empty overlay ``new_top_path`` (returned: the volume's new active path).
    O(1): no guest data is copied. See the module docstring for the exact steps."""
    return live_snapshot_many(dom_name, [(target_dev, layer_path, new_top_path)], conn=conn, roots=roots,
                              quiesce=quiesce)[0]


def _new_top(layer: Path, new_top: Path, capacity: int, key: str | None) -> None:
    """The empty overlay a live snapshot switches to (LUKS-encrypted with ``key`` when given)."""
    with luks.secret_objects([key] if key is not None else []) as objects:
        encrypt = ["-o", luks.create_options("sec0")] if key is not None else []
        qcow2.run_qemu_img(["create", *objects, "-q", "-f", "qcow2", "-u", "-b", str(layer),
                            "-F", "qcow2", *encrypt, str(new_top), str(capacity)], f"create overlay {new_top}")


def live_snapshot_many(dom_name: str,
                       items: Sequence[tuple[str, str | os.PathLike[str], str | os.PathLike[str]]], *,
                       conn: libvirt.virConnect | None = None, roots: Sequence[Path] = (),
                       quiesce: bool = False, keys: Mapping[str, str] | None = None) -> list[Path]:
    """Like ``live_snapshot`` for several disks ``(target_dev, layer_path, new_top_path)`` of one
    domain in ONE atomic libvirt snapshot: all disks switch at the same instant (crash-consistent
    set, for CreateSnapshots) or none does. ``quiesce`` asks the guest agent to freeze file
    systems first (fails when no agent runs). ``keys``: target dev -> passphrase of an encrypted
    disk, whose new top is encrypted with it. On failure every file made here is removed and the
    domain is unchanged."""
    if not items:
        return []
    with _connection(conn) as c:
        dom = _domain(c, dom_name)
        disks = {d.target_dev: d for d in attached_disks(dom)}
        plan: list[tuple[str, Path, Path, Path, int]] = []
        for dev, layer, new_top in items:
            d = disks.get(dev)
            if d is None or d.source is None:
                raise StorageError(f"{dom_name} has no file disk {dev}")
            if d.driver_type != "qcow2":
                raise StorageError(f"{dom_name}:{dev} is {d.driver_type}, not qcow2")
            lp, np_ = Path(os.path.abspath(layer)), Path(os.path.abspath(new_top))
            if lp.exists() or np_.exists():
                raise StorageError(f"{lp} or {np_} already exists")
            if roots:
                check_chain(d.source, roots)
            try:
                capacity = int(dom.blockInfo(dev)[0])
            except libvirt.libvirtError as exc:
                raise StorageError(f"blockInfo {dom_name}:{dev}: {exc}") from exc
            plan.append((dev, d.source, lp, np_, capacity))
        if len({p[0] for p in plan}) != len(plan):
            raise StorageError("the same disk is listed twice")
        made: list[Path] = []
        try:
            for dev, cur, layer_p, new_top_p, capacity in plan:
                os.link(cur, layer_p)
                made.append(layer_p)
                key = (keys or {}).get(dev)
                if key is not None and not disks[dev].secret_uuid:
                    raise StorageError(f"{dom_name}:{dev} is encrypted but its disk names no secret")
                _new_top(layer_p, new_top_p, capacity, key)
                made.append(new_top_p)
            flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                     | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                     | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                     | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
            if quiesce:
                flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
            xml = _snapshot_xml(list(disks.values()), {p[0]: p[3] for p in plan})
            try:
                dom.snapshotCreateXML(xml, flags)
            except libvirt.libvirtError as exc:
                raise StorageError(f"live snapshot of {dom_name} failed: {exc}") from exc
        except BaseException as exc:
            for f in made:
                with contextlib.suppress(OSError):
                    f.unlink()
            if isinstance(exc, OSError):
                raise StorageError(f"live snapshot of {dom_name}: {exc}") from exc
            raise
        try:
            _forget_persistent_backing(c, dom, {p[0] for p in plan})
            drop_old_names = True
        except StorageError as exc:
            # the snapshot did happen; keep the old names (same files as the layers) so that the
            # persistent definition stays valid, and let the caller see the snapshot succeed
            log.warning("%s; keeping the old top names as hard links of the layers", exc)
            drop_old_names = False
        for _dev, cur, layer_p, _new, _cap in plan:
            if drop_old_names and cur != layer_p:
                with contextlib.suppress(FileNotFoundError):
                    cur.unlink()
            os.chmod(layer_p, LAYER_MODE)
        return [p[3] for p in plan]


ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")


def _forget_persistent_backing(conn: libvirt.virConnect, dom: libvirt.virDomain, devs: set[str]) -> None:
    """Drop the ``<backingStore>`` libvirt wrote into the persistent definition of disks ``devs``
    and redefine, so that the next start reads the chain from the image headers (see the module
    docstring, step 5)."""
    try:
        if not dom.isPersistent():
            return
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    except libvirt.libvirtError as exc:
        raise StorageError(f"cannot read the definition of {dom.name()}: {exc}") from exc
    changed = False
    for disk in root.findall("./devices/disk"):
        target = disk.find("target")
        if target is None or target.get("dev") not in devs:
            continue
        for bs in disk.findall("backingStore"):
            disk.remove(bs)
            changed = True
    if changed:
        try:
            conn.defineXML(ET.tostring(root, encoding="unicode"))
        except libvirt.libvirtError as exc:
            raise StorageError(f"cannot update the definition of {dom.name()}: {exc}") from exc


def live_resize(dom_name: str, target_dev: str, size_bytes: int, *,
                conn: libvirt.virConnect | None = None) -> None:
    """Grow ``target_dev`` of running ``dom_name`` to ``size_bytes`` (virDomainBlockResize);
    the guest sees the new capacity at once. Shrinking is refused."""
    with _connection(conn) as c:
        dom = _domain(c, dom_name)
        try:
            cur = int(dom.blockInfo(target_dev)[0])
            if size_bytes < cur:
                raise StorageError(f"refusing to shrink {dom_name}:{target_dev} from {cur} to {size_bytes}")
            if size_bytes > cur:
                dom.blockResize(target_dev, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        except libvirt.libvirtError as exc:
            raise StorageError(f"resize {dom_name}:{target_dev}: {exc}") from exc


def live_flatten(dom_name: str, target_dev: str, *, conn: libvirt.virConnect | None = None,
                 timeout: float = 3600.0, poll_interval: float = 0.1) -> Path:
    """Copy the whole backing chain of ``target_dev`` into its active top with ``blockPull``
    (block-stream, no base) and wait for the job; the top keeps its path (returned) and ends
    with no backing file. The layers are only read. On timeout the job is aborted."""
    with _connection(conn) as c:
        dom = _domain(c, dom_name)
        disk = next((d for d in attached_disks(dom) if d.target_dev == target_dev), None)
        if disk is None or disk.source is None:
            raise StorageError(f"{dom_name} has no file disk {target_dev}")
        if read_header(disk.source).backing_file is None:
            return disk.source
        try:
            dom.blockPull(target_dev, 0, 0)
            deadline = time.monotonic() + timeout
            while dom.blockJobInfo(target_dev, 0):
                if time.monotonic() > deadline:
                    with contextlib.suppress(libvirt.libvirtError):
                        dom.blockJobAbort(target_dev, 0)
                    raise StorageError(f"blockPull of {dom_name}:{target_dev} timed out after {timeout}s")
                time.sleep(poll_interval)
        except libvirt.libvirtError as exc:
            raise StorageError(f"blockPull {dom_name}:{target_dev}: {exc}") from exc
        top = next((d.source for d in attached_disks(dom) if d.target_dev == target_dev), None) or disk.source
        if read_header(top).backing_file is not None:
            raise StorageError(f"blockPull of {dom_name}:{target_dev} ended with a backing file still set")
        _forget_persistent_backing(c, dom, {target_dev})
        return top
