"""The storage driver's contract: ``StorageDriver`` (what every storage driver keeps), its errors
and result types. ``volumes.Qcow2Storage`` keeps it with qemu-img and libvirt block jobs;
``fake.FakeStorage`` in memory, for fast tests of services and API.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.drivers.storage.qcow2 import (
    ForeignBackingFile,
    LayerInUse,
    NotADiskImage,
    StorageError,
)

__all__ = [
    "AlreadyExists",
    "Attachment",
    "ForeignBackingFile",
    "KeySource",
    "LayerInUse",
    "LayerNotFound",
    "NotADiskImage",
    "StorageDriver",
    "StorageError",
    "SweepResult",
    "VolumeNotFound",
]

Attachment = tuple[str, str]
"""``(libvirt domain name, target dev)`` of a volume attached to a RUNNING domain."""

KeySource = Callable[[str], "str | None"]
"""A volume's or layer's LUKS passphrase by id (None: not encrypted)."""

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class VolumeNotFound(StorageError):
    """No volume of that id exists."""


class LayerNotFound(StorageError):
    """No layer of that id exists."""


class AlreadyExists(StorageError):
    """A volume or layer of that id already exists."""


@dataclass
class SweepResult:
    removed: list[Path] = field(default_factory=list)
    """Files and directories deleted."""
    kept_in_use: list[Path] = field(default_factory=list)
    """Unknown files kept because a kept image still builds on them (the caller should adopt
    them, e.g. a layer made by a live snapshot whose record was lost in a crash)."""


def check_id(kind: str, ident: str) -> str:
    if not ID_RE.match(ident):
        raise StorageError(f"invalid {kind} id {ident!r}")
    return ident


class StorageDriver(abc.ABC):
    """Contracts for EBS-style volumes and snapshot layers.

    * Drivers take ids and sizes, never read the store; the caller (the service) keeps the
      volume/layer graph and reference counts and serialises operations on one volume.
    * Errors are ``StorageError`` subclasses: ``VolumeNotFound``, ``LayerNotFound``,
      ``AlreadyExists``, ``LayerInUse``, ``NotADiskImage``, ``ForeignBackingFile``.
    * Deletes tolerate absence (repeatable after a crash).
    * Snapshots and volumes-from-layers are O(1): no guest data is copied, and the time does
      not depend on the volume's size or the data written.
    * A layer is immutable once made; it lives until ``delete_layer``, independent of the volume
      it was taken from (deleting the volume keeps its layers).
    * Encryption: ``keys(id)`` (set by ``use_keys``) gives an encrypted volume's or layer's
      passphrase; every file made for it is LUKS-encrypted with it, and every file of a chain
      that is encrypted opens with the top's passphrase (one key lineage per chain). A copy of a
      layer under another passphrase is re-encrypted (O(data)).
    """

    keys: KeySource = staticmethod(lambda _id: None)  # type: ignore[assignment]

    def use_keys(self, keys: KeySource) -> None:
        self.keys = keys

    @abc.abstractmethod
    def create_volume(self, volume_id: str, size_bytes: int | None, from_layer: str | None = None,
                      *, shared: bool = False) -> Path:
        """Create a volume and return its active path. Blank (``size_bytes`` required) or, with
        ``from_layer``, an overlay on that layer (O(1)); ``size_bytes`` may then be larger than the
        layer (default: the layer's size), never smaller. ``AlreadyExists``, ``LayerNotFound``.
        ``shared`` (Multi-Attach): a raw file several domains can open (``drivers/storage/raw.py``);
        from a layer it is a full copy (O(data)), and it is never encrypted."""

    @abc.abstractmethod
    def set_shared(self, volume_id: str, shared: bool) -> Path:
        """Convert a detached volume to a shared (raw) one or back to a standalone qcow2 (O(data));
        returns its new path. Repeatable: a volume already so is left as it is."""

    @abc.abstractmethod
    def delete_volume(self, volume_id: str) -> None:
        """Delete the volume's own files (never its layers). Absent volume: no-op. The caller
        detaches it first."""

    @abc.abstractmethod
    def snapshot_volume(self, volume_id: str, layer_id: str, attached_to: Attachment | None = None) -> Path:
        """Freeze the volume's current content as layer ``layer_id`` and return the layer path;
        the volume continues (writable) on a new empty overlay. ``attached_to`` = (domain, dev)
        when the volume is attached to a running domain: done live, and the volume's active path
        changes (read it again with ``volume_path``). O(1)."""

    @abc.abstractmethod
    def snapshot_volumes_live(self, dom_name: str, items: Sequence[tuple[str, str, str]]) -> list[Path]:
        """Snapshot several volumes ``(volume_id, layer_id, target_dev)`` attached to one running
        domain at the same instant (crash-consistent set); all or none. Returns the layer paths."""

    @abc.abstractmethod
    def delete_layer(self, layer_id: str, *, force: bool = False) -> None:
        """Delete a layer. ``LayerInUse`` while another volume or layer builds on it, unless
        ``force``. Absent layer: no-op."""

    @abc.abstractmethod
    def layer_path(self, layer_id: str) -> Path:
        """Path of an existing layer (``LayerNotFound``)."""

    @abc.abstractmethod
    def copy_layer(self, source_id: str, layer_id: str) -> Path:
        """A new layer with the content of ``source_id`` (CopySnapshot to another region). O(1):
        layers are immutable, so the copy may share the source's data. Repeatable: an existing
        ``layer_id`` is left as it is."""

    @abc.abstractmethod
    def layer_sealed(self, layer_id: str) -> bool:
        """True once the layer is complete (the last step of every snapshot seals it); False for
        a missing layer or one a crash left half made."""

    @abc.abstractmethod
    def volume_path(self, volume_id: str) -> Path:
        """Current active (top) path of an existing volume (``VolumeNotFound``)."""

    @abc.abstractmethod
    def chain(self, volume_id: str) -> list[tuple[Path, bool]]:
        """The files of the volume's chain, top first, each with whether it is encrypted."""

    @abc.abstractmethod
    def chain_depth(self, volume_id: str) -> int:
        """Number of files in the volume's backing chain (1 = standalone)."""

    @abc.abstractmethod
    def flatten_volume(self, volume_id: str, attached_to: Attachment | None = None) -> Path:
        """Make the volume standalone (copy its chain's data into it; layers untouched); returns
        its path. O(data)."""

    @abc.abstractmethod
    def resize_volume(self, volume_id: str, size_bytes: int, attached_to: Attachment | None = None) -> None:
        """Grow the volume (shrinking raises ``StorageError``)."""

    @abc.abstractmethod
    def volume_size(self, volume_id: str) -> int:
        """Virtual size in bytes."""

    @abc.abstractmethod
    def usage(self, resource_id: str) -> int:
        """Bytes allocated on the host by a volume's own files or by a layer (billing)."""

    @abc.abstractmethod
    def users_of(self, layer_id: str) -> list[str]:
        """Ids of the volumes and layers whose files are DIRECTLY backed by the layer."""

    @abc.abstractmethod
    def import_image(self, src: Path, layer_id: str, *, link: bool = False) -> Path:
        """Validate a standalone qcow2 and copy it into a new layer (returned).
        ``NotADiskImage``/``ForeignBackingFile`` for anything else. ``link``: ``src`` is a file
        nothing will ever write again (an entry of ec2d's image cache, written whole and renamed
        into place): the layer may then share its inode, a hard link instead of a copy when both
        are on one filesystem (no time, no space: every data dir imports the same images)."""

    @abc.abstractmethod
    def sweep(self, known_volume_ids: Iterable[str], known_layer_ids: Iterable[str]) -> SweepResult:
        """Remove files that belong to no known volume or layer (crash leftovers: half-made
        overlays, temp files, old generations), but never a file something kept builds on.
        Run it when no storage operation is in flight (at start-up)."""

    @abc.abstractmethod
    def list_volumes(self) -> list[str]:
        """Ids of the volumes present."""

    @abc.abstractmethod
    def has_volume(self, volume_id: str) -> bool:
        """Whether the volume is present (as :meth:`list_volumes` would list it), without
        looking at any other volume."""

    @abc.abstractmethod
    def list_layers(self) -> list[str]:
        """Ids of the layers present."""
