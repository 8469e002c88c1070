"""The storage driver: EBS volumes and snapshot layers as qcow2 backing chains.

``driver.StorageDriver`` states the contracts; ``Qcow2Storage`` keeps them with qemu-img and libvirt
block jobs under one storage root; ``orchestrator.drivers.storage.fake.FakeStorage`` keeps them
in memory for fast tests of services and API.

Layout under the root (one filesystem: snapshots are hard links and renames)::

    volumes/<volume-id>/gen-000001.qcow2   the volume's active (writable) top file
    volumes/<volume-id>/shared.raw         a Multi-Attach volume's one file (raw, ``raw.py``)
    layers/<layer-id>.qcow2                immutable snapshot/AMI layers (mode 0400)
    templates/blank-<size>.qcow2           what a blank volume of that size is a copy of (``templates.py``)

Every directory is 0700 and every volume file 0600 (guests' disks; see orchestrator/data_dir.py):
qemu-img runs under umask 077 and ``__init__`` fixes the modes an older run left.

A volume's directory normally holds exactly one file. Offline snapshots keep its name (the top is
moved to ``layers/`` and a new overlay takes its place); a LIVE snapshot cannot rename a file
QEMU has open, so the guest continues on the next generation (``gen-000002.qcow2``) and
``volume_path`` (the highest generation, or the one a libvirt domain uses after a crash - see
``sweep``) changes: the caller records the new path for the domain XML. Backing paths inside
headers are absolute (see ``qcow2``'s module docstring for why).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import libvirt

from orchestrator.data_dir import DIR_MODE, secure_tree
from orchestrator.drivers.storage import live, qcow2, raw, templates
from orchestrator.drivers.storage.driver import (
    ID_RE,
    AlreadyExists,
    Attachment,
    LayerInUse,
    LayerNotFound,
    StorageDriver,
    StorageError,
    SweepResult,
    VolumeNotFound,
    check_id,
)

__all__ = ["Qcow2Storage"]

_GEN_RE = re.compile(r"^gen-(\d{6,})\.qcow2$")


def _linked(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` as ``dst``; False (nothing made) when they are on different filesystems."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            return False
        raise StorageError(f"cannot link {src} as {dst}: {exc}") from exc
    return True


class Qcow2Storage(StorageDriver):
    """qcow2 files under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: Path, *, libvirt_uri: str = "qemu:///system") -> None:
        self.root = Path(os.path.abspath(root))
        self.volumes_dir = self.root / "volumes"
        self.layers_dir = self.root / "layers"
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.volumes_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        self.layers_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        self.templates_dir = self.root / "templates"  # blank qcow2 files by size (templates.py)
        self.templates_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        secure_tree(self.root, layer_dirs=("layers",))  # owner-only, also for an older tree
        self.roots: tuple[Path, ...] = (self.root,)
        self.libvirt_uri = libvirt_uri

    # -- paths ---------------------------------------------------------------------------------

    def _vol_dir(self, volume_id: str) -> Path:
        return self.volumes_dir / check_id("volume", volume_id)

    def _generations(self, volume_id: str) -> list[tuple[int, Path]]:
        d = self._vol_dir(volume_id)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        gens = [(int(m.group(1)), d / n) for n in names if (m := _GEN_RE.match(n))]
        return sorted(gens)

    def _raw_file(self, volume_id: str) -> Path:
        """A shared (Multi-Attach) volume's one file; it has no generations."""
        return self._vol_dir(volume_id) / f"shared{raw.SUFFIX}"

    def _shared(self, volume_id: str) -> Path | None:
        p = self._raw_file(volume_id)
        return p if p.exists() else None

    def volume_path(self, volume_id: str) -> Path:
        shared = self._shared(volume_id)
        if shared is not None:
            return shared
        gens = self._generations(volume_id)
        if not gens:
            raise VolumeNotFound(f"volume {volume_id} not found")
        return gens[-1][1]

    def _next_gen_path(self, volume_id: str) -> Path:
        gens = self._generations(volume_id)
        n = gens[-1][0] + 1 if gens else 1
        return self._vol_dir(volume_id) / f"gen-{n:06d}.qcow2"

    def _layer_file(self, layer_id: str) -> Path:
        return self.layers_dir / f"{check_id('layer', layer_id)}.qcow2"

    def layer_path(self, layer_id: str) -> Path:
        p = self._layer_file(layer_id)
        if not p.exists():
            raise LayerNotFound(f"layer {layer_id} not found")
        return p

    def copy_layer(self, source_id: str, layer_id: str) -> Path:
        """A hard link of the immutable layer file: its header names the same absolute backing
        file, so the chain and ``users_of`` still hold. Under another key (CopySnapshot that
        encrypts or changes the key): a standalone copy of the whole chain, re-encrypted."""
        src = self.layer_path(source_id)
        dst = self._layer_file(layer_id)
        if dst.exists():
            return dst
        old, new = self.keys(source_id), self.keys(layer_id)
        if old == new:
            os.link(src, dst)
            return dst
        qcow2.check_chain(src, self.roots)
        tmp = self.layers_dir / f".tmp-copy-{layer_id}.qcow2"
        tmp.unlink(missing_ok=True)
        try:
            qcow2.flatten(src, tmp, key=old, new_key=new, roots=self.roots)
            os.chmod(tmp, qcow2.LAYER_MODE)
            os.rename(tmp, dst)  # sealed (read-only) before it gets its name
        finally:
            tmp.unlink(missing_ok=True)
        return dst

    def layer_sealed(self, layer_id: str) -> bool:
        """Made read-only: sealed (``freeze_top`` and the live snapshot chmod a layer last)."""
        try:
            return not os.stat(self._layer_file(layer_id)).st_mode & 0o222
        except (OSError, StorageError):
            return False

    def list_volumes(self) -> list[str]:
        return sorted(d.name for d in self.volumes_dir.iterdir() if d.is_dir() and self.has_volume(d.name))

    def has_volume(self, volume_id: str) -> bool:
        return bool(self._generations(volume_id) or self._shared(volume_id))

    def list_layers(self) -> list[str]:
        return sorted(p.name.removesuffix(".qcow2") for p in self.layers_dir.glob("*.qcow2")
                      if not p.name.startswith("."))

    # -- volumes -------------------------------------------------------------------------------

    def create_volume(self, volume_id: str, size_bytes: int | None, from_layer: str | None = None,
                      *, shared: bool = False) -> Path:
        d = self._vol_dir(volume_id)
        if self._generations(volume_id) or self._shared(volume_id):
            raise AlreadyExists(f"volume {volume_id} already exists")
        base = self.layer_path(from_layer) if from_layer is not None else None
        if base is None and size_bytes is None:
            raise StorageError("a blank volume needs a size")
        d.mkdir(mode=0o700, exist_ok=True)
        path = self._raw_file(volume_id) if shared else d / "gen-000001.qcow2"
        try:
            key = self.keys(volume_id)
            if shared:
                if key is not None:
                    raise StorageError(f"a shared volume is never encrypted ({volume_id})")
                if base is None:
                    assert size_bytes is not None
                    return raw.create_blank(path, size_bytes)
                return raw.create_from_layer(path, base, size_bytes, self.roots)
            if base is None:
                assert size_bytes is not None
                if key is None:
                    return templates.create_blank(path, size_bytes, self.templates_dir)
                return qcow2.create_blank(path, size_bytes, key)
            return qcow2.create_overlay(path, base, size_bytes, roots=self.roots, key=key)
        except BaseException:
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty: never removes someone else's files
            raise

    def set_shared(self, volume_id: str, shared: bool) -> Path:
        top = self.volume_path(volume_id)
        gens = [p for _, p in self._generations(volume_id)]
        if shared and not raw.is_raw(top):
            if self.keys(volume_id) is not None:
                raise StorageError(f"a shared volume is never encrypted ({volume_id})")
            path = raw.create_from_layer(self._raw_file(volume_id), top, None, self.roots)
        elif not shared and raw.is_raw(top):
            for p in gens:  # a conversion a crash interrupted: the raw file is the volume
                p.unlink()
            path = raw.to_qcow2(top, self._vol_dir(volume_id) / "gen-000001.qcow2")
            gens = [top]
        else:
            return top
        for p in gens:  # the old format's files, once the new one has its name
            p.unlink(missing_ok=True)
        return path

    def delete_volume(self, volume_id: str) -> None:
        d = self._vol_dir(volume_id)
        shutil.rmtree(d, ignore_errors=True)
        if d.exists():
            raise StorageError(f"could not delete {d}")

    def snapshot_volume(self, volume_id: str, layer_id: str, attached_to: Attachment | None = None) -> Path:
        vol = self.volume_path(volume_id)
        layer = self._layer_file(layer_id)
        if layer.exists():
            raise AlreadyExists(f"layer {layer_id} already exists")
        if raw.is_raw(vol):  # attached or not: several guests may hold it, none is switched
            return raw.to_layer(vol, layer)
        if attached_to is None:
            return qcow2.freeze_top(vol, layer, roots=self.roots, key=self.keys(volume_id))
        dom_name, dev = attached_to
        self.snapshot_volumes_live(dom_name, [(volume_id, layer_id, dev)])
        return layer

    def snapshot_volumes_live(self, dom_name: str, items: Sequence[tuple[str, str, str]]) -> list[Path]:
        plan = []
        keys = {dev: key for volume_id, _, dev in items if (key := self.keys(volume_id)) is not None}
        for volume_id, layer_id, dev in items:
            if raw.is_raw(self.volume_path(volume_id)):
                raise StorageError(f"{volume_id} is shared: snapshot it with snapshot_volume")
            layer = self._layer_file(layer_id)
            if layer.exists():
                raise AlreadyExists(f"layer {layer_id} already exists")
            plan.append((dev, layer, self._next_gen_path(volume_id)))
        with self._conn() as conn:
            live.live_snapshot_many(dom_name, plan, conn=conn, roots=self.roots, keys=keys)
        return [p[1] for p in plan]

    def chain_depth(self, volume_id: str) -> int:
        return len(self.chain(volume_id))

    def chain(self, volume_id: str) -> list[tuple[Path, bool]]:
        top = self.volume_path(volume_id)
        if raw.is_raw(top):
            return [(top, False)]
        files = qcow2.check_chain(top, self.roots)
        return [(p, qcow2.read_header(p).encrypted) for p in files]

    def flatten_volume(self, volume_id: str, attached_to: Attachment | None = None) -> Path:
        vol = self.volume_path(volume_id)
        if raw.is_raw(vol):
            return vol  # standalone already
        if attached_to is not None:
            with self._conn() as conn:
                return live.live_flatten(attached_to[0], attached_to[1], conn=conn)
        qcow2.check_chain(vol, self.roots)
        if qcow2.read_header(vol).backing_file is None:
            return vol
        key = self.keys(volume_id)
        return qcow2.flatten(vol, vol, key=key, new_key=key, roots=self.roots)

    def resize_volume(self, volume_id: str, size_bytes: int, attached_to: Attachment | None = None) -> None:
        vol = self.volume_path(volume_id)
        if attached_to is not None:
            with self._conn() as conn:
                live.live_resize(attached_to[0], attached_to[1], size_bytes, conn=conn)
            return
        if raw.is_raw(vol):
            raw.grow(vol, size_bytes)
            return
        qcow2.resize(vol, size_bytes, self.keys(volume_id), roots=self.roots)

    def volume_size(self, volume_id: str) -> int:
        vol = self.volume_path(volume_id)
        return raw.size(vol) if raw.is_raw(vol) else qcow2.read_header(vol).virtual_size

    def usage(self, resource_id: str) -> int:
        if ID_RE.match(resource_id):
            gens = self._generations(resource_id)
            if gens:
                return sum(qcow2.allocated_bytes(p) for _, p in gens)
            shared = self._shared(resource_id)
            if shared is not None:
                return qcow2.allocated_bytes(shared)
            p = self._layer_file(resource_id)
            if p.exists():
                return qcow2.allocated_bytes(p)
        raise StorageError(f"no volume or layer {resource_id!r}")

    # -- layers --------------------------------------------------------------------------------

    def _all_images(self) -> list[tuple[str, Path]]:
        """(owner id, path) of every image file (temp files excluded)."""
        out: list[tuple[str, Path]] = []
        for d in sorted(self.volumes_dir.iterdir()):
            if d.is_dir():
                out += [(d.name, p) for _, p in self._generations(d.name)]
        out += [(p.name.removesuffix(".qcow2"), p) for p in sorted(self.layers_dir.glob("*.qcow2"))
                if not p.name.startswith(".")]
        return out

    def _backing_of(self, path: Path) -> Path | None:
        try:
            hdr = qcow2.read_header(path)
        except StorageError:
            return None
        if hdr.backing_file is None:
            return None
        b = Path(hdr.backing_file)
        return b if b.is_absolute() else Path(os.path.abspath(path.parent / b))

    def users_of(self, layer_id: str) -> list[str]:
        target = self._layer_file(layer_id)
        return sorted({owner for owner, p in self._all_images() if self._backing_of(p) == target})

    def delete_layer(self, layer_id: str, *, force: bool = False) -> None:
        p = self._layer_file(layer_id)
        if not p.exists():
            return
        users = self.users_of(layer_id)
        if users and not force:
            raise LayerInUse(f"layer {layer_id} is the backing of {', '.join(users)}", users)
        p.unlink(missing_ok=True)

    def import_image(self, src: Path, layer_id: str, *, link: bool = False) -> Path:
        dst = self._layer_file(layer_id)
        if dst.exists():
            raise AlreadyExists(f"layer {layer_id} already exists")
        qcow2.validate_import(src)
        if not (link and _linked(src, dst)):
            qcow2.flatten(src, dst)
        os.chmod(dst, qcow2.LAYER_MODE)
        return dst

    # -- crash recovery ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _conn(self) -> Iterator[libvirt.virConnect]:
        try:
            c = libvirt.open(self.libvirt_uri)
        except libvirt.libvirtError as exc:
            raise StorageError(f"cannot connect to {self.libvirt_uri}: {exc}") from exc
        try:
            yield c
        finally:
            c.close()

    def _domain_disk_paths(self) -> set[Path]:
        """Every file every libvirt domain names (live and persistent XML, backing stores too)."""
        paths: set[Path] = set()
        try:
            with self._conn() as conn:
                for dom in conn.listAllDomains(0):
                    try:
                        persistent = dom.isPersistent()
                    except libvirt.libvirtError:  # gone since the listing (e.g. another ec2d's domain)
                        continue
                    flags = [0] + ([libvirt.VIR_DOMAIN_XML_INACTIVE] if persistent else [])
                    for f in flags:
                        try:
                            root = ET.fromstring(dom.XMLDesc(f))
                        except libvirt.libvirtError:
                            continue
                        for src in root.findall("./devices/disk//source"):  # incl. backingStore
                            if src.get("file"):
                                paths.add(Path(os.path.abspath(src.get("file", ""))))
        except StorageError:
            pass
        return paths

    def sweep(self, known_volume_ids: Iterable[str], known_layer_ids: Iterable[str], *,
              in_use: Iterable[Path] | None = None) -> SweepResult:
        """See ``StorageDriver.sweep``. ``in_use``: files libvirt domains name (default: asked from
        libvirt, all domains, live and persistent XML); they are never removed. The active
        generation of a known volume with several generation files (a live snapshot interrupted
        by a crash) is the one a domain uses, else the highest."""
        result = SweepResult()
        vols = set(known_volume_ids)
        layers = set(known_layer_ids)
        used = {Path(os.path.abspath(p)) for p in (in_use if in_use is not None else self._domain_disk_paths())}

        # temp files of interrupted operations
        for d in [self.layers_dir, self.templates_dir, *[p for p in self.volumes_dir.iterdir() if p.is_dir()]]:
            for p in d.glob(".tmp-*"):
                p.unlink(missing_ok=True)
                result.removed.append(p)

        tops: list[Path] = []
        extra: list[Path] = []
        for d in sorted(p for p in self.volumes_dir.iterdir() if p.is_dir()):
            gens = [p for _, p in self._generations(d.name)]
            shared = self._shared(d.name)
            if shared is not None:  # a Multi-Attach volume: its raw file is its one file
                (tops if d.name in vols else extra).append(shared)
                extra += gens
                continue
            if d.name not in vols or not gens:
                extra += gens
                continue
            active = [p for p in gens if p in used]
            top = active[-1] if active else gens[-1]
            tops.append(top)
            extra += [p for p in gens if p != top]
        for lid in self.list_layers():
            p = self._layer_file(lid)
            (tops if lid in layers else extra).append(p)

        keep: set[Path] = set()
        for t in tops:
            cur: Path | None = t
            while cur is not None and cur not in keep:
                keep.add(cur)
                cur = self._backing_of(cur)
        for p in extra:
            if p in keep or p in used:
                result.kept_in_use.append(p)
            else:
                p.unlink(missing_ok=True)
                result.removed.append(p)
        for d in self.volumes_dir.iterdir():
            if d.is_dir() and d.name not in vols and not any(d.iterdir()):
                d.rmdir()
                result.removed.append(d)
        return result
