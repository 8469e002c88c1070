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
    """Allocate every free block of the filesystem to one file (fallocate, then top up by writes
    for the last partial blocks); delete the returned file to free the space again."""
    filler = mnt / "filler"
    st = os.statvfs(mnt)
    subprocess.run(["fallocate", "-l", str(st.f_bavail * st.f_frsize), str(filler)], check=True)
    with open(filler, "ab", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    assert os.statvfs(mnt).f_bavail == 0
    return filler
