"""Small helpers shared by the image builders: subprocess calls, locks, atomic directory publish."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path


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
