"""The read cache IAM enforcement keeps keys and policies in: an entry holds while no IAM record
changed (``Store.generation("iam")``), whether the IAM write comes from this connection or another
process's; writes of other records (instances, volumes, heartbeats) leave it alone."""

from __future__ import annotations

from pathlib import Path

from orchestrator.services.iam.read_cache import StampCache
from orchestrator.store.sqlite import Record, Store


def _vpc(rid: str) -> Record:
    return Record(id=rid, type="vpc", region="us-east-1", state="available",
                  data={"CidrBlock": "10.0.0.0/16", "IsDefault": False})


def _user(rid: str) -> Record:
    return Record(id=rid, type="iam-user", region="aws-global", state="available",
                  data={"UserName": rid.lower(), "Path": "/", "Arn": f"arn:aws:iam::123456789012:user/{rid.lower()}",
                        "CreateDate": "2026-11-30T00:00:00Z", "Tags": [], "InlinePolicies": {},
                        "AttachedPolicies": []})


def test_entries_hold_until_an_iam_write(tmp_path: Path) -> None:
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
    other.insert(_vpc("vpc-00000000000000002"))
    store.set_tags("vpc-00000000000000001", "vpc", "us-east-1", {"a": "b"})
    assert cache.get(store, "k", compute) == 1  # other records' writes: still a hit
    store.insert(_user("AIDAEXAMPLE1"))
    assert cache.get(store, "k", compute) == 2  # this connection wrote an IAM record
    assert cache.get(store, "k", compute) == 2
    other.set_tags("AIDAEXAMPLE1", "iam-user", "aws-global", {"team": "a"})
    assert cache.get(store, "k", compute) == 3  # another connection retagged it
    user = store.get("AIDAEXAMPLE1")
    assert user is not None
    store.update(user)
    assert cache.get(store, "k", compute) == 4
    other.delete_tags("AIDAEXAMPLE1", {"team": None})
    assert cache.get(store, "k", compute) == 5
    other.delete("AIDAEXAMPLE1")
    assert cache.get(store, "k", compute) == 6
    with store.transaction():
        assert store.generation("iam") is None  # uncommitted writes may roll back: never cached
        assert cache.get(store, "k", compute) == 7
    other.close()
    store.close()
