"""IMDSv2 token store: binding, expiry and bounded memory."""

from __future__ import annotations

import pytest

from orchestrator.imds.tokens import TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_opaque_unique_and_bound_to_the_instance() -> None:
    store = TokenStore()
    a = store.issue("i-a", 60)
    b = store.issue("i-a", 60)
    assert a != b and len(a) >= 40 and "\n" not in a
    assert store.validate(a, "i-a")
    assert not store.validate(a, "i-b")
    assert not store.validate("forged", "i-a")


def test_ttl_bounds_and_expiry() -> None:
    clock = Clock()
    store = TokenStore(clock=clock)
    for bad in (0, 21601, -5):
        with pytest.raises(ValueError):
            store.issue("i-a", bad)
    short = store.issue("i-a", 1)
    long = store.issue("i-a", 21600)
    clock.now += 0.999
    assert store.validate(short, "i-a")
    clock.now += 0.001
    assert not store.validate(short, "i-a")
    assert store.validate(long, "i-a")
    clock.now += 21600
    assert not store.validate(long, "i-a")
    assert len(store) == 0


def test_memory_is_bounded_per_instance() -> None:
    clock = Clock()
    store = TokenStore(clock=clock, max_per_instance=10)
    tokens = [store.issue("i-a", 60) for _ in range(25)]
    assert len(store) == 10
    assert not store.validate(tokens[0], "i-a")  # oldest dropped
    assert all(store.validate(t, "i-a") for t in tokens[-10:])
    other = store.issue("i-b", 60)
    assert store.validate(other, "i-b")
    assert len(store) == 11


def test_expired_tokens_are_swept() -> None:
    clock = Clock()
    store = TokenStore(clock=clock, sweep_interval=60)
    for i in range(50):
        store.issue(f"i-{i}", 10)
    assert len(store) == 50
    clock.now += 61
    store.issue("i-new", 10)  # triggers the sweep
    assert len(store) == 1
    assert store.purge_expired() == 0


def test_forget_instance() -> None:
    store = TokenStore()
    a = store.issue("i-a", 60)
    b = store.issue("i-b", 60)
    store.forget_instance("i-a")
    assert not store.validate(a, "i-a")
    assert store.validate(b, "i-b")
    store.forget_instance("i-unknown")
