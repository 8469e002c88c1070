"""SQLite (WAL) state store: resources as typed JSON documents, tags, and small settings.

Every resource row has a ``state`` and a ``version``; state changes go through
:meth:`Store.transition`, a compare-and-swap on the expected state(s), so two actors can never
both move a resource out of the same state. Schema changes are numbered migrations recorded in
``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: resources, tags, settings
    """
    CREATE TABLE resources (
        id         TEXT PRIMARY KEY,
        type       TEXT NOT NULL,
        region     TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT '',
        data       TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        version    INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX resources_type_region ON resources (type, region);
    CREATE TABLE tags (
        resource_id   TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        region        TEXT NOT NULL,
        PRIMARY KEY (resource_id, key)
    );
    CREATE INDEX tags_region ON tags (region, key);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]


class StoreError(Exception):
    pass


class StateConflict(StoreError):
    """A compare-and-swap found the resource in another state (or gone)."""

    def __init__(self, resource_id: str, expected: Iterable[str], actual: str | None) -> None:
        super().__init__(f"{resource_id}: expected state in {sorted(expected)}, found {actual}")
        self.resource_id = resource_id
        self.actual = actual


@dataclass
class Record:
    id: str
    type: str
    region: str
    state: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1


def _row(row: sqlite3.Row) -> Record:
    return Record(
        id=row["id"],
        type=row["type"],
        region=row["region"],
        state=row["state"],
        data=json.loads(row["data"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- plumbing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            current = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (nesting joins the outer one)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- resources ------------------------------------------------------------------------------
    def insert(self, record: Record) -> Record:
        now = time.time()
        record.created_at = record.created_at or now
        record.updated_at = now
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resources (id, type, region, state, data, created_at, updated_at, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.type,
                    record.region,
                    record.state,
                    json.dumps(record.data),
                    record.created_at,
                    record.updated_at,
                    record.version,
                ),
            )
        return record

    def get(self, resource_id: str, type: str | None = None) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM resources WHERE id = ?", (resource_id,)).fetchone()
        if row is None or (type is not None and row["type"] != type):
            return None
        return _row(row)

    def list(self, type: str, region: str | None = None, ids: Iterable[str] | None = None) -> list[Record]:
        sql = "SELECT * FROM resources WHERE type = ?"
        args: list[Any] = [type]
        if region is not None:
            sql += " AND region = ?"
            args.append(region)
        if ids is not None:
            wanted = list(ids)
            if not wanted:
                return []
            sql += f" AND id IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        sql += " ORDER BY created_at, id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row(r) for r in rows]

    def find_by_field(self, type: str, region: str, field: str, value: str) -> list[Record]:
        """Records whose top-level JSON ``field`` equals ``value`` (e.g. a key pair by name)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM resources WHERE type = ? AND region = ? AND json_extract(data, ?) = ?"
                " ORDER BY created_at, id",
                (type, region, f"$.{field}", value),
            ).fetchall()
        return [_row(r) for r in rows]

    def update(self, record: Record) -> Record:
        """Write ``record.data`` (not its state) if nobody changed the row since it was read."""
        now = time.time()
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE resources SET data = ?, updated_at = ?, version = version + 1"
                " WHERE id = ? AND version = ?",
                (json.dumps(record.data), now, record.id, record.version),
            )
            if cur.rowcount != 1:
                current = self.get(record.id)
                raise StateConflict(record.id, [record.state], current.state if current else None)
        record.version += 1
        record.updated_at = now
        return record

    def transition(
        self,
        resource_id: str,
        expected: str | Iterable[str],
        new_state: str,
        changes: Mapping[str, Any] | None = None,
    ) -> Record:
        """Compare-and-swap the state: move to ``new_state`` only from one of ``expected``."""
        wanted = [expected] if isinstance(expected, str) else list(expected)
        with self.transaction():
            current = self.get(resource_id)
            if current is None or current.state not in wanted:
                raise StateConflict(resource_id, wanted, current.state if current else None)
            if changes:
                current.data.update(changes)
            now = time.time()
            self._db.execute(
                "UPDATE resources SET state = ?, data = ?, updated_at = ?, version = version + 1"
                " WHERE id = ? AND version = ?",
                (new_state, json.dumps(current.data), now, resource_id, current.version),
            )
            current.state = new_state
            current.version += 1
            current.updated_at = now
            return current

    def delete(self, resource_id: str) -> bool:
        with self.transaction() as db:
            db.execute("DELETE FROM tags WHERE resource_id = ?", (resource_id,))
            cur = db.execute("DELETE FROM resources WHERE id = ?", (resource_id,))
            return cur.rowcount == 1

    # -- tags -----------------------------------------------------------------------------------
    def set_tags(self, resource_id: str, resource_type: str, region: str, tags: Mapping[str, str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO tags (resource_id, key, value, resource_type, region) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (resource_id, key) DO UPDATE SET value = excluded.value",
                [(resource_id, k, v, resource_type, region) for k, v in tags.items()],
            )

    def delete_tags(self, resource_id: str, tags: Mapping[str, str | None] | None = None) -> None:
        """Delete all tags, or the given keys (a value, when given, must match as well)."""
        with self.transaction() as db:
            if tags is None:
                db.execute("DELETE FROM tags WHERE resource_id = ?", (resource_id,))
                return
            for key, value in tags.items():
                if value is None:
                    db.execute("DELETE FROM tags WHERE resource_id = ? AND key = ?", (resource_id, key))
                else:
                    db.execute(
                        "DELETE FROM tags WHERE resource_id = ? AND key = ? AND value = ?",
                        (resource_id, key, value),
                    )

    def tags_of(self, resource_id: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM tags WHERE resource_id = ? ORDER BY key", (resource_id,)
            ).fetchall()
        return {r["key"]: r["value"] for r in rows}

    def tags_by_resource(self, resource_type: str, region: str) -> dict[str, dict[str, str]]:
        """All tags of one resource type in a region, grouped by resource id (one query)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT resource_id, key, value FROM tags WHERE resource_type = ? AND region = ?"
                " ORDER BY resource_id, key",
                (resource_type, region),
            ).fetchall()
        out: dict[str, dict[str, str]] = {}
        for r in rows:
            out.setdefault(r["resource_id"], {})[r["key"]] = r["value"]
        return out

    def all_tags(self, region: str) -> list[tuple[str, str, str, str]]:
        """(resource_id, resource_type, key, value) for every tag in the region, sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT resource_id, resource_type, key, value FROM tags WHERE region = ?"
                " ORDER BY resource_id, key",
                (region,),
            ).fetchall()
        return [(r["resource_id"], r["resource_type"], r["key"], r["value"]) for r in rows]

    # -- settings -------------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
