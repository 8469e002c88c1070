"""`Store.generations` answers without reading the settings again while no connection has
committed, and reads again after any commit: by this connection, another connection, another
process (a raw ``sqlite3`` writer that knows nothing of ec2d), or a checkpoint that restarts the
log. And the store never loses the locks SQLite holds on the ``-shm`` file (it opens no descriptor
of its own there), so another process opening the database cannot reset the wal-index under it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.store.sqlite import TAGS_GENERATION, Record, Store


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db", check_records=False)
    yield s
    s.close()


def _reads(store: Store) -> list[str]:
    """The reads (SELECTs) the store's connection runs from now on."""
    seen: list[str] = []
    store._db.set_trace_callback(lambda sql: seen.append(sql) if sql.lstrip().upper().startswith("SELECT") else None)
    return seen


def _vpc(rid: str) -> Record:
    return Record(id=rid, type="vpc", region="us-east-1", state="available",
                  data={"CidrBlock": "10.0.0.0/16", "IsDefault": False})


def test_no_query_while_nothing_was_committed(store: Store) -> None:
    first = store.generations("iam", TAGS_GENERATION)
    seen = _reads(store)
    for _ in range(5):
        assert store.generations("iam", TAGS_GENERATION) == first
    assert seen == []
    store.insert(_vpc("vpc-00000000000000001"), tags={"a": "b"})  # this connection commits
    seen.clear()
    assert store.generations("iam", TAGS_GENERATION) == (first[0], first[1] + 1)
    assert len(seen) == 1  # read again, once
    assert store.generations("iam", TAGS_GENERATION) == (first[0], first[1] + 1)
    assert len(seen) == 1


def test_a_commit_by_another_process_is_seen_on_the_next_call(store: Store) -> None:
    assert store.generations("iam") == (0,)
    assert store.generations("iam") == (0,)  # kept under the current header
    subprocess.run([sys.executable, "-c", (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute(\"INSERT INTO settings (key, value) VALUES ('generation.iam', '41')\"); db.close()"),
        store.path], check=True)
    assert store.generations("iam") == (41,)
    assert store.generation("iam") == 41


def test_a_commit_of_an_unrelated_table_only_costs_a_read(store: Store) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        before = store.generations("iam", TAGS_GENERATION)
        seen = _reads(store)
        other.execute("INSERT INTO settings (key, value) VALUES ('unrelated', 'x')")
        assert store.generations("iam", TAGS_GENERATION) == before
        assert len(seen) == 1
    finally:
        other.close()


def test_a_restarted_log_is_a_change(store: Store) -> None:
    """A full checkpoint then a write restarts the WAL from its first frame: the frame count can
    come back to what it was, the salts cannot."""
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        store.generations("iam")
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        other.execute("INSERT INTO settings (key, value) VALUES ('generation.iam', '3')")
        assert store.generations("iam") == (3,)
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        other.execute("UPDATE settings SET value = '4' WHERE key = 'generation.iam'")
        assert store.generations("iam") == (4,)
    finally:
        other.close()


def test_inside_a_transaction_there_is_no_answer(store: Store) -> None:
    store.generations("iam")
    with store.transaction():
        assert store.generations("iam") is None
        assert store.generation("iam") is None


def test_an_in_memory_store_caches_too() -> None:
    memory = Store(":memory:", check_records=False)
    try:
        seen = _reads(memory)
        first = memory.generations("iam")
        assert memory.generations("iam") == first and len(seen) == 1
        memory.insert(Record(id="iam-user-1", type="iam-user", region="global", state="available", data={}))
        memory.generations("iam")
        assert len(seen) == 2
    finally:
        memory.close()


# holds, from another process, SQLite's "dead man switch" byte of the -shm file (UNIX_SHM_DMS,
# offset 128): every process with the database open keeps a shared lock there, and the first to
# find it free resets (truncates) the wal-index
PROBE = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
         "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)\n    print('free')\n"
         "except OSError:\n    print('held')\n")


def test_the_store_keeps_sqlite_s_shared_memory_lock(store: Store) -> None:
    store.generations("iam")
    store.insert(_vpc("vpc-00000000000000002"))
    store.generations("iam", TAGS_GENERATION)
    out = subprocess.run([sys.executable, "-c", PROBE, store.path + "-shm"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "held"  # with a descriptor of the store's own closed on it, the lock was gone: "free"
