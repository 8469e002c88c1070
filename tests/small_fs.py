"""A small real filesystem for tests that need a disk to fill: a tmpfs of a given size mounted
on a fresh directory, always unmounted afterwards, and a helper that fills it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(base: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at a fresh directory under ``base``."""
    mnt = base / f"small-fs-{uuid.uuid4().hex[:8]}"
    mnt.mkdir()
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {cp.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        mnt.rmdir()


def fill(mnt: Path) -> Path:
    """Allocate every free block of the filesystem to one file, then top up by writes for the last
    partial blocks; delete the returned file to free the space again. A daemon may write to the
    same filesystem meanwhile (its WAL), so a piece that no longer fits is retried at half the size
    instead of failing on the free space read a moment before."""
    filler = mnt / "filler"
    st = os.statvfs(mnt)
    piece = max(st.f_bavail * st.f_frsize, 4096)
    with open(filler, "ab", buffering=0) as f:
        while piece >= 4096:
            try:
                os.posix_fallocate(f.fileno(), os.fstat(f.fileno()).st_size, piece)
            except OSError:  # ENOSPC: try a smaller piece
                piece //= 2
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
    assert os.statvfs(mnt).f_bavail == 0
    return filler
