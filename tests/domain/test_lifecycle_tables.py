"""Lifecycle tables: the store refuses every move (and every initial state) a table does not list."""

from __future__ import annotations

import json

import pytest
from record_samples import sample

from orchestrator.domain import lifecycle
from orchestrator.domain.lifecycle import IllegalTransition
from orchestrator.store.sqlite import Record, Store


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    yield s
    s.close()


def test_every_listed_move_is_applied_and_every_other_refused(store: Store) -> None:
    for rtype, lc in lifecycle.LIFECYCLES.items():
        states = set(lc.moves) | {t for ts in lc.moves.values() for t in ts}
        for current in sorted(states):
            for target in sorted(states):
                rid = f"x-{rtype}-{current}-{target}"
                store._db.execute(  # put a record straight into `current`, as an older ec2d may have
                    "INSERT INTO resources (id, type, region, state, data, created_at, updated_at, version)"
                    " VALUES (?, ?, 'r', ?, ?, 0, 0, 1)", (rid, rtype, current, json.dumps(sample(rtype))))
                if lc.allows(current, target):
                    assert store.transition(rid, current, target).state == target
                else:
                    with pytest.raises(IllegalTransition):
                        store.transition(rid, current, target)
                    assert store.get(rid).state == current


def test_insert_only_in_an_initial_state(store: Store) -> None:
    store.insert(Record(id="vol-1", type="volume", region="r", state="creating", data=sample("volume")))
    with pytest.raises(IllegalTransition):
        store.insert(Record(id="vol-2", type="volume", region="r", state="deleted", data=sample("volume")))
    with pytest.raises(IllegalTransition):
        store.insert(Record(id="q-1", type="no-such-resource", region="r", state="available"))
    assert store.get("vol-2") is None


def test_terminal_states_have_no_way_out() -> None:
    assert lifecycle.INSTANCE.moves["terminated"] == frozenset()
    assert lifecycle.IMAGE.moves["deregistered"] == frozenset()
    assert lifecycle.SNAPSHOT.moves["deleted"] == frozenset()


def test_attachment_moves() -> None:
    att = {"State": "attaching"}
    lifecycle.move_attachment(att, lifecycle.AttachmentState.ATTACHED)
    assert att["State"] == "attached"
    with pytest.raises(IllegalTransition):
        lifecycle.move_attachment(att, "attaching")
    assert att["State"] == "attached"
