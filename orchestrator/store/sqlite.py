"""SQLite (WAL) state store: resources as typed JSON documents, tags, and small settings.

Every resource row has a ``state`` and a ``version``; state changes go through
:meth:`Store.transition`, a compare-and-swap on the expected state(s), so two actors can never
both move a resource out of the same state. Schema changes are numbered migrations recorded in
``PRAGMA user_version``.

Durability and failure choices:

* ``synchronous=FULL`` with WAL: every COMMIT fsyncs the WAL before the API answers. With
  ``NORMAL`` a power loss (or host crash) may roll back the last transactions although the client
  was told they succeeded, while their host side effects (a deleted volume file, a destroyed
  domain, a private key handed out once) are not rolled back with them: the record and the host
  would disagree. ``FULL`` costs one fsync per write transaction (``bench/store.py`` prints both
  levels); ec2d's writes are API-rate, not bulk, so durability wins. Either level keeps the file
  consistent; only the last commits' durability differs.
* ``busy_timeout`` 2 s: ec2d itself serialises every access through one connection and a lock,
  so SQLite's busy handler only waits for another process holding the write lock (an admin's
  ``sqlite3`` shell, a backup). Store calls run on the API's event loop, so the wait is bounded
  short; past it the call fails as ``StoreUnavailable`` (retryable).
* A full disk or an I/O error (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, ...) raises
  ``StoreUnavailable``: the transaction is rolled back (the database stays as before the call)
  and the API answers ``ServiceUnavailable`` (503, which SDKs retry). Once space is freed the
  next write succeeds; nothing needs a restart.
* ``EC2D_CHECK_RECORDS=1`` checks the data of every record written against its ``TypedDict``
  (``domain/records.py``; ``RecordSchemaError``, nothing written): the test suite sets it, so the
  record types stay true; production leaves it off (no cost).
* The database, its WAL and SHM files are created 0600 (umask) and fixed to 0600 on open: they
  hold every user's data.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from orchestrator.domain import billing, lifecycle, records
from orchestrator.domain.narrowing import Narrowing
from orchestrator.store import ledger, reads, schema, usage_reads
from orchestrator.store.errors import (  # noqa: F401 (re-exported: the store's errors are imported from here)
    DB_MODE,
    StateConflict,
    StoreError,
    StoreUnavailable,
    secure_file,
)
from orchestrator.store.errors import translate as _translate
from orchestrator.store.schema import FIELD_NAMES, MIGRATIONS  # noqa: F401 (MIGRATIONS: re-exported)

log = logging.getLogger("ec2d.store")

CHECK_RECORDS_ENV = "EC2D_CHECK_RECORDS"  # "1": check every record written against domain/records.py
BUSY_TIMEOUT_MS = 2000
SYNCHRONOUS = "FULL"  # see the module docstring
# read-cache generations (:meth:`Store.generation`): family -> the record-type prefix its writes bump
GENERATION_FAMILIES = {"iam": "iam-"}
TAGS_GENERATION = "tags"  # bumped by every write of the tags table, whatever the resource's type
_GENERATIONS_SQL: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}  # Store.generations' query and keys


D = TypeVar("D")  # a record's data payload: a ``TypedDict`` of ``domain/records.py`` (``Record[VolumeData]``)


@dataclass
class Record(Generic[D]):
    """One stored resource. ``data`` is the JSON document; ``Record[VolumeData]`` tells a type
    checker its keys (``domain/records.py``), a bare ``Record`` leaves it untyped. Storage is the
    same for all: the type parameter exists for the reader and the checker only."""

    id: str
    type: str
    region: str
    state: str = ""
    data: D = field(default_factory=dict)  # type: ignore[assignment]
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1


IDS_PER_READ = 5000  # ids asked in one statement (SQLite allows 32,766 bound variables)


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
    def __init__(self, path: Path | str, check_records: bool | None = None) -> None:
        self.path = str(path)
        # every insert/update/transition checks the record's data against its TypedDict
        # (``records.check``): on in the test suite (``EC2D_CHECK_RECORDS=1``), off by default
        self.check_records = (os.environ.get(CHECK_RECORDS_ENV) == "1") if check_records is None else check_records
        self._lock = threading.RLock()
        # the time ledger intervals open and close at, and "now" for reading open ones (tests inject one)
        self.clock: Callable[[], float] = time.time
        on_disk = self.path != ":memory:"
        old_umask = os.umask(0o077)  # the db and the -wal/-shm files SQLite creates: 0600
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.row_factory = sqlite3.Row
            with self._translated():
                self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                if on_disk:
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        finally:
            os.umask(old_umask)
        if on_disk:
            for suffix in ("", "-wal", "-shm"):
                secure_file(self.path + suffix)
        # what `generations` read, under the commit count it saw (`_commits_seen`)
        self._generations_seen: dict[tuple[str, ...], tuple[tuple[int, int], tuple[int, ...]]] = {}
        self._own_bumps: dict[str, int] = {}  # `own_bumps`: this object's writes per family

    # -- plumbing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            schema.migrate(self._db, self._meter_existing)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """sqlite3 errors of the host (full disk, I/O, locked) -> ``StoreUnavailable``."""
        try:
            yield
        except sqlite3.Error as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            raise translated from exc

    def _rollback(self) -> None:
        """End a failed transaction; SQLite may already have rolled back by itself (SQLITE_FULL
        and SQLITE_IOERR can end it automatically), and a ROLLBACK can itself fail on a sick
        disk - then the connection is rolled back when SQLite next can (the journal undoes it)."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("ROLLBACK failed", exc_info=True)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (nesting joins the outer one). Raises ``StoreUnavailable``
        when the disk is full or failing; the whole unit is then rolled back."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            with self._translated():
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` rows (``["ok"]`` when the database is consistent)."""
        with self._lock, self._translated():
            return [r[0] for r in self._db.execute("PRAGMA integrity_check").fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the usage ledger (store/ledger.py) -----------------------------------------------------
    def _meter(self, record_id: str, rtype: str, region: str, state: str, data: Mapping[str, Any],
               at: float | None) -> None:
        """Open and close the record's ledger intervals to match its new state and data, in the
        caller's transaction; an instance's change also re-meters the Elastic IPs on it (an
        address on a stopped instance is idle)."""
        if rtype not in billing.METERED_TYPES:
            return
        now = self.clock()
        when = now if at is None else min(at, now)
        instance_state = None
        if rtype == "elastic-ip" and data.get("InstanceId"):
            row = self._db.execute("SELECT state FROM resources WHERE id = ?", (data["InstanceId"],)).fetchone()
            instance_state = row["state"] if row is not None else None
        ledger.sync(self._db, record_id, rtype, region,
                    billing.meters(rtype, region, state, data, instance_state), when)
        if rtype == "instance":
            for eip in self._db.execute("SELECT * FROM resources WHERE type = 'elastic-ip'"
                                        " AND json_extract(data, '$.InstanceId') = ?", (record_id,)).fetchall():
                ledger.sync(self._db, eip["id"], "elastic-ip", eip["region"],
                            billing.meters("elastic-ip", eip["region"], eip["state"], json.loads(eip["data"]), state),
                            when)

    def _meter_existing(self) -> None:
        """At the upgrade that adds the ledger: the records already stored start their meters now."""
        now = self.clock()
        rows = self._db.execute("SELECT * FROM resources WHERE type IN ('instance', 'volume', 'snapshot',"
                                " 'elastic-ip') ORDER BY created_at, id").fetchall()
        for r in rows:
            self._meter(r["id"], r["type"], r["region"], r["state"], json.loads(r["data"]), now)

    def now(self) -> float:
        return self.clock()

    def usage_intervals(self, since: float | None = None, resource_id: str | None = None) -> list[ledger.Interval]:
        with self._lock, self._translated():
            return ledger.intervals(self._db, since, resource_id)

    def usage_sums(self, query: usage_reads.Query) -> list[usage_reads.Sum]:
        with self._lock, self._translated():
            return usage_reads.aggregate(self._db, query)

    def usage_values(self, column: str, start: float, end: float,
                     where: usage_reads.Condition | None = None) -> list[str]:
        with self._lock, self._translated():
            return usage_reads.distinct(self._db, column, start, end, self.clock(), where)

    def usage_tag_keys(self, start: float, end: float) -> list[str]:
        with self._lock, self._translated():
            return usage_reads.tag_keys(self._db, start, end, self.clock())

    # -- resources ------------------------------------------------------------------------------
    def insert(self, record: Record, tags: Mapping[str, str] | None = None) -> Record:
        """Store a new record, with its ``tags`` in the same transaction (so the meters it starts
        accrue under them from the first second)."""
        lifecycle.check_initial(record.type, record.state)
        if self.check_records:
            records.check(record.type, record.data)
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
            if tags:
                self._write_tags(db, record.id, record.type, record.region, tags)
                self._bump_family(db, TAGS_GENERATION)
            self._meter(record.id, record.type, record.region, record.state, record.data, None)
            self._bump(db, record.type)
        return record

    # -- generations: what read caches check -----------------------------------------------------
    def generation(self, family: str) -> int | None:
        """A counter that every committed write of a record (or its tags) of ``family``'s types
        (:data:`GENERATION_FAMILIES`) bumps in that write's transaction, by this connection or
        another process's: what a read cache of such records checks before trusting an entry (read
        it before the data). Writes of other types leave it alone, so a busy ec2d (instances
        moving, the reconciler's heartbeat) does not empty an IAM cache. None inside an open
        transaction, whose writes may still be rolled back."""
        found = self.generations(family)
        return found[0] if found is not None else None

    def generations(self, *families: str) -> tuple[int, ...] | None:
        """:meth:`generation` of each family, in one read (``"tags"``: :data:`TAGS_GENERATION`);
        no read of them while no connection has committed since the last one (`_commits_seen`)."""
        with self._lock:  # no _translated(): on the hot path of every request
            if self._db.in_transaction:
                return None
            seen = self._commits_seen()  # before the read: a commit after it only costs a read
            kept = self._generations_seen.get(families)
            if kept is not None and kept[0] == seen:
                return kept[1]
            query = _GENERATIONS_SQL.get(families)
            if query is None:
                query = _GENERATIONS_SQL[families] = (
                    "SELECT " + ", ".join(["COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE key = ?), 0)"]
                                          * len(families)), tuple(f"generation.{f}" for f in families))
            found = tuple(self._db.execute(*query).fetchone())
            self._generations_seen[families] = (seen, found)
            return found

    def own_bumps(self, family: str) -> int:
        """How many writes of ``family`` (:data:`GENERATION_FAMILIES`, :data:`TAGS_GENERATION`) this
        Store object has begun, read without the store's lock: the stamp of a cache on a path that
        must never wait for the store (the metadata service's credential leaves). It misses what
        other processes write (:meth:`generation` sees those), and counts a write when it is made,
        before its commit (a rolled-back one too), so an entry stamped with it before its reads is
        never older than its stamp."""
        return self._own_bumps.get(family, 0)

    def _commits_seen(self) -> tuple[int, int]:
        """What changes with every commit: SQLite's ``data_version`` (commits by other connections,
        of any process) and this connection's own row changes. Asked of SQLite, not read from the
        ``-shm`` file: a descriptor of ours on that file, once closed, would drop the locks SQLite
        holds there for the whole process (POSIX locks), and the next process to open the
        database would reset the wal-index under this one's map (SIGBUS)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._db.total_changes

    def _bump(self, db: sqlite3.Connection, rtype: str | None) -> None:
        for family, prefix in GENERATION_FAMILIES.items():
            if rtype is not None and rtype.startswith(prefix):
                self._bump_family(db, family)

    def _bump_family(self, db: sqlite3.Connection, family: str) -> None:
        self._own_bumps[family] = self._own_bumps.get(family, 0) + 1  # under the store's lock
        db.execute("INSERT INTO settings (key, value) VALUES (?, '1') ON CONFLICT (key)"
                   " DO UPDATE SET value = CAST(value AS INTEGER) + 1", (f"generation.{family}",))

    def _type_of(self, db: sqlite3.Connection, resource_id: str) -> str | None:
        row = db.execute("SELECT type FROM resources WHERE id = ?", (resource_id,)).fetchone()
        return str(row[0]) if row is not None else None

    def get(self, resource_id: str, type: str | None = None) -> Record | None:
        with self._lock, self._translated():
            row = self._db.execute("SELECT * FROM resources WHERE id = ?", (resource_id,)).fetchone()
        if row is None or (type is not None and row["type"] != type):
            return None
        return _row(row)

    def list(self, type: str, region: str | None = None, ids: Iterable[str] | None = None,
             narrow: Narrowing | None = None) -> list[Record]:
        """The records of ``type`` (in ``region``; of ``ids``; kept by ``narrow``: a Describe's
        filters asked of SQLite, ``domain/narrowing.py``), oldest first."""
        order = reads.OLDEST_FIRST if narrow is None or not narrow.fields else reads.OLDEST_FIRST_NARROWED
        if ids is None:
            return self._read(type, region, None, narrow, order)
        wanted = list(ids)
        if len(wanted) <= IDS_PER_READ:
            return self._read(type, region, wanted, narrow, order)
        # SQLite bounds the variables of one statement: read in parts, sorted once here (each
        # part's ORDER BY would sort its thousands of whole rows in a temporary B-tree)
        parts = [self._read(type, region, wanted[at:at + IDS_PER_READ], narrow, "")
                 for at in range(0, len(wanted), IDS_PER_READ)]
        return sorted((r for part in parts for r in part), key=lambda r: (r.created_at, r.id))

    def _read(self, type: str, region: str | None, ids: list[str] | None, narrow: Narrowing | None,
              order: str) -> list[Record]:
        # by ids or tags: read by id (``+``: not the type's index, whose every row would be read)
        by_id = "+" if ids is not None or (narrow is not None and narrow.tagged) else ""
        sql = f"SELECT * FROM resources WHERE {by_id}type = ?"
        args: list[Any] = [type]
        if region is not None:
            sql += f" AND {by_id}region = ?"
            args.append(region)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            args.extend(ids)
        if narrow:
            more, more_args = reads.narrowed(type, narrow)
            sql += more
            args.extend(more_args)
        with self._lock, self._translated():
            rows = self._db.execute(sql + order, args).fetchall()
        return [_row(r) for r in rows]

    def fields(self, type: str, names: Iterable[str], region: str | None = None,
               where: tuple[str, str] | None = None) -> list[tuple[Any, ...]]:
        """``(id, state, *values)`` of every record of ``type`` (in ``region``; whose field ``where[0]``
        equals ``where[1]``), the values being the records' top-level JSON fields ``names``
        (:data:`FIELD_NAMES`; arrays and objects as JSON text), read by SQLite without decoding the
        documents in Python (a match on an indexed field reads the index), in no particular order."""
        names = list(names)
        for name in [*names, *([where[0]] if where else [])]:
            if name not in FIELD_NAMES:
                raise ValueError(f"not a selectable field: {name!r}")
        columns = "".join(f", json_extract(data, '$.{n}')" for n in names)
        sql = f"SELECT id, state{columns} FROM resources WHERE type = ?"
        args: list[Any] = [type]
        if region is not None:
            sql += " AND region = ?"
            args.append(region)
        if where is not None:
            sql += f" AND json_extract(data, '$.{where[0]}') = ?"
            args.append(where[1])
        with self._lock, self._translated():
            return [tuple(r) for r in self._db.execute(sql, args).fetchall()]

    def field_values(self, type: str, name: str, region: str) -> list[Any]:
        """:func:`reads.field_values`: a field's values, from its expression index alone."""
        with self._lock, self._translated():
            return reads.field_values(self._db, type, name, region)

    def count_by(self, type: str, name: str, region: str | None = None, *, states: Iterable[str] | None = None,
                 skip_states: Iterable[str] = (), skip_ids: Iterable[str] = ()) -> list[tuple[Any, int]]:
        """:func:`reads.count_by`: capacity admission's totals, from the totals the triggers keep."""
        with self._lock, self._translated():
            return reads.count_by(self._db, type, name, region, states, skip_states, skip_ids, IDS_PER_READ)

    def list_where(self, type: str, region: str, field: str, value: str) -> list[Record]:
        """:meth:`list` of the records whose top-level ``field`` (:data:`FIELD_NAMES`) equals ``value``."""
        if field not in FIELD_NAMES:
            raise ValueError(f"not a selectable field: {field!r}")
        with self._lock, self._translated():
            rows = self._db.execute(
                f"SELECT * FROM resources WHERE type = ? AND region = ? AND json_extract(data, '$.{field}') = ?"
                + reads.OLDEST_FIRST_NARROWED, (type, region, value)).fetchall()
        return [_row(r) for r in rows]

    def find_by_field(self, type: str, region: str, field: str, value: str) -> list[Record]:
        """Records whose top-level JSON ``field`` equals ``value`` (e.g. a key pair by name)."""
        with self._lock, self._translated():
            rows = self._db.execute(
                "SELECT * FROM resources WHERE type = ? AND region = ? AND json_extract(data, ?) = ?"
                + reads.OLDEST_FIRST,
                (type, region, f"$.{field}", value),
            ).fetchall()
        return [_row(r) for r in rows]

    def update(self, record: Record) -> Record:
        """Write ``record.data`` (not its state) if nobody changed the row since it was read."""
        if self.check_records:
            records.check(record.type, record.data)
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
            if record.type in billing.METERED_TYPES:
                state = db.execute("SELECT state FROM resources WHERE id = ?", (record.id,)).fetchone()["state"]
                self._meter(record.id, record.type, record.region, state, record.data, None)
            self._bump(db, record.type)
        record.version += 1
        record.updated_at = now
        return record

    def transition(
        self,
        resource_id: str,
        expected: str | Iterable[str],
        new_state: str,
        changes: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> Record:
        """Compare-and-swap the state: move to ``new_state`` only from one of ``expected``, and only
        along an edge of the resource's lifecycle (``domain/lifecycle.py``; ``IllegalTransition``).
        ``at``: when the move really happened, for the usage ledger (default now; the reconciler
        passes the time libvirt saw a domain stop)."""
        wanted = [expected] if isinstance(expected, str) else list(expected)
        with self.transaction():
            current = self.get(resource_id)
            if current is None or current.state not in wanted:
                raise StateConflict(resource_id, wanted, current.state if current else None)
            lifecycle.check_move(current.type, current.state, new_state)
            if changes:
                current.data.update(changes)
            if self.check_records:
                records.check(current.type, current.data)
            now = time.time()
            self._db.execute(
                "UPDATE resources SET state = ?, data = ?, updated_at = ?, version = version + 1"
                " WHERE id = ? AND version = ?",
                (new_state, json.dumps(current.data), now, resource_id, current.version),
            )
            self._meter(resource_id, current.type, current.region, new_state, current.data, at)
            self._bump(self._db, current.type)
            current.state = new_state
            current.version += 1
            current.updated_at = now
            return current

    def delete(self, resource_id: str) -> bool:
        with self.transaction() as db:
            self._bump(db, self._type_of(db, resource_id))
            self._bump_family(db, TAGS_GENERATION)
            db.execute("DELETE FROM tags WHERE resource_id = ?", (resource_id,))
            ledger.sync(db, resource_id, "", "", [], self.clock())  # whatever it accrued ends
            cur = db.execute("DELETE FROM resources WHERE id = ?", (resource_id,))
            return cur.rowcount == 1

    # -- tags -----------------------------------------------------------------------------------
    # a resource's usage continues under its new tags from the change on (``ledger.retag``)
    def set_tags(self, resource_id: str, resource_type: str, region: str, tags: Mapping[str, str]) -> None:
        with self.transaction() as db:
            self._write_tags(db, resource_id, resource_type, region, tags)
            ledger.retag(db, resource_id, self.clock())
            self._bump(db, resource_type)
            self._bump_family(db, TAGS_GENERATION)

    @staticmethod
    def _write_tags(db: sqlite3.Connection, resource_id: str, resource_type: str, region: str,
                    tags: Mapping[str, str]) -> None:
        db.executemany(
            "INSERT INTO tags (resource_id, key, value, resource_type, region) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (resource_id, key) DO UPDATE SET value = excluded.value",
            [(resource_id, k, v, resource_type, region) for k, v in tags.items()],
        )

    def delete_tags(self, resource_id: str, tags: Mapping[str, str | None] | None = None) -> None:
        """Delete all tags, or the given keys (a value, when given, must match as well)."""
        with self.transaction() as db:
            self._delete_tags(db, resource_id, tags)
            ledger.retag(db, resource_id, self.clock())
            self._bump(db, self._type_of(db, resource_id))
            self._bump_family(db, TAGS_GENERATION)

    @staticmethod
    def _delete_tags(db: sqlite3.Connection, resource_id: str, tags: Mapping[str, str | None] | None) -> None:
        if tags is None:
            db.execute("DELETE FROM tags WHERE resource_id = ?", (resource_id,))
        else:
            for key, value in tags.items():
                if value is None:
                    db.execute("DELETE FROM tags WHERE resource_id = ? AND key = ?", (resource_id, key))
                else:
                    db.execute(
                        "DELETE FROM tags WHERE resource_id = ? AND key = ? AND value = ?",
                        (resource_id, key, value),
                    )

    def tags_of(self, resource_id: str) -> dict[str, str]:
        with self._lock, self._translated():
            return reads.tags_of(self._db, resource_id)

    def tags_by_resource(self, resource_type: str, region: str,
                         ids: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
        """All tags of one resource type in a region (of ``ids`` only: a read of those resources'
        rows), grouped by resource id (one query)."""
        with self._lock, self._translated():
            return reads.tags_by_resource(self._db, resource_type, region, ids)

    def all_tags(self, region: str, resource_ids: Iterable[str] | None = None,
                 keys: Iterable[str] | None = None) -> list[tuple[str, str, str, str]]:
        """(resource_id, resource_type, key, value) for every tag in the region (of ``resource_ids``,
        with one of ``keys``: an index read), sorted."""
        with self._lock, self._translated():
            return reads.all_tags(self._db, region, resource_ids, keys)

    # -- settings -------------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        with self._lock, self._translated():
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
