"""A read cache of what IAM records say (an access key's caller, a caller's policies), whose entries
hold only while no IAM record changed (`Store.generation("iam")`: every write of an ``iam-*``
record or its tags bumps it, whether from this connection or another process's), so a cached key
or policy set is never staler than the database, and writes of instances, volumes or the
reconciler's heartbeat do not empty it. It saves the per-request reads and decryption of an IAM
caller's key and policies (``bench/authz.py``), which otherwise cost several times the policy
evaluation itself."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from orchestrator.store.sqlite import Store

T = TypeVar("T")
MAX_ENTRIES = 4096


class StampCache(Generic[T]):
    def __init__(self) -> None:
        self._by_store: weakref.WeakKeyDictionary[Store, dict[Hashable, tuple[int, T]]] = \
            weakref.WeakKeyDictionary()

    def get(self, store: Store, key: Hashable, compute: Callable[[], T]) -> T:
        stamp = store.generation("iam")  # before the reads `compute` makes: a write between them only misses
        if stamp is None:
            return compute()
        entries = self._by_store.setdefault(store, {})
        hit = entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = compute()
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = (stamp, value)
        return value
