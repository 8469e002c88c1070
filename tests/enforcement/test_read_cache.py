"""The read cache IAM enforcement keeps keys and policies in: an entry holds only while the store is
unchanged, whether the write comes from this connection or another process's."""

from __future__ import annotations

from pathlib import Path

from orchestrator.services.iam.read_cache import StampCache
from orchestrator.store.sqlite import Record, Store


def _vpc(rid: str) -> Record:
    return Record(id=rid, type="vpc", region="us-east-1", state="available",
                  data={"CidrBlock": "10.0.0.0/16", "IsDefault": False})


def test_entries_hold_until_any_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db", check_records=False)
    other = Store(tmp_path / "state.db", check_records=False)  # as another process would
    cache: StampCache[int] = StampCache()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get(store, "k", compute) == 1
    assert cache.get(store, "k", compute) == 1  # unchanged store: a hit
    store.insert(_vpc("vpc-00000000000000001"))
    assert cache.get(store, "k", compute) == 2  # this connection wrote
    assert cache.get(store, "k", compute) == 2
    other.insert(_vpc("vpc-00000000000000002"))
    assert cache.get(store, "k", compute) == 3  # another connection wrote
    with store.transaction():
        assert store.change_stamp() is None  # uncommitted writes may roll back: never cached
        assert cache.get(store, "k", compute) == 4
    other.close()
    store.close()
