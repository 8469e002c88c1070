"""Narrow functions over ``qemu-img`` for qcow2 volumes and snapshot layers.

Safety rules (after Nova's imagebackend):

* every overlay pins its backing format (``-F qcow2``); qemu never probes a backing file's format
  (a raw file whose first bytes look like a qcow2 header could otherwise point anywhere);
* a backing chain may only reference files under the allowed storage roots: a header naming a
  path outside them raises ``ForeignBackingFile`` before qemu ever opens that path (headers are
  parsed here in Python, see ``read_header``);
* imported images must be standalone qcow2 (no backing file, no external data file).

Backing paths are written ABSOLUTE (resolved, under a storage root). qemu resolves a relative
backing path against the directory of the overlay, and our files change directory (a volume's top
file is renamed into ``layers/`` when it is frozen), so relative paths would silently break; an
absolute path also makes the "is it under a root" check a plain prefix test. The cost: moving
the storage root needs an unsafe rebase of every file (``rebase(..., safe=False)``).

Errors: ``StorageError`` (base; ``stderr`` carries qemu-img's message), ``NotADiskImage``,
``ForeignBackingFile``. Nothing here raises ``CalledProcessError``.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.drivers.storage import luks

__all__ = [
    "ChainEntry",
    "ForeignBackingFile",
    "ImageInfo",
    "LayerInUse",
    "NotADiskImage",
    "QcowHeader",
    "StorageError",
    "allocated_bytes",
    "check",
    "check_chain",
    "commit",
    "create_blank",
    "create_overlay",
    "encrypted_chain",
    "flatten",
    "freeze_top",
    "info",
    "read_header",
    "rebase",
    "resize",
    "run_qemu_img",
    "validate_import",
]

QEMU_IMG = "qemu-img"
# files qemu-img creates are guests' disks: owner-only (0600), whatever ec2d's own umask is
IMAGE_UMASK = 0o077
LAYER_MODE = 0o400  # a frozen layer: owner read-only (immutable; see orchestrator/data_dir.py)
QCOW2_MAGIC = b"QFI\xfb"
_EXT_BACKING_FORMAT = 0xE2792ACA
_EXT_DATA_FILE = 0x44415441
_MAX_CHAIN = 256
# limits for qemu-img on untrusted input (Nova uses the same idea: prlimit on qemu-img info)
_UNTRUSTED_AS = 1 << 30
_UNTRUSTED_CPU_S = 30


class StorageError(Exception):
    """A storage operation failed."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message + (f": {stderr.strip()}" if stderr.strip() else ""))
        self.message = message
        self.stderr = stderr


class NotADiskImage(StorageError):
    """The file is not a (usable) qcow2 image."""


class ForeignBackingFile(StorageError):
    """An image names a backing (or data) file outside the allowed storage roots."""


class LayerInUse(StorageError):
    """A layer is still the backing file of other images."""

    def __init__(self, message: str, users: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.users = list(users)


@dataclass(frozen=True)
class QcowHeader:
    """What the qcow2 header says, read without qemu (safe on files a running VM has open)."""

    version: int
    virtual_size: int
    backing_file: str | None
    backing_format: str | None
    data_file: str | None
    encrypted: bool = False  # crypt_method != 0 (ec2d writes LUKS only)


@dataclass(frozen=True)
class ChainEntry:
    filename: str
    format: str
    virtual_size: int
    actual_size: int
    backing_file: str | None
    backing_format: str | None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    virtual_size: int
    actual_size: int
    backing_file: str | None
    backing_format: str | None
    chain: list[ChainEntry] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """Number of files in the chain (1 = standalone)."""
        return len(self.chain) or 1


# ---------------------------------------------------------------------------------------------
# helpers


def _limit_untrusted() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (_UNTRUSTED_AS, _UNTRUSTED_AS))
    resource.setrlimit(resource.RLIMIT_CPU, (_UNTRUSTED_CPU_S, _UNTRUSTED_CPU_S))


# QEMU (7.2) sizes a new LUKS key slot by timing PBKDF2 rounds with the thread's *user* CPU time
# (getrusage(RUSAGE_THREAD).ru_utime, in ms) and gives up when a round measured 0 ms. The kernel
# splits a thread's run time into user and system by tick samples, so a short round can be
# charged wholly to system time and read 0 ms: a transient failure of that one measurement (seen
# in CI on a busy host). Every command that writes a LUKS header writes a new file (create,
# convert to a temporary name), so it is run again, at most _PBKDF_TRIES times.
_PBKDF_FLAKE = "Unable to get accurate CPU usage"
_PBKDF_TRIES = 5


def run_qemu_img(args: Sequence[str], what: str, *, untrusted: bool = False, timeout: float | None = None) -> str:
    for _ in range(_PBKDF_TRIES):
        try:
            cp = subprocess.run([QEMU_IMG, *args], capture_output=True, text=True, timeout=timeout,
                                preexec_fn=_limit_untrusted if untrusted else None, umask=IMAGE_UMASK)
        except FileNotFoundError as exc:
            raise StorageError(f"{what}: {QEMU_IMG} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise StorageError(f"{what}: timed out") from exc
        if cp.returncode == 0 or _PBKDF_FLAKE not in cp.stderr:
            break
    if cp.returncode != 0:
        raise StorageError(f"{what} failed (qemu-img exit {cp.returncode})", cp.stderr)
    return cp.stdout


def _under(path: Path, roots: Iterable[Path]) -> bool:
    """Whether ``path`` lies under a root once symlinks are resolved (a link inside a root that
    points outside it does not count)."""
    p = Path(os.path.realpath(path))
    for root in roots:
        r = Path(os.path.realpath(root))
        if p == r or r in p.parents:
            return True
    return False


def _abs_backing(overlay: Path, backing: str) -> Path:
    """Where qemu would look for ``backing`` named in ``overlay``'s header."""
    b = Path(backing)
    return b if b.is_absolute() else Path(os.path.abspath(overlay.parent / b))


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{final.name}")


# ---------------------------------------------------------------------------------------------
# header parsing and chain checks (no qemu involved)


def read_header(path: str | os.PathLike[str]) -> QcowHeader:
    """Parse the qcow2 header of ``path``; ``NotADiskImage`` when it is not qcow2."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(104)
            if len(head) < 72 or head[:4] != QCOW2_MAGIC:
                raise NotADiskImage(f"{p} is not a qcow2 image")
            version, boff, bsize = struct.unpack(">IQI", head[4:20])
            (vsize,) = struct.unpack(">Q", head[24:32])
            (crypt_method,) = struct.unpack(">I", head[32:36])
            if version not in (2, 3):
                raise NotADiskImage(f"{p}: unsupported qcow2 version {version}")
            hdr_len = 72
            if version == 3:
                if len(head) < 104:
                    raise NotADiskImage(f"{p}: truncated qcow2 v3 header")
                (hdr_len,) = struct.unpack(">I", head[100:104])
            backing = None
            if boff and bsize:
                if bsize > 4096:
                    raise NotADiskImage(f"{p}: backing file name too long")
                f.seek(boff)
                backing = f.read(bsize).decode("utf-8", "surrogateescape")
            # header extensions: (type u32, len u32, data padded to 8) until type 0
            backing_fmt = data_file = None
            f.seek(hdr_len)
            end = boff if boff else 65536
            pos = hdr_len
            for _ in range(64):
                ext = f.read(8)
                if len(ext) < 8:
                    break
                etype, elen = struct.unpack(">II", ext)
                if etype == 0:
                    break
                data = f.read(elen)
                if etype == _EXT_BACKING_FORMAT:
                    backing_fmt = data.decode("ascii", "replace")
                elif etype == _EXT_DATA_FILE:
                    data_file = data.decode("utf-8", "surrogateescape")
                pos += 8 + ((elen + 7) & ~7)
                if pos >= end:
                    break
                f.seek(pos)
    except OSError as exc:
        raise StorageError(f"cannot read {p}: {exc}") from exc
    except struct.error as exc:
        raise NotADiskImage(f"{p}: malformed qcow2 header") from exc
    return QcowHeader(version, vsize, backing, backing_fmt, data_file, crypt_method != 0)


def check_chain(path: str | os.PathLike[str], roots: Sequence[Path]) -> list[Path]:
    """Walk the backing chain of ``path`` by headers only and return its files, top first.

    Every file must be qcow2 with a pinned ``qcow2`` backing format and no external data file,
    and every backing file must lie under one of ``roots`` (``ForeignBackingFile``); an empty
    ``roots`` means no file in the chain may have a backing file at all.
    """
    files = [Path(os.path.abspath(path))]
    seen = {files[0]}
    while True:
        cur = files[-1]
        hdr = read_header(cur)
        if hdr.data_file:
            raise ForeignBackingFile(f"{cur} has an external data file {hdr.data_file!r}")
        if hdr.backing_file is None:
            return files
        nxt = _abs_backing(cur, hdr.backing_file)
        if not roots or not _under(nxt, roots):
            raise ForeignBackingFile(f"{cur} is backed by {hdr.backing_file!r}, outside the storage roots")
        if hdr.backing_format != "qcow2":
            raise ForeignBackingFile(f"{cur}: backing format not pinned to qcow2 ({hdr.backing_format!r})")
        if nxt in seen or len(files) >= _MAX_CHAIN:
            raise StorageError(f"{path}: backing chain loops or is too deep")
        seen.add(nxt)
        files.append(nxt)


def encrypted_chain(path: str | os.PathLike[str], roots: Sequence[Path] = ()) -> list[bool]:
    """One flag per file of the chain of ``path`` (top first): whether it is encrypted."""
    return [read_header(p).encrypted for p in check_chain(path, roots)]


def _new_file_args(key: str | None) -> list[str]:
    """``-o`` for a new file: LUKS-encrypted with secret ``sec0`` when ``key`` is given."""
    return ["-o", luks.create_options("sec0")] if key is not None else []


# ---------------------------------------------------------------------------------------------
# qemu-img wrappers


def info(path: str | os.PathLike[str], *, force_share: bool = False,
         roots: Sequence[Path] | None = None) -> ImageInfo:
    """``qemu-img info --backing-chain --output=json`` of ``path`` (format pinned to qcow2).

    With ``roots`` the chain is first checked by headers (``check_chain``) so that qemu never
    opens a foreign file. ``force_share`` (``-U``) reads an image a running VM has open.
    """
    p = Path(path)
    if not p.exists():
        raise StorageError(f"{p} does not exist")
    if roots is not None:
        check_chain(p, roots)
    args = ["info", "--backing-chain", "--output=json", "-f", "qcow2"]
    if force_share:
        args.append("-U")
    out = run_qemu_img([*args, str(p)], f"info {p}")
    try:
        raw = json.loads(out)
    except json.JSONDecodeError as exc:
        raise StorageError(f"info {p}: unparsable qemu-img output") from exc
    entries = [
        ChainEntry(
            filename=e["filename"],
            format=e["format"],
            virtual_size=int(e["virtual-size"]),
            actual_size=int(e.get("actual-size", 0)),
            backing_file=e.get("full-backing-filename") or e.get("backing-filename"),
            backing_format=e.get("backing-filename-format"),
        )
        for e in raw
    ]
    top = entries[0]
    return ImageInfo(top.format, top.virtual_size, top.actual_size, top.backing_file, top.backing_format,
                     entries)


def create_blank(path: str | os.PathLike[str], size_bytes: int, key: str | None = None) -> Path:
    """Create an empty standalone qcow2 of ``size_bytes`` at ``path`` (which must not exist);
    LUKS-encrypted with the passphrase ``key`` when given."""
    p = Path(path)
    if size_bytes <= 0:
        raise StorageError(f"invalid size {size_bytes}")
    if p.exists():
        raise StorageError(f"{p} already exists")
    tmp = _tmp_name(p)
    try:
        with luks.secret_objects([key] if key is not None else []) as objects:
            run_qemu_img(["create", *objects, "-q", "-f", "qcow2", *_new_file_args(key), str(tmp), str(size_bytes)],
                         f"create {p}")
        os.rename(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def create_overlay(path: str | os.PathLike[str], backing: str | os.PathLike[str],
                   size_bytes: int | None = None, *, roots: Sequence[Path] = (), key: str | None = None) -> Path:
    """Create a qcow2 overlay at ``path`` on ``backing`` (absolute path, ``-F qcow2`` pinned). O(1).

    ``size_bytes`` (default: the backing's virtual size) may be larger, never smaller.
    Refuses (``NotADiskImage``) a backing that is not qcow2 and (``ForeignBackingFile``) a backing
    outside ``roots`` or whose own chain leaves them; with no ``roots`` the backing must be
    standalone (Nova's rule: a base image may not have a backing file of its own).
    ``key``: the overlay is LUKS-encrypted with that passphrase.
    """
    p = Path(path)
    b = Path(os.path.abspath(backing))
    if roots and not _under(b, roots):
        raise ForeignBackingFile(f"backing {b} is outside the storage roots")
    check_chain(b, roots)
    vsize = read_header(b).virtual_size
    size = vsize if size_bytes is None else size_bytes
    if size < vsize:
        raise StorageError(f"overlay size {size} is smaller than its backing ({vsize})")
    if p.exists():
        raise StorageError(f"{p} already exists")
    tmp = _tmp_name(p)
    try:
        # -u: do not open the backing (it may be in use by a running VM); we checked it above
        with luks.secret_objects([key] if key is not None else []) as objects:
            run_qemu_img(["create", *objects, "-q", "-f", "qcow2", "-u", "-b", str(b), "-F", "qcow2",
                         *_new_file_args(key), str(tmp), str(size)], f"create overlay {p}")
        os.rename(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def freeze_top(volume_path: str | os.PathLike[str], layer_path: str | os.PathLike[str],
               *, roots: Sequence[Path] = (), key: str | None = None) -> Path:
    """Snapshot a DETACHED volume: its current top file becomes the immutable layer at
    ``layer_path`` (mode 0400) and ``volume_path`` continues as a new empty overlay on it.

    O(1) in volume size and data written: one ``qemu-img create`` of an empty overlay plus a
    hard link and a rename. Crash-safe ordering - ``volume_path`` always names a complete image:
      1. create the new overlay at a temporary name, backed by ``layer_path`` (not opened yet);
      2. hard-link the current top to ``layer_path`` (both names now point at the same file);
      3. ``rename(tmp, volume_path)`` - the atomic switch; the old top survives as the layer only;
      4. chmod 0400 on the layer.
    A crash before 3 leaves the volume unchanged plus a layer name and a temp file that
    ``Qcow2Storage.sweep`` removes. ``volume_path`` and ``layer_path`` must be on one filesystem.
    ``key``: the new overlay is LUKS-encrypted with it (the volume's lineage key). Returns ``layer_path``.
    """
    vol = Path(os.path.abspath(volume_path))
    layer = Path(os.path.abspath(layer_path))
    if layer.exists():
        raise StorageError(f"layer {layer} already exists")
    hdr = read_header(vol)
    if roots:
        check_chain(vol, roots)
    tmp = _tmp_name(vol)
    linked = False
    try:
        with luks.secret_objects([key] if key is not None else []) as objects:
            run_qemu_img(["create", *objects, "-q", "-f", "qcow2", "-u", "-b", str(layer), "-F", "qcow2",
                         *_new_file_args(key), str(tmp), str(hdr.virtual_size)], f"create overlay for {vol}")
        os.link(vol, layer)
        linked = True
        os.rename(tmp, vol)
        linked = False
    except OSError as exc:
        raise StorageError(f"freeze {vol} -> {layer}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        if linked:
            layer.unlink(missing_ok=True)
    os.chmod(layer, LAYER_MODE)
    return layer


def resize(path: str | os.PathLike[str], size_bytes: int, key: str | None = None, *,
           roots: Sequence[Path] = ()) -> None:
    """Grow the virtual size of ``path`` to ``size_bytes`` (shrinking is refused); ``key`` opens
    the encrypted files of its chain."""
    p = Path(path)
    cur = read_header(p).virtual_size
    if size_bytes < cur:
        raise StorageError(f"refusing to shrink {p} from {cur} to {size_bytes}")
    if size_bytes == cur:
        return
    chain = encrypted_chain(p, roots)
    if key is None or not any(chain):
        run_qemu_img(["resize", "-q", "-f", "qcow2", str(p), str(size_bytes)], f"resize {p}")
        return
    with luks.secret_objects([key]) as objects:
        run_qemu_img(["resize", *objects, "-q", "--image-opts", luks.image_opts(p, chain, "sec0"), str(size_bytes)],
                     f"resize {p}")


def rebase(path: str | os.PathLike[str], new_backing: str | os.PathLike[str] | None, *, safe: bool = True,
           roots: Sequence[Path] = ()) -> None:
    """Point ``path`` at ``new_backing`` (``None``: no backing; safe mode then copies all data in).

    Safe mode (default) makes the guest-visible content unchanged by copying the differences
    between the old and new chains into ``path``. ``safe=False`` (``-u``) only rewrites the header:
    use it when the new backing holds identical data (e.g. a file moved to a new path).
    """
    p = Path(path)
    args = ["rebase", "-q", "-f", "qcow2"]
    if new_backing is None:
        args += ["-b", ""]
    else:
        nb = Path(os.path.abspath(new_backing))
        if roots and not _under(nb, roots):
            raise ForeignBackingFile(f"new backing {nb} is outside the storage roots")
        check_chain(nb, roots)
        args += ["-b", str(nb), "-F", "qcow2"]
    if not safe:
        args.append("-u")
    run_qemu_img([*args, str(p)], f"rebase {p}")


def commit(path: str | os.PathLike[str]) -> None:
    """``qemu-img commit``: write the data of ``path`` down into its backing file.

    This MODIFIES the backing file: only for a backing used by nobody else (the caller's
    reference counts decide), never for a shared snapshot layer.
    """
    p = Path(path)
    if read_header(p).backing_file is None:
        raise StorageError(f"{p} has no backing file to commit into")
    run_qemu_img(["commit", "-q", "-f", "qcow2", str(p)], f"commit {p}")


def flatten(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, key: str | None = None,
            new_key: str | None = None, roots: Sequence[Path] = ()) -> Path:
    """Copy the whole chain of ``src`` into a standalone qcow2 at ``dst`` (atomic rename;
    ``dst`` may be ``src`` itself, which is then replaced). O(data). ``key`` opens the encrypted
    files of the chain; ``new_key`` encrypts ``dst`` (re-encryption when it differs from ``key``)."""
    s = Path(src)
    d = Path(dst)
    tmp = _tmp_name(d)
    chain = encrypted_chain(s, roots) if key is not None else []
    reading = key is not None and any(chain)
    phrases = ([key] if reading and key is not None else []) + ([new_key] if new_key is not None else [])
    source = ["--image-opts", luks.image_opts(s, chain, "sec0")] if reading else ["-f", "qcow2", str(s)]
    out = ["-o", luks.create_options(f"sec{len(phrases) - 1}")] if new_key is not None else []
    try:
        with luks.secret_objects(phrases) as objects:
            run_qemu_img(["convert", *objects, "-q", *source, "-O", "qcow2", *out, str(tmp)], f"flatten {s}")
        os.rename(tmp, d)
    finally:
        tmp.unlink(missing_ok=True)
    return d


def allocated_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes the file occupies on the host disk (``st_blocks * 512``), for billing."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError as exc:
        raise StorageError(f"{path} does not exist") from exc


def check(path: str | os.PathLike[str], *, force_share: bool = False) -> dict[str, object]:
    """``qemu-img check --output=json``; raises ``StorageError`` on corruption or leaks."""
    args = ["check", "--output=json", "-f", "qcow2"]
    if force_share:
        args.append("-U")
    try:
        cp = subprocess.run([QEMU_IMG, *args, str(path)], capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise StorageError(f"check {path}: {QEMU_IMG} not found") from exc
    try:
        result: dict[str, object] = json.loads(cp.stdout) if cp.stdout.strip() else {}
    except json.JSONDecodeError:
        result = {}
    if cp.returncode != 0:
        raise StorageError(f"check {path}: exit {cp.returncode} {result}", cp.stderr)
    return result


def validate_import(path: str | os.PathLike[str]) -> ImageInfo:
    """Check a user-supplied file before it becomes a layer: it must be a standalone qcow2.

    ``NotADiskImage`` for anything else (qemu would call a text file "raw"), ``ForeignBackingFile``
    for a backing or external data file. The header is read in Python first, then
    ``qemu-img info`` (format pinned, never following a backing) runs under rlimits.
    """
    p = Path(path)
    if not p.is_file():
        raise NotADiskImage(f"{p} is not a regular file")
    hdr = read_header(p)
    if hdr.backing_file is not None:
        raise ForeignBackingFile(f"{p} has a backing file {hdr.backing_file!r}; import standalone images only")
    if hdr.data_file is not None:
        raise ForeignBackingFile(f"{p} has an external data file {hdr.data_file!r}")
    try:
        out = run_qemu_img(["info", "--output=json", "-f", "qcow2", str(p)], f"info {p}", untrusted=True, timeout=60)
        raw = json.loads(out)
    except (StorageError, json.JSONDecodeError) as exc:
        raise NotADiskImage(f"{p} is not a usable qcow2 image: {exc}") from exc
    if raw.get("format") != "qcow2" or raw.get("backing-filename"):
        raise NotADiskImage(f"{p}: unexpected image info {raw.get('format')!r}")
    e = ChainEntry(p.as_posix(), "qcow2", int(raw["virtual-size"]), int(raw.get("actual-size", 0)), None, None)
    return ImageInfo("qcow2", e.virtual_size, e.actual_size, None, None, [e])
