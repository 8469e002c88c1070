"""The image cache: ``ensure_image`` (build on demand), ``list_images`` and ``import_image``.

Layout: ``cache_dir/images/<name>-<key12>/`` with ``manifest.json`` and the files it names
(``disk`` always; ``kernel``/``initrd`` for direct kernel boot). Directories are built under a
temporary name and renamed into place, so a directory with a manifest is always complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.images import debian, tiny
from orchestrator.images._proc import ImageError, locked, publish_dir, run

__all__ = ["ImageArtifact", "ImageError", "default_cache_dir", "ensure_image", "import_image",
           "list_images", "load_image", "BUILTIN_IMAGES"]

BUILTIN_IMAGES = ("ec2d-tiny", "debian-12")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_QEMU_IMG_TIMEOUT = 60


@dataclass(frozen=True)
class ImageArtifact:
    """A complete image in the cache. ``kernel``/``initrd`` are None for images that boot with
    their own bootloader (imported cloud images)."""

    name: str
    path: Path
    disk: Path
    kernel: Path | None
    initrd: Path | None
    manifest: dict[str, Any] = field(compare=False)

    @property
    def key(self) -> str:
        return str(self.manifest.get("key", ""))

    @property
    def kernel_cmdline(self) -> str | None:
        value = self.manifest.get("kernel_cmdline")
        return str(value) if value else None


def default_cache_dir() -> Path:
    return Path(os.environ.get("EC2D_CACHE_DIR", "/var/cache/ec2d"))


def load_image(path: Path) -> ImageArtifact:
    """Read an image directory (one holding manifest.json)."""
    manifest_file = path / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable manifest: {exc}") from exc
    disk = path / manifest["disk"]
    kernel = path / manifest["kernel"] if manifest.get("kernel") else None
    initrd = path / manifest["initrd"] if manifest.get("initrd") else None
    for f in (disk, kernel, initrd):
        if f is not None and not f.is_file():
            raise ImageError(f"{path}: {f.name} named in the manifest is missing")
    return ImageArtifact(name=manifest["name"], path=path, disk=disk, kernel=kernel, initrd=initrd,
                         manifest=manifest)


def ensure_image(name: str, cache_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None) -> ImageArtifact:
    """Return the cached image ``name``, building it first if its inputs changed or it is missing."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name == "ec2d-tiny":
        return load_image(tiny.build(cache_dir, progress))
    if name == "debian-12":
        return load_image(debian.build(cache_dir, progress))
    for image in list_images(cache_dir):  # imported images are found by name
        if image.name == name:
            return image
    raise ImageError(f"unknown image {name!r} (built-in: {', '.join(BUILTIN_IMAGES)}; or import one)")


def list_images(cache_dir: Path | None = None) -> list[ImageArtifact]:
    """Every complete image in the cache, newest first."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = cache_dir / "images"
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        if d.name.startswith(".") or not (d / "manifest.json").is_file():
            continue
        try:
            found.append(load_image(d))
        except (ImageError, KeyError):
            continue
    found.sort(key=lambda a: (a.manifest.get("built_at", ""), a.name), reverse=True)
    return found


# --- import ---------------------------------------------------------------------------------

def _qemu_img_info(path: Path) -> dict[str, Any]:
    try:
        out = run(["qemu-img", "info", "--output=json", "--force-share", path])
    except ImageError as exc:
        raise ImageError(f"{path} is not a readable disk image: {exc.message}") from exc
    try:
        return json.loads(out)
    except ValueError as exc:
        raise ImageError(f"qemu-img info gave no JSON for {path}") from exc


def _looks_like_disk(path: Path) -> bool:
    """A raw file is accepted only if it carries an MBR boot signature or a GPT header."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if len(head) < 1024:
        return False
    return head[510:512] == b"\x55\xaa" or head[512:520] == b"EFI PART"


def validate_import(path: Path) -> dict[str, Any]:
    """Check that ``path`` is a self-contained qcow2 or raw disk image; return qemu-img's info."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    info = _qemu_img_info(path)
    fmt = info.get("format")
    if fmt not in ("qcow2", "raw"):
        raise ImageError(f"{path}: format {fmt!r} is not supported (qcow2 or raw only)")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImageError(f"{path}: has a backing file ({info.get('backing-filename')}); "
                         "import a self-contained image (qemu-img convert it first)")
    specific = (info.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise ImageError(f"{path}: qcow2 with an external data file is not supported")
    if info.get("encrypted") or specific.get("encrypt"):
        raise ImageError(f"{path}: encrypted images are not supported")
    if specific.get("corrupt"):
        raise ImageError(f"{path}: qcow2 image is marked corrupt")
    size = int(info.get("virtual-size") or 0)
    if size < 1024 * 1024:
        raise ImageError(f"{path}: virtual size {size} bytes is too small for a disk")
    if fmt == "raw" and (size % 512 != 0 or not _looks_like_disk(path)):
        raise ImageError(f"{path}: not a disk image (raw data without a partition table)")
    return info


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_image(path: Path, name: str, cache_dir: Path | None = None) -> ImageArtifact:
    """Copy a user's own cloud image (qcow2 or raw, booting with its own bootloader) into the cache."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = Path(path)
    if not _NAME_RE.match(name):
        raise ImageError(f"invalid image name {name!r} (lowercase letters, digits, '.', '_', '-')")
    if name in BUILTIN_IMAGES:
        raise ImageError(f"{name!r} is the name of a built-in image")
    info = validate_import(path)
    digest = _sha256_file(path)
    key = hashlib.sha256(f"import {name} {digest}".encode()).hexdigest()
    images = cache_dir / "images"
    final = images / f"{name}-{key[:12]}"
    if (final / "manifest.json").is_file():
        return load_image(final)
    images.mkdir(parents=True, exist_ok=True)
    with locked(images / f".{name}.lock"):
        if (final / "manifest.json").is_file():
            return load_image(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{key[:12]}.", dir=images))
        try:
            out = tmp / "out"
            out.mkdir()
            run(["qemu-img", "convert", "-f", info["format"], "-O", "qcow2", path, out / "disk.qcow2"])
            check = json.loads(run(["qemu-img", "info", "--output=json", out / "disk.qcow2"]))
            manifest = {
                "name": name,
                "description": f"imported from {path.name}",
                "key": key,
                "inputs": {"source": str(path), "source_sha256": digest, "source_format": info["format"]},
                "architecture": "x86_64",
                "virtualization_type": "hvm",
                "boot_mode": "legacy-bios",
                "boot": "bootloader",
                "disk": "disk.qcow2",
                "disk_format": "qcow2",
                "kernel": None,
                "initrd": None,
                "kernel_cmdline": None,
                "root_device": "/dev/xvda",
                "virtual_size": int(check["virtual-size"]),
                "login_user": None,
                "imds_support": None,
                "imported": True,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            publish_dir(out, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_image(final)
