"""`Store.generations` answers from the wal-index header while no connection has committed, and
reads again after any commit: by this connection, another connection, another process (a raw
``sqlite3`` writer that knows nothing of ec2d), or a checkpoint that restarts the log."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.store import wal_index
from orchestrator.store.sqlite import TAGS_GENERATION, Record, Store


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db", check_records=False)
    yield s
    s.close()


def _reads(store: Store) -> list[str]:
    """The statements the store's connection runs from now on."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
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


def test_without_a_wal_index_every_call_reads(tmp_path: Path) -> None:
    memory = Store(":memory:", check_records=False)
    try:
        assert memory._wal_index is None
        seen = _reads(memory)
        memory.generations("iam")
        memory.generations("iam")
        assert len(seen) == 2
    finally:
        memory.close()


def test_a_file_that_is_not_a_wal_index_is_not_used(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    Path(str(db) + "-shm").write_bytes(b"\0" * 32768)  # no version, not initialized
    assert wal_index.open_index(str(db)) is None
    Path(str(db) + "-shm").write_bytes(b"\1" * 10)  # shorter than the header
    assert wal_index.open_index(str(db)) is None
    assert wal_index.open_index(str(tmp_path / "none.db")) is None

