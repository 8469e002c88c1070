"""The usage ledger in the store: intervals open and close in the transaction of the record change
(store/ledger.py, domain/billing.py), with an injected clock."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
from pathlib import Path

import pytest
from clock import Clock
from record_samples import sample

from orchestrator.domain import billing
from orchestrator.store import ledger, usage_reads
from orchestrator.store import sqlite as store_mod
from orchestrator.store.ledger import Interval
from orchestrator.store.sqlite import Record, Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(tmp_path / "state.db")
    s.clock = clock
    return s


def billed(store: Store, rid: str, kind: str | None = None) -> float:
    """Seconds billed for ``rid`` so far (each interval at least its minimum)."""
    now = store.now()
    return sum(i.billed_until(now) - i.start_at for i in store.usage_intervals(resource_id=rid)
               if kind is None or i.kind == kind)


def running(store: Store, rid: str) -> None:
    store.insert(Record(rid, "instance", "us-east-1", "pending", sample("instance")))
    store.transition(rid, "pending", "running")


def rows(store: Store, rid: str) -> list[Interval]:
    return store.usage_intervals(resource_id=rid)


def test_an_instance_bills_running_only_with_a_minimum_per_start(store: Store, clock: Clock) -> None:
    store.insert(Record("i-1", "instance", "us-east-1", "pending", sample("instance")))
    assert rows(store, "i-1") == []
    clock.advance(7)  # pending is not billed
    store.transition("i-1", "pending", "running")
    (open_,) = rows(store, "i-1")
    assert (open_.usage_type, open_.minimum, open_.end_at, open_.instance_type) == (
        "BoxUsage:t3.nano", 60.0, None, "t3.nano")
    clock.advance(20)
    assert billed(store, "i-1") == 60.0  # an open 20-second interval already bills the minimum
    store.transition("i-1", "running", "stopping")
    clock.advance(30)  # stopping and stopped are not billed
    store.transition("i-1", "stopping", "stopped")
    assert billed(store, "i-1") == 60.0
    store.transition("i-1", "stopped", "pending")
    store.transition("i-1", "pending", "running")
    clock.advance(125.5)
    store.transition("i-1", "running", "stopping")
    assert billed(store, "i-1") == 60.0 + 125.5  # a new start, its own minimum; longer runs exactly


def test_a_volume_bills_its_size_while_it_exists_and_a_resize_starts_no_new_minimum(
        store: Store, clock: Clock) -> None:
    store.insert(Record("vol-1", "volume", "us-west-2", "creating", sample("volume", Size=8, VolumeType="gp3")))
    store.transition("vol-1", "creating", "available")  # same meter: the interval stays open
    (first,) = rows(store, "vol-1")
    assert (first.usage_type, first.quantity, first.minimum, first.unit) == (
        "USW2-EBS:VolumeUsage.gp3", 8.0, 60.0, billing.UNIT_GIB_MONTH)
    clock.advance(100)
    rec = store.get("vol-1")
    assert rec is not None
    rec.data["Size"] = 20
    store.update(rec)
    clock.advance(10)
    store.delete("vol-1")
    a, b = rows(store, "vol-1")
    assert (a.quantity, a.end_at - a.start_at, b.quantity, b.minimum, b.end_at - b.start_at) == (
        8.0, 100.0, 20.0, 0.0, 10.0)
    assert all(i.end_at is not None for i in rows(store, "vol-1"))


def test_an_eip_on_a_stopped_instance_is_idle(store: Store, clock: Clock) -> None:
    running(store, "i-2")
    store.insert(Record("eipalloc-1", "elastic-ip", "us-east-1", "available", sample(
        "elastic-ip", AssociationId="eipassoc-1", InstanceId="i-2", NetworkInterfaceId="eni-1")))
    assert [i.usage_type for i in rows(store, "eipalloc-1")] == ["USE1-PublicIPv4:InUseAddress"]
    clock.advance(3600)
    store.transition("i-2", "running", "stopping")
    in_use, idle = rows(store, "eipalloc-1")
    assert (in_use.end_at, idle.usage_type, idle.end_at) == (clock.t, "USE1-PublicIPv4:IdleAddress", None)
    clock.advance(1800)
    assert billed(store, "eipalloc-1") == 5400.0  # held: billed whether in use or idle


def test_a_snapshot_bills_the_bytes_its_layer_keeps(store: Store, clock: Clock) -> None:
    store.insert(Record("snap-1", "snapshot", "us-east-1", "pending", sample("snapshot")))
    assert rows(store, "snap-1") == []
    store.transition("snap-1", "pending", "completed", {"FullSnapshotSizeInBytes": 3 * billing.GIB // 2})
    (i,) = rows(store, "snap-1")
    assert (i.usage_type, i.quantity, i.minimum) == ("EBS:SnapshotUsage", 1.5, 0.0)
    store.insert(Record("snap-2", "snapshot", "us-east-1", "pending", sample("snapshot", published=True)))
    store.transition("snap-2", "pending", "completed", {"FullSnapshotSizeInBytes": billing.GIB})
    assert rows(store, "snap-2") == []  # ec2d's own published image snapshots cost the account nothing


def test_a_move_closes_at_the_time_given_never_before_it_opened_nor_after_now(store: Store, clock: Clock) -> None:
    running(store, "i-3")
    start = clock.t
    clock.advance(600)
    store.transition("i-3", "running", "stopping", at=start + 200)
    (i,) = rows(store, "i-3")
    assert i.end_at == start + 200
    store.transition("i-3", "stopping", "stopped")
    store.transition("i-3", "stopped", "pending")
    store.transition("i-3", "pending", "running")
    store.transition("i-3", "running", "stopping", at=clock.t - 50)  # before it opened: closes at its start
    store.transition("i-3", "stopping", "stopped")
    store.transition("i-3", "stopped", "pending")
    store.transition("i-3", "pending", "running")
    store.transition("i-3", "running", "stopping", at=clock.t + 50)  # not in the future
    assert [r.end_at - r.start_at for r in rows(store, "i-3")] == [200.0, 0.0, 0.0]


def test_the_ledger_is_append_only(store: Store, clock: Clock) -> None:
    running(store, "i-4")
    store.transition("i-4", "running", "stopping")
    with store.transaction() as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM usage_ledger")
    with store.transaction() as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE usage_ledger SET end_at = end_at + 1")
    with store.transaction() as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE usage_ledger SET quantity = 2")
    assert len(rows(store, "i-4")) == 1


def test_a_failed_write_leaves_no_interval(store: Store, clock: Clock) -> None:
    store.insert(Record("i-5", "instance", "us-east-1", "pending", sample("instance")))
    with pytest.raises(RuntimeError), store.transaction():
        store.transition("i-5", "pending", "running")
        raise RuntimeError("the rest of the unit of work failed")
    assert rows(store, "i-5") == [] and store.get("i-5").state == "pending"  # type: ignore[union-attr]


def test_upgrading_a_data_dir_starts_the_meters_of_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    first = store_mod.MIGRATIONS[0]
    assert isinstance(first, str)
    db.executescript(first)
    db.execute("INSERT INTO resources (id, type, region, state, data, created_at, updated_at)"
               " VALUES ('vol-9', 'volume', 'us-east-1', 'available', ?, 1, 1)",
               (json.dumps(sample("volume", Size=5)),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == len(store_mod.MIGRATIONS)
    (i,) = store.usage_intervals(resource_id="vol-9")
    assert (i.quantity, i.end_at) == (5.0, None)


def _totals(sums: list[usage_reads.Sum]) -> dict[tuple[int, tuple[str, ...], str], float]:
    out: dict[tuple[int, tuple[str, ...], str], float] = {}
    for s in sums:
        key = (s.bucket, s.keys, s.usage_type)
        out[key] = out.get(key, 0.0) + s.quantity_seconds
    return {k: round(v, 6) for k, v in out.items() if round(v, 6)}


def test_the_hourly_roll_up_and_the_ledger_agree(store: Store, clock: Clock) -> None:
    """Dimension-only reads sum the roll-ups (+ open intervals); others read the intervals:
    both give the same figures, and rebuilding the roll-up from the ledger changes nothing."""
    rng = random.Random(7)
    for n in range(6):
        store.insert(Record(f"i-{n}", "instance", "us-east-1", "pending", sample("instance", InstanceType="t3.micro")))
        store.insert(Record(f"vol-{n}", "volume", "us-east-1", "creating", sample("volume", Size=1 + n)))
    for _ in range(150):
        clock.advance(rng.uniform(1, 5000))
        n = rng.randrange(6)
        if rng.random() < 0.2:  # a retag: the usage after it counts under the new value
            store.set_tags(f"i-{n}", "instance", "us-east-1", {"team": rng.choice("ab"), "Name": f"n{n}"})
        elif rng.random() < 0.05:
            store.delete_tags(f"i-{n}", {"team": None})
        rec = store.get(f"i-{n}")
        assert rec is not None
        moves = {"pending": "running", "running": "stopping", "stopping": "stopped", "stopped": "pending"}
        store.transition(rec.id, rec.state, moves[rec.state])
        vol = store.get(f"vol-{n}")
        assert vol is not None
        vol.data["Size"] += 1
        store.update(vol)
    day = 86400.0
    first = (clock.t - 150 * 5000) // day * day
    for edges, width in (([first + i * day for i in range(11)], day),
                         ([first + i * 3600 for i in range(24 * 10 + 1)], 3600.0),
                         ([first, first + 3 * day, first + 10 * day], None)):
        for groups in ([], [usage_reads.Group(column="usage_type")], [usage_reads.Group(column="zone"),
                                                                 usage_reads.Group(column="service")]):
            q = usage_reads.Query(edges, clock.t, width, usage_reads.Match("region", ("us-east-1",)), groups)
            with store.transaction() as db:
                fast = _totals(usage_reads.aggregate(db, q))
                slow = _totals(usage_reads._from_ledger(db, q))
                assert fast == slow and fast
                before = _totals(usage_reads._from_roll_ups(db, q))
                ledger.rebuild_roll_ups(db)
                assert _totals(usage_reads._from_roll_ups(db, q)) == before

    tagged = (([usage_reads.Group(tag="team")], None), ([usage_reads.Group(tag="team"), usage_reads.Group(column="usage_type")], None),
              ([usage_reads.Group(column="usage_type")], usage_reads.TagMatch("team", ("a",))),
              ([usage_reads.Group(tag="team")], usage_reads.Combine("AND", (usage_reads.TagMatch("team", ("B",), case_sensitive=False),
                                                                  usage_reads.Match("region", ("us-east-1",))))),
              ([], usage_reads.TagMatch("team", ("a",), absent=True)))
    for (groups, where), (edges, width) in itertools.product(tagged, (
            ([first + i * day for i in range(11)], day), ([first + i * 3600 for i in range(24 * 10 + 1)], 3600.0))):
        q = usage_reads.Query(edges, clock.t, width, where, groups)
        assert (usage_reads._by_one_tag(q) is None) == (isinstance(where, usage_reads.TagMatch) and where.absent)  # the path
        with store.transaction() as db:
            fast = _totals(usage_reads.aggregate(db, q))
            assert fast == _totals(usage_reads._from_ledger(db, q)) and fast, (groups, where)
    assert {k[1] for k in _totals(usage_reads.aggregate(store._db, usage_reads.Query(edges, clock.t, width, None, [
        usage_reads.Group(tag="team")])))} == {("a",), ("b",), ("",)}


def test_usage_keeps_the_tags_it_accrued_under(store: Store, clock: Clock) -> None:
    """A retag splits the usage at the change; a deleted resource's usage keeps its tags; tags
    given at creation count from the first second (no untagged sliver)."""
    store.insert(Record("vol-t", "volume", "us-east-1", "creating", sample("volume", Size=10)), {"team": "a"})
    clock.advance(1000)
    store.set_tags("vol-t", "volume", "us-east-1", {"team": "b"})
    clock.advance(500)
    store.delete("vol-t")
    day = clock.t // 86400 * 86400
    q = usage_reads.Query([day - 86400, day + 86400], clock.t, 86400.0, None, [usage_reads.Group(tag="team")])
    with store.transaction() as db:
        by_team = {s.keys: s.quantity_seconds for s in usage_reads.aggregate(db, q)}
    assert by_team == {("a",): 10 * 1000.0, ("b",): 10 * 500.0}
    assert [(i.start_at, i.end_at) for i in rows(store, "vol-t")] == [(clock.t - 1500, clock.t - 500),
                                                                       (clock.t - 500, clock.t)]


def test_a_change_in_the_first_minute_carries_the_rest_of_the_minimum(store: Store, clock: Clock) -> None:
    store.insert(Record("vol-m", "volume", "us-east-1", "creating", sample("volume", Size=8)))
    clock.advance(10)
    rec = store.get("vol-m")
    assert rec is not None
    rec.data["Size"] = 16
    store.update(rec)
    clock.advance(5)
    store.set_tags("vol-m", "volume", "us-east-1", {"team": "a"})
    clock.advance(20)
    store.delete("vol-m")  # 35 seconds in all: billed the minimum once, split where it ran
    spans = [(i.quantity, i.billed_until(clock.t) - i.start_at, i.minimum) for i in rows(store, "vol-m")]
    assert spans == [(8.0, 10.0, 10.0), (16.0, 5.0, 5.0), (16.0, 45.0, 45.0)]
    with store.transaction() as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE usage_ledger SET minimum = 0 WHERE resource_id = 'vol-m'")  # closed: no change


def test_provisioned_performance_meters() -> None:
    def named(vtype: str, iops: int, mibps: int = 0) -> dict[str, float]:
        return {usage: quantity for _, usage, _, quantity in billing.performance(vtype, iops, mibps)}
    assert named("gp3", 3000, 125) == {} and named("gp2", 9000) == {} and named("st1", 0, 500) == {}
    assert named("gp3", 3001, 1149) == {"EBS:VolumeP-IOPS.gp3": 1.0, "EBS:VolumeP-Throughput.gp3": 1.0}
    assert named("io1", 100) == {"EBS:VolumeP-IOPS.piops": 100.0}
    assert named("io2", 70000) == {"EBS:VolumeP-IOPS.io2": 32000.0, "EBS:VolumeP-IOPS.io2.tier2": 32000.0,
                                   "EBS:VolumeP-IOPS.io2.tier3": 6000.0}
    assert named("io2", 32000) == {"EBS:VolumeP-IOPS.io2": 32000.0}
    kinds = [m.kind for m in billing.volume_meters("us-west-2", "in-use", {
        "VolumeType": "io2", "Size": 100, "Iops": 70000, "AvailabilityZone": "us-west-2a"})]
    assert kinds == ["volume", "volume-iops", "volume-iops.tier2", "volume-iops.tier3"]  # one open interval each
    assert all(billing.starts_with_minimum(k) for k in kinds)
