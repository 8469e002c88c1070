"""The SQLite store: compare-and-swap transitions, migrations, durability across reopen."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from record_samples import sample

from orchestrator.domain.states import INSTANCE_TRANSITIONS, VOLUME_TRANSITIONS
from orchestrator.store import schema
from orchestrator.store.sqlite import MIGRATIONS, Record, StateConflict, Store


def test_transition_is_compare_and_swap(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert(Record(id="i-00000001", type="instance", region="us-east-1", state="pending",
                        data=sample("instance", AmiLaunchIndex=1)))
    store.transition("i-00000001", "pending", "running")
    moved = store.transition("i-00000001", "running", "stopping", {"StateTransitionReason": "user"})
    assert (moved.state, moved.data) == ("stopping", sample("instance", AmiLaunchIndex=1, StateTransitionReason="user"))
    with pytest.raises(StateConflict) as info:
        store.transition("i-00000001", "running", "stopping")
    assert info.value.actual == "stopping"
    with pytest.raises(StateConflict):
        store.transition("i-missing", "running", "stopping")


def test_only_one_of_racing_transitions_wins(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert(Record(id="vol-00000001", type="volume", region="r", state="creating", data=sample("volume")))
    store.transition("vol-00000001", "creating", "available")
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            store.transition("vol-00000001", "available", "in-use", {"Size": n})
            wins.append(str(n))
        except StateConflict:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.get("vol-00000001").data == sample("volume", Size=int(wins[0]))


def test_update_refuses_stale_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert(Record(id="key-00000001", type="key-pair", region="r", state="available",
                        data=sample("key-pair", KeyName="1")))
    a, b = store.get("key-00000001"), store.get("key-00000001")
    a.data["KeyName"] = "2"
    store.update(a)
    b.data["KeyName"] = "3"
    with pytest.raises(StateConflict):
        store.update(b)
    assert store.get("key-00000001").data == sample("key-pair", KeyName="2")


def test_survives_reopen_and_records_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    store.insert(Record(id="key-00000002", type="key-pair", region="us-west-2", state="available",
                        data=sample("key-pair", KeyName="k")))
    store.set_tags("key-00000002", "key-pair", "us-west-2", {"Name": "x"})
    store.set_setting("answer", "42")
    store.close()
    again = Store(path)
    assert again.schema_version == len(MIGRATIONS)
    assert again.get("key-00000002").data == sample("key-pair", KeyName="k")
    assert again.tags_of("key-00000002") == {"Name": "x"}
    assert again.get_setting("answer") == "42"
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.insert(Record(id="key-00000003", type="key-pair", region="r", state="available",
                            data=sample("key-pair")))
        raise RuntimeError("boom")
    assert store.get("key-00000003") is None


def test_fields_and_list_where_read_json_fields_by_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", check_records=False)  # the fields read, not whole ENI records
    for n, (subnet, ip) in enumerate([("subnet-a", "10.0.0.4"), ("subnet-b", "10.0.1.4"), ("subnet-a", "10.0.0.5")]):
        store.insert(Record(id=f"eni-{n}", type="network-interface", region="r1", state="available", data={
            "SubnetId": subnet, "VpcId": "vpc-1", "PrivateIpAddress": ip, "SecondaryPrivateIps": ["10.9.9.9"] * n}))
    got = sorted(store.fields("network-interface", ("PrivateIpAddress", "SecondaryPrivateIps"), "r1",
                              where=("SubnetId", "subnet-a")))
    assert got == [("eni-0", "available", "10.0.0.4", "[]"), ("eni-2", "available", "10.0.0.5", '["10.9.9.9","10.9.9.9"]')]
    assert [r.id for r in store.list_where("network-interface", "r1", "SubnetId", "subnet-b")] == ["eni-1"]
    assert store.list_where("network-interface", "r2", "SubnetId", "subnet-b") == []
    with pytest.raises(ValueError):
        store.fields("network-interface", ("x') FROM resources; --",))
    plan = " ".join(str(row[-1]) for row in store._db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM resources WHERE type = 'instance' AND region = 'r1'"
        " AND json_extract(data, '$.VpcId') = 'vpc-1'").fetchall())
    assert "resources_vpc" in plan
    assert store.schema_version == len(MIGRATIONS)


def test_list_narrowed_count_by_and_tags_of_some(tmp_path: Path) -> None:
    """``list(narrow=...)`` keeps exactly the records with the tags, states and field values asked
    (oldest first, by the tags' (key, value) index), ``count_by`` totals a field in SQLite,
    ``tags_by_resource(ids=...)`` reads only those resources' tags (by their key)."""
    from orchestrator.domain.narrowing import Narrowing
    store = Store(tmp_path / "s.db", check_records=False)
    for n in range(12):
        store.insert(Record(id=f"i-{n:08x}", type="instance", region="r1", state="pending",
                            data={"InstanceType": ["t3.nano", "t3.micro", "t3.small"][n % 3]}),
                     {"group": f"g{n // 4}", "team": f"t{n % 2}"})
        if n % 5 == 0:
            store.transition(f"i-{n:08x}", "pending", "running")
    store.insert(Record(id="vol-00000001", type="volume", region="r1", state="creating", data={"Size": 3}),
                 {"group": "g0"})

    def ids(narrow: Narrowing) -> list[str]:
        return [r.id for r in store.list("instance", "r1", narrow=narrow)]
    assert ids(Narrowing(tagged=[("group", ["g1"])])) == ["i-00000004", "i-00000005", "i-00000006", "i-00000007"]
    assert ids(Narrowing(tagged=[("group", ["g0", "g2"]), ("team", ["t1"])])) == [
        "i-00000001", "i-00000003", "i-00000009", "i-0000000b"]
    assert ids(Narrowing(states=["running"])) == ["i-00000000", "i-00000005", "i-0000000a"]
    assert ids(Narrowing(states=["running"], fields={"InstanceType": ["t3.small"]})) == ["i-00000005"]
    assert ids(Narrowing(tagged=[("group", ["g9"])])) == []
    assert [r.id for r in store.list("volume", "r1", narrow=Narrowing(tagged=[("group", ["g0"])]))] == ["vol-00000001"]
    with pytest.raises(ValueError):
        store.list("instance", "r1", narrow=Narrowing(fields={"x') --": ["1"]}))
    plan = " ".join(str(row[-1]) for row in store._db.execute(
        "EXPLAIN QUERY PLAN SELECT resource_id FROM tags WHERE key = 'group' AND value IN ('g1')").fetchall())
    assert "tags_key_value" in plan

    assert sorted(store.count_by("instance", "InstanceType", "r1", states=["pending"])) == [
        ("t3.micro", 3), ("t3.nano", 3), ("t3.small", 3)]
    assert sorted(store.count_by("instance", "InstanceType", "r1", skip_states=["pending"],
                                 skip_ids=["i-00000000"])) == [("t3.micro", 1), ("t3.small", 1)]
    assert store.count_by("volume", "Size", "r1") == [(3, 1)] and store.count_by("volume", "Size", "r2") == []
    with pytest.raises(ValueError):
        store.count_by("volume", "Nope")
    with pytest.raises(ValueError):  # totals are kept of one field per type
        store.count_by("instance", "Size")
    some = store.tags_by_resource("instance", "r1", ["i-00000002", "i-00000009", "vol-00000001"])
    assert some == {"i-00000002": {"group": "g0", "team": "t0"}, "i-00000009": {"group": "g2", "team": "t1"}}
    assert store.tags_by_resource("instance", "r1", []) == {}
    assert len(store.tags_by_resource("instance", "r1")) == 12


def test_reads_by_id_use_the_ids_not_a_scan(tmp_path: Path) -> None:
    """Tag reads of a few resources, and a Describe narrowed by a tag, look those up by id (the
    plan SQLite picks: not the region's or type's index, whose every row would be read)."""
    from orchestrator.domain.narrowing import Narrowing
    store = Store(tmp_path / "s.db", check_records=False)
    store.insert(Record(id="i-00000001", type="instance", region="r1", state="pending", data={}), {"a": "1"})
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert store.all_tags("r1", ["i-00000001"]) == [("i-00000001", "instance", "a", "1")]
    assert store.tags_by_resource("instance", "r1", ["i-00000001"]) == {"i-00000001": {"a": "1"}}
    assert [r.id for r in store.list("instance", "r1", narrow=Narrowing(tagged=[("a", ["1"])]))] == ["i-00000001"]
    store._db.set_trace_callback(None)
    for sql in seen:
        plan = " ".join(str(row[-1]) for row in store._db.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
        assert "tags_region" not in plan and "resources_type_region" not in plan, (sql, plan)
        assert "sqlite_autoindex" in plan, (sql, plan)


def test_list_by_many_ids_reads_them_in_parts_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More ids than one statement may bind are read in parts; the answer is the same records,
    oldest first, as one read would give, sorted once (no part sorted by SQLite)."""
    from orchestrator.store import sqlite
    store = Store(tmp_path / "s.db", check_records=False)
    for n in range(7):
        store.insert(Record(id=f"eni-{n}", type="network-interface", region="r1", state="available", data={}))
    wanted = ["eni-6", "eni-0", "eni-3", "eni-9", "eni-5", "eni-1"]
    whole = [r.id for r in store.list("network-interface", "r1", wanted)]
    monkeypatch.setattr(sqlite, "IDS_PER_READ", 2)
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert [r.id for r in store.list("network-interface", "r1", wanted)] == whole == [
        "eni-0", "eni-1", "eni-3", "eni-5", "eni-6"]
    selects = [sql for sql in seen if sql.startswith("SELECT")]
    assert len(selects) == 3 and not any("ORDER BY" in sql for sql in selects), selects  # sorted once, here


def test_whole_table_reads_come_in_answer_order_from_an_index(tmp_path: Path) -> None:
    """A Describe of everything reads its rows in the order it answers them (a type's records oldest
    first, its tags by resource and key) from an index: SQLite sorts nothing in a temporary B-tree,
    and the tag read touches only the index."""
    store = Store(tmp_path / "s.db", check_records=False)
    for n in range(6):
        store.insert(Record(id=f"vol-{5 - n}", type="volume", region="r1", state="creating", data={}),
                     {"b": str(n), "a": str(n)})
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert [r.id for r in store.list("volume", "r1")] == [f"vol-{5 - n}" for n in range(6)]
    assert list(store.tags_by_resource("volume", "r1")) == [f"vol-{n}" for n in range(6)]
    assert list(store.tags_by_resource("volume", "r1")["vol-0"]) == ["a", "b"]
    store._db.set_trace_callback(None)
    plans = [_plan(store, sql) for sql in seen if sql.startswith("SELECT")]
    assert len(plans) == 3, seen
    for plan, index in zip(plans, ("resources_listing", "COVERING INDEX tags_listing",
                                   "COVERING INDEX tags_listing"), strict=True):
        assert index in plan and "TEMP B-TREE" not in plan, plans


def test_narrowed_reads_keep_their_narrowing_index(tmp_path: Path) -> None:
    """A read narrowed by an indexed field or a tag reads that index, not the whole type in answer
    order (SQLite has no statistics: a sort spared would otherwise win it over the narrowing index,
    and RunInstances' ClientToken check or a Describe's instance-type filter would read every record)."""
    from orchestrator.domain.narrowing import Narrowing
    store = Store(tmp_path / "s.db", check_records=False)
    for n in range(4):
        store.insert(Record(id=f"i-{n}", type="instance", region="r1", state="pending",
                            data={"ClientToken": f"t{n}", "InstanceType": "t3.micro", "VpcId": "vpc-1"}),
                     {"group": f"g{n % 2}"})
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert [r.id for r in store.list_where("instance", "r1", "ClientToken", "t2")] == ["i-2"]
    assert [r.id for r in store.list("instance", "r1", narrow=Narrowing(
        states=["pending"], fields={"InstanceType": ["t3.micro"]}))] == ["i-0", "i-1", "i-2", "i-3"]
    assert [r.id for r in store.list("instance", "r1", narrow=Narrowing(tagged=[("group", ["g1"])]))] == ["i-1", "i-3"]
    assert [t[0] for t in store.all_tags("r1", keys=["group"])] == ["i-0", "i-1", "i-2", "i-3"]
    store._db.set_trace_callback(None)
    plans = [_plan(store, sql) for sql in seen if sql.startswith("SELECT")]
    assert len(plans) == 4, seen
    for plan, index in zip(plans, ("resources_client_token", "resources_instance_type", "tags_key_value",
                                   "tags_region"), strict=True):
        assert index in plan and "listing" not in plan, plans


def _plan(store: Store, sql: str) -> str:
    return " / ".join(str(row[-1]) for row in store._db.execute("EXPLAIN QUERY PLAN " + sql).fetchall())


def _counted_by_scan(store: Store, type: str, name: str, region: str | None, states: list[str] | None,
                     skip_states: list[str], skip_ids: list[str]) -> list[tuple[object, int]]:
    """What ``count_by`` answers, counted over every record (the oracle)."""
    totals: dict[object, int] = {}
    for row in store._db.execute("SELECT id, region, state, data FROM resources WHERE type = ?", (type,)):
        if ((region is None or row["region"] == region) and (states is None or row["state"] in states)
                and row["state"] not in skip_states and row["id"] not in skip_ids):
            value = json.loads(row["data"]).get(name)
            totals[value] = totals.get(value, 0) + 1
    return sorted(totals.items(), key=repr)


def test_count_by_totals_follow_every_write(tmp_path: Path) -> None:
    """The totals the triggers keep equal a count over every record after any mix of inserts, state
    moves, field changes (a volume grown, an instance's type changed while stopped), moves that
    change both, writes rolled back and deletes; a skipped id is taken off only where it counted."""
    store = Store(tmp_path / "s.db", check_records=False)
    rng = random.Random(7)
    types, sizes = ["t3.nano", "t3.micro", "t3.small"], [1, 8, 100]
    live: dict[str, str] = {}  # id -> type
    moves = {"instance": {str(k): sorted(map(str, v)) for k, v in INSTANCE_TRANSITIONS.items()},
             "volume": {str(k): sorted(map(str, v)) for k, v in VOLUME_TRANSITIONS.items()}}
    for step in range(400):
        op = rng.random()
        if op < 0.3 or not live:
            n = len(live) + step * 1000
            if rng.random() < 0.5:
                rid = f"i-{n:08x}"
                data = {"InstanceType": rng.choice(types)} if rng.random() < 0.95 else {}
                store.insert(Record(id=rid, type="instance", region=rng.choice(["r1", "r2"]), state="pending",
                                    data=data))
            else:
                rid = f"vol-{n:08x}"
                store.insert(Record(id=rid, type="volume", region=rng.choice(["r1", "r2"]), state="creating",
                                    data={"Size": rng.choice(sizes)}))
            live[rid] = rid.split("-")[0]
            continue
        rid = rng.choice(sorted(live))
        record = store.get(rid)
        assert record is not None
        field, values = ("InstanceType", types) if record.type == "instance" else ("Size", sizes)
        if op < 0.6 and moves[record.type][record.state]:
            changes = {field: rng.choice(values)} if rng.random() < 0.3 else None
            store.transition(rid, record.state, rng.choice(moves[record.type][record.state]), changes)
        elif op < 0.75:
            record.data[field] = rng.choice(values)
            if rng.random() < 0.2:  # a write rolled back takes its totals with it
                with pytest.raises(RuntimeError), store.transaction():
                    store.update(record)
                    raise RuntimeError("the rest of the unit of work failed")
            else:
                store.update(record)
        elif op < 0.85:
            store.delete(rid)
            del live[rid]
        skip = rng.sample(sorted(live), min(len(live), rng.choice([0, 1, 3])))
        for type, name, states, skip_states in (
                ("instance", "InstanceType", ["pending", "running", "stopping", "shutting-down"], []),
                ("volume", "Size", None, ["deleted"]), ("instance", "InstanceType", None, [])):
            for region in ("r1", "r2", None):
                got = sorted(store.count_by(type, name, region, states=states, skip_states=skip_states,
                                            skip_ids=skip), key=repr)
                assert got == _counted_by_scan(store, type, name, region, states, skip_states, skip), (step, type)
    assert store.count_by("instance", "InstanceType") != []  # (the mix kept some of each)


def test_count_by_reads_a_few_totals_not_the_records(tmp_path: Path) -> None:
    """At 3,000 volumes, a count reads the totals table (and the skipped ids by key), not one
    record of the type."""
    store = Store(tmp_path / "s.db", check_records=False)
    with store.transaction():
        for n in range(3000):
            store.insert(Record(id=f"vol-{n:08x}", type="volume", region="r1", state="creating",
                                data={"Size": [1, 8][n % 2]}))
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    assert sorted(store.count_by("volume", "Size", "r1", skip_states=["deleted"], skip_ids=["vol-00000001"])) == [
        (1, 1500), (8, 1499)]
    store._db.set_trace_callback(None)
    plans = [_plan(store, sql) for sql in seen if sql.startswith("SELECT")]
    assert len(plans) == 2, seen
    assert "resource_totals" in plans[0] and "resources" not in plans[0].replace("resource_totals", ""), plans
    assert "USING INDEX sqlite_autoindex_resources_1 (id=?)" in plans[1], plans
    assert store._db.execute("SELECT COUNT(*) FROM resource_totals").fetchone()[0] == 2


def test_upgrading_a_data_dir_totals_what_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data dir made before the totals (migration 7) opens with the totals of the records it holds."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:6])
    old = Store(path, check_records=False)
    assert old.schema_version == 6
    for n in range(7):
        old.insert(Record(id=f"i-{n:08x}", type="instance", region="r1", state="pending",
                          data={"InstanceType": ["t3.nano", "t3.micro"][n % 2]}))
    old.transition("i-00000000", "pending", "running")
    old.insert(Record(id="vol-00000001", type="volume", region="r2", state="creating", data={"Size": 4}))
    old.close()
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS)
    store = Store(path, check_records=False)
    assert store.schema_version == len(MIGRATIONS) == 7
    assert sorted(store.count_by("instance", "InstanceType", "r1")) == [("t3.micro", 3), ("t3.nano", 4)]
    assert sorted(store.count_by("instance", "InstanceType", "r1", states=["running"])) == [("t3.nano", 1)]
    assert store.count_by("volume", "Size", "r2") == [(4, 1)]


def test_field_values_come_from_the_fields_index(tmp_path: Path) -> None:
    """``field_values`` gives the field's values in the region (none for records without it,
    repeats kept), read through the field's own expression index, and refuses a field no index holds."""
    store = Store(tmp_path / "s.db", check_records=False)
    for n, ip in enumerate(["203.0.113.5", None, "203.0.113.7", "203.0.113.5"]):
        store.insert(Record(id=f"i-{n:08x}", type="instance", region="r1", state="pending",
                            data={"AutoPublicIp": ip, "ClientToken": f"t{n}"}))
    store.insert(Record(id="i-00000009", type="instance", region="r2", state="pending",
                        data={"AutoPublicIp": "203.0.113.9"}))
    assert sorted(store.field_values("instance", "AutoPublicIp", "r1")) == ["203.0.113.5", "203.0.113.5",
                                                                            "203.0.113.7"]
    assert store.field_values("instance", "AutoPublicIp", "r2") == ["203.0.113.9"]
    assert store.field_values("volume", "AutoPublicIp", "r1") == []
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    store.field_values("instance", "AutoPublicIp", "r1")
    store._db.set_trace_callback(None)
    (sql,) = [s for s in seen if s.startswith("SELECT")]
    assert "USING INDEX resources_auto_public_ip" in _plan(store, sql)
    with pytest.raises(ValueError):
        store.field_values("instance", "PublicIp", "r1")
