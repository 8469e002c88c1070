"""``FakeStorage``: the ``StorageDriver`` contract in memory, for fast tests of services and API.

Nothing touches the disk. Paths follow ``Qcow2Storage``'s layout under a fake root. Content is
modelled as ``{offset: bytes}`` writes (``write``/``read``) resolved through the layer chain, so
tests can check that a snapshot keeps snapshot-time content. ``fail_next(method, exc)`` makes the
next call of a method raise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.drivers.storage.driver import (
    AlreadyExists,
    Attachment,
    LayerNotFound,
    StorageDriver,
    SweepResult,
    VolumeNotFound,
    check_id,
)
from orchestrator.drivers.storage.qcow2 import (
    ForeignBackingFile,
    LayerInUse,
    NotADiskImage,
    StorageError,
    read_header,
)

__all__ = ["FakeStorage"]


@dataclass
class _Image:
    size: int
    backing: str | None  # layer id
    data: dict[int, bytes] = field(default_factory=dict)
    gen: int = 1
    key: str | None = None  # the passphrase the real driver would encrypt its file with


class FakeStorage(StorageDriver):
    def __init__(self, root: Path = Path("/fake/ec2d-storage")) -> None:
        self.root = root
        self.volumes: dict[str, _Image] = {}
        self.layers: dict[str, _Image] = {}
        self.shared: set[str] = set()
        """Volumes made ``shared`` (Multi-Attach): raw files in the real driver."""
        self.imports: dict[Path, int] = {}
        """Files ``import_image`` accepts as they are: path -> virtual size. Any other file is read
        like the real driver reads it first (its qcow2 header, in Python): a standalone qcow2 (the
        image cache's disks) is accepted with its virtual size, anything else is not an image."""
        self._fail: dict[str, BaseException] = {}
        self._lock = threading.RLock()

    # -- test helpers ----------------------------------------------------------------------------

    def fail_next(self, method: str, exc: BaseException) -> None:
        self._fail[method] = exc

    def _maybe_fail(self, method: str) -> None:
        exc = self._fail.pop(method, None)
        if exc is not None:
            raise exc

    def write(self, volume_id: str, offset: int, data: bytes) -> None:
        with self._lock:
            self._vol(volume_id).data[offset] = data

    def read(self, volume_id: str, offset: int) -> bytes | None:
        """The bytes last written at ``offset`` as the volume sees them (None: never written)."""
        with self._lock:
            img: _Image | None = self._vol(volume_id)
            while img is not None:
                if offset in img.data:
                    return img.data[offset]
                img = self.layers.get(img.backing) if img.backing else None
            return None

    def restore(self, layers: dict[str, int], volumes: dict[str, tuple[int, str | None]]) -> None:
        """Hold these layers (id -> size) and volumes (id -> (size, backing layer or None)) again,
        blank: a restart keeps the store but not this memory, where the real driver's files stay.
        A backing layer not listed is left out (the volume then stands alone)."""
        with self._lock:
            for lid, size in layers.items():
                self.layers.setdefault(check_id("layer", lid), _Image(size, None))
            for vid, (size, backing) in volumes.items():
                self.volumes.setdefault(check_id("volume", vid),
                                        _Image(size, backing if backing in self.layers else None))

    # -- helpers ---------------------------------------------------------------------------------

    def _vol(self, volume_id: str) -> _Image:
        v = self.volumes.get(check_id("volume", volume_id))
        if v is None:
            raise VolumeNotFound(f"volume {volume_id} not found")
        return v

    def _layer(self, layer_id: str) -> _Image:
        lay = self.layers.get(check_id("layer", layer_id))
        if lay is None:
            raise LayerNotFound(f"layer {layer_id} not found")
        return lay

    def _depth(self, img: _Image) -> int:
        n = 1
        while img.backing is not None:
            img = self.layers[img.backing]
            n += 1
        return n

    # -- contract --------------------------------------------------------------------------------

    def create_volume(self, volume_id: str, size_bytes: int | None, from_layer: str | None = None,
                      *, shared: bool = False) -> Path:
        with self._lock:
            self._maybe_fail("create_volume")
            check_id("volume", volume_id)
            if volume_id in self.volumes:
                raise AlreadyExists(f"volume {volume_id} already exists")
            if from_layer is None:
                if not size_bytes or size_bytes <= 0:
                    raise StorageError(f"invalid size {size_bytes}")
                self.volumes[volume_id] = _Image(size_bytes, None, key=self.keys(volume_id))
            else:
                base = self._layer(from_layer)
                size = base.size if size_bytes is None else size_bytes
                if size < base.size:
                    raise StorageError(f"overlay size {size} is smaller than its backing ({base.size})")
                self.volumes[volume_id] = _Image(size, from_layer, key=self.keys(volume_id))
            if shared:  # the real driver's raw file: a standalone copy, never encrypted
                if self.keys(volume_id) is not None:
                    raise StorageError(f"a shared volume is never encrypted ({volume_id})")
                self.shared.add(volume_id)
                self.flatten_volume(volume_id)
            return self.volume_path(volume_id)

    def set_shared(self, volume_id: str, shared: bool) -> Path:
        with self._lock:
            self._maybe_fail("set_shared")
            if shared and self.keys(volume_id) is not None:
                raise StorageError(f"a shared volume is never encrypted ({volume_id})")
            self.flatten_volume(volume_id)  # either way a standalone copy of the content
            (self.shared.add if shared else self.shared.discard)(volume_id)
            return self.volume_path(volume_id)

    def delete_volume(self, volume_id: str) -> None:
        with self._lock:
            self._maybe_fail("delete_volume")
            self.volumes.pop(check_id("volume", volume_id), None)
            self.shared.discard(volume_id)

    def snapshot_volume(self, volume_id: str, layer_id: str, attached_to: Attachment | None = None) -> Path:
        with self._lock:
            self._maybe_fail("snapshot_volume")
            v = self._vol(volume_id)
            if check_id("layer", layer_id) in self.layers:
                raise AlreadyExists(f"layer {layer_id} already exists")
            self.layers[layer_id] = _Image(v.size, v.backing, v.data, key=v.key)
            v.backing, v.data = layer_id, {}
            if attached_to is not None:
                v.gen += 1
            return self.layer_path(layer_id)

    def snapshot_volumes_live(self, dom_name: str, items: Sequence[tuple[str, str, str]]) -> list[Path]:
        with self._lock:
            self._maybe_fail("snapshot_volumes_live")
            for volume_id, layer_id, _dev in items:
                self._vol(volume_id)
                if layer_id in self.layers:
                    raise AlreadyExists(f"layer {layer_id} already exists")
            return [self.snapshot_volume(v, lay, (dom_name, dev)) for v, lay, dev in items]

    def delete_layer(self, layer_id: str, *, force: bool = False) -> None:
        with self._lock:
            self._maybe_fail("delete_layer")
            if check_id("layer", layer_id) not in self.layers:
                return
            users = self.users_of(layer_id)
            if users and not force:
                raise LayerInUse(f"layer {layer_id} is the backing of {', '.join(users)}", users)
            del self.layers[layer_id]

    def layer_path(self, layer_id: str) -> Path:
        self._layer(layer_id)
        return self.root / "layers" / f"{layer_id}.qcow2"

    def copy_layer(self, source_id: str, layer_id: str) -> Path:
        with self._lock:
            self._maybe_fail("copy_layer")
            src = self._layer(source_id)
            if check_id("layer", layer_id) not in self.layers:
                new = self.keys(layer_id)
                if new == src.key:
                    self.layers[layer_id] = _Image(src.size, src.backing, dict(src.data), key=src.key)
                else:  # re-encrypted: a standalone copy of the chain's data
                    merged: dict[int, bytes] = {}
                    for img in reversed(self._images_of(src)):
                        merged.update(img.data)
                    self.layers[layer_id] = _Image(src.size, None, merged, key=new)
            return self.layer_path(layer_id)

    def layer_sealed(self, layer_id: str) -> bool:
        with self._lock:
            return layer_id in self.layers  # a fake layer is whole the moment it exists

    def volume_path(self, volume_id: str) -> Path:
        v = self._vol(volume_id)
        if volume_id in self.shared:
            return self.root / "volumes" / volume_id / "shared.raw"
        return self.root / "volumes" / volume_id / f"gen-{v.gen:06d}.qcow2"

    def _images_of(self, top: _Image) -> list[_Image]:
        out, img = [top], top
        while img.backing is not None:
            img = self.layers[img.backing]
            out.append(img)
        return out

    def chain(self, volume_id: str) -> list[tuple[Path, bool]]:
        with self._lock:
            v = self._vol(volume_id)
            ids = [volume_id, *self._backing_ids(v)]
            return [(self.volume_path(volume_id) if n == 0 else self.layer_path(i), img.key is not None)
                    for n, (i, img) in enumerate(zip(ids, self._images_of(v), strict=True))]

    def _backing_ids(self, img: _Image) -> list[str]:
        out = []
        while img.backing is not None:
            out.append(img.backing)
            img = self.layers[img.backing]
        return out

    def encrypted_with(self, resource_id: str) -> str | None:
        """Test helper: the passphrase a volume's or layer's own file is encrypted with."""
        with self._lock:
            img = self.volumes.get(resource_id) or self.layers.get(resource_id)
            return img.key if img is not None else None

    def chain_depth(self, volume_id: str) -> int:
        with self._lock:
            return self._depth(self._vol(volume_id))

    def flatten_volume(self, volume_id: str, attached_to: Attachment | None = None) -> Path:
        with self._lock:
            self._maybe_fail("flatten_volume")
            v = self._vol(volume_id)
            merged: dict[int, bytes] = {}
            chain = []
            img: _Image | None = v
            while img is not None:
                chain.append(img)
                img = self.layers.get(img.backing) if img.backing else None
            for img in reversed(chain):
                merged.update(img.data)
            v.data, v.backing = merged, None
            return self.volume_path(volume_id)

    def resize_volume(self, volume_id: str, size_bytes: int, attached_to: Attachment | None = None) -> None:
        with self._lock:
            v = self._vol(volume_id)
            if size_bytes < v.size:
                raise StorageError(f"refusing to shrink {volume_id} from {v.size} to {size_bytes}")
            v.size = size_bytes

    def volume_size(self, volume_id: str) -> int:
        return self._vol(volume_id).size

    def usage(self, resource_id: str) -> int:
        with self._lock:
            img = self.volumes.get(resource_id) or self.layers.get(resource_id)
            if img is None:
                raise StorageError(f"no volume or layer {resource_id!r}")
            return sum(len(b) for b in img.data.values())

    def users_of(self, layer_id: str) -> list[str]:
        with self._lock:
            return sorted(i for i, img in (*self.volumes.items(), *self.layers.items()) if img.backing == layer_id)

    def import_image(self, src: Path, layer_id: str, *, link: bool = False) -> Path:
        with self._lock:
            self._maybe_fail("import_image")
            if check_id("layer", layer_id) in self.layers:
                raise AlreadyExists(f"layer {layer_id} already exists")
            size = self.imports.get(Path(src))
            if size is None:
                size = _standalone_size(Path(src))
            self.layers[layer_id] = _Image(size, None)
            return self.layer_path(layer_id)

    def sweep(self, known_volume_ids: Iterable[str], known_layer_ids: Iterable[str]) -> SweepResult:
        with self._lock:
            vols, lays = set(known_volume_ids), set(known_layer_ids)
            keep: set[str] = set()
            for img in [v for i, v in self.volumes.items() if i in vols] + [
                lay for i, lay in self.layers.items() if i in lays
            ]:
                while img.backing is not None and img.backing not in keep:
                    keep.add(img.backing)
                    img = self.layers[img.backing]
            result = SweepResult()
            for vid in [v for v in self.volumes if v not in vols]:
                result.removed.append(self.volume_path(vid))
                del self.volumes[vid]
            for lid in [x for x in self.layers if x not in lays]:
                if lid in keep:
                    result.kept_in_use.append(self.layer_path(lid))
                else:
                    result.removed.append(self.layer_path(lid))
                    del self.layers[lid]
            return result

    def list_volumes(self) -> list[str]:
        return sorted(self.volumes)

    def has_volume(self, volume_id: str) -> bool:
        return volume_id in self.volumes

    def list_layers(self) -> list[str]:
        return sorted(self.layers)


def _standalone_size(src: Path) -> int:
    """The virtual size of a standalone qcow2 file, from its header only (nothing is copied or
    written): ``NotADiskImage``/``ForeignBackingFile`` as ``Qcow2Storage.import_image`` raises them."""
    if not src.is_file():
        raise NotADiskImage(f"{src} is not a regular file")
    hdr = read_header(src)
    if hdr.backing_file is not None or hdr.data_file is not None:
        raise ForeignBackingFile(f"{src} is not a standalone image; import standalone images only")
    return hdr.virtual_size
