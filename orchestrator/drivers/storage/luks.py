"""qemu-img arguments for LUKS-encrypted qcow2 files (QEMU's ``encrypt.format=luks``).

Passphrases never appear on a command line: each goes to a file of mode 0600 in a private
directory (0700) on a tmpfs (``/dev/shm``, else the system's temporary directory), named by
``--object secret,id=...,file=...``, and the directory is removed as soon as qemu-img exits.

The LUKS key slot uses a short PBKDF2 time (``ITER_TIME_MS``): the passphrase is a random
256-bit key, not a password, so key stretching adds nothing but seconds to every open.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ITER_TIME_MS = 10


def _tmpfs_dir() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def secret_objects(passphrases: Sequence[str]) -> Iterator[list[str]]:
    """``--object secret,id=secN,file=...`` arguments for ``passphrases`` (``secN`` = the N-th);
    the files live only while the block runs."""
    if not passphrases:
        yield []
        return
    d = tempfile.mkdtemp(prefix="ec2d-keys-", dir=_tmpfs_dir())
    try:
        os.chmod(d, 0o700)
        args: list[str] = []
        for n, phrase in enumerate(passphrases):
            path = os.path.join(d, f"sec{n}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(phrase)
            args += ["--object", f"secret,id=sec{n},file={path}"]
        yield args
    finally:
        shutil.rmtree(d, ignore_errors=True)


def create_options(secret_id: str) -> str:
    """``-o`` value for a new encrypted qcow2 file."""
    return f"encrypt.format=luks,encrypt.key-secret={secret_id},encrypt.iter-time={ITER_TIME_MS}"


def _escape(value: str) -> str:
    return value.replace(",", ",,")


def image_opts(path: str | os.PathLike[str], encrypted: Sequence[bool], secret_id: str) -> str:
    """``--image-opts`` for the chain of ``path`` (``encrypted``: one flag per file, top first):
    every encrypted file of the chain opened with ``secret_id`` (one lineage key per chain)."""
    parts = ["driver=qcow2", f"file.filename={_escape(str(path))}"]
    for depth, enc in enumerate(encrypted):
        if enc:
            parts.append("backing." * depth + f"encrypt.key-secret={secret_id}")
    return ",".join(parts)
