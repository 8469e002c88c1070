"""Small helpers shared by the image builders: subprocess calls, locks, atomic directory publish."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class ImageError(Exception):
    """An image could not be built, found or imported. ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def run(cmd: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
        env: dict[str, str] | None = None, input: bytes | None = None) -> str:
    """Run ``cmd``; return its stdout as text; raise ImageError with stderr on failure."""
    args = [os.fspath(c) for c in cmd]
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise ImageError(f"command not found: {args[0]}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise ImageError(f"{' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return proc.stdout.decode(errors="replace")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def publish_dir(tmp: Path, final: Path) -> None:
    """Atomically move a fully built ``tmp`` directory to ``final`` (same filesystem)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if final.is_dir():  # someone else published the same content first
            shutil.rmtree(tmp, ignore_errors=True)
            return
        raise


def apt_candidate(package: str) -> str | None:
    """The version apt would install/download for ``package`` (None if apt knows no candidate)."""
    out = run(["apt-cache", "policy", package])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            return None if value in ("", "(none)") else value
    return None


def dpkg_installed_version(package: str) -> str | None:
    try:
        out = run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package])
    except ImageError:
        return None
    status, _, version = out.partition("\t")
    return version if status.endswith(" installed") else None


def direct_kernel_manifest(*, name: str, description: str, key: str, builder_version: str,
                           inputs: dict[str, Any], kernel_release: str, kernel_cmdline: str,
                           root_size_mib: int, login_user: str, started: float,
                           **extra: Any) -> dict[str, Any]:
    """The manifest of a built image that boots its own kernel + initramfs beside the disk."""
    return {
        "name": name,
        "description": description,
        "key": key,
        "builder_version": builder_version,
        "inputs": inputs,
        "architecture": "x86_64",
        "virtualization_type": "hvm",
        "boot_mode": "legacy-bios",
        "boot": "direct-kernel",
        "disk": "disk.qcow2",
        "disk_format": "qcow2",
        "kernel": "vmlinuz",
        "initrd": "initrd.img",
        "kernel_release": kernel_release,
        "kernel_cmdline": kernel_cmdline,
        "root_device": "/dev/xvda",
        "guest_root_device": "/dev/vda",
        "virtual_size": root_size_mib * 1024 * 1024,
        "login_user": login_user,
        "imds_support": "v2.0",
        "ena_support": False,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - started, 2),
        **extra,
    }


def publish_image(out: Path, final: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last, then move the finished directory into place atomically."""
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    publish_dir(out, final)
