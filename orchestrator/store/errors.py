"""The store's errors: a host condition (``StoreUnavailable``: full disk, I/O, locked) or a lost
compare-and-swap (``StateConflict``), and the translation of sqlite3's errors into them."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

DB_MODE = 0o600


class StoreError(Exception):
    pass


class StoreUnavailable(StoreError):
    """The database could not be written or read now (disk full, I/O error, locked by another
    process). Nothing of the failed transaction was kept; retrying later may succeed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "full", "io", "busy", "readonly" or "other"


# SQLite primary result codes (sqlite3.h) that are conditions of the host, not of the request
_UNAVAILABLE = {5: "busy", 6: "busy", 8: "readonly", 10: "io", 13: "full", 14: "io"}


def translate(exc: sqlite3.Error) -> StoreError | None:
    """``StoreUnavailable`` for host conditions (disk full, I/O, locked), else None (a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    reason = _UNAVAILABLE.get(primary) if primary is not None else None
    if reason is None and isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        reason = ("full" if "disk is full" in text else "io" if "disk i/o" in text
                  else "busy" if "locked" in text else None)
    if reason is None:
        return None
    return StoreUnavailable(f"state store unavailable ({reason}): {exc}", reason)


def secure_file(path: str | os.PathLike[str], mode: int = DB_MODE) -> None:
    """chmod ``path`` to ``mode`` when it exists and is wider (owner-only data)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_mode & 0o777 != mode:
        os.chmod(path, mode)


class StateConflict(StoreError):
    """A compare-and-swap found the resource in another state (or gone)."""

    def __init__(self, resource_id: str, expected: Iterable[str], actual: str | None) -> None:
        super().__init__(f"{resource_id}: expected state in {sorted(expected)}, found {actual}")
        self.resource_id = resource_id
        self.actual = actual
