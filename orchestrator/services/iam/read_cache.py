"""A read cache of what IAM records say (an access key's caller, a caller's policies), whose entries
hold only while no IAM record changed (`Store.generation("iam")`: every write of an ``iam-*``
record or its tags bumps it, whether from this connection or another process's), so a cached key
or policy set is never staler than the database, and writes of instances, volumes or the
reconciler's heartbeat do not empty it. It saves the per-request reads and decryption of an IAM
caller's key and policies (``bench/authz.py``), which otherwise cost several times the policy
evaluation itself. The same holds for resources' tags (``ec2:ResourceTag`` at the API edge) with
the ``tags`` generation, which every write of any resource's tags bumps (`StampCache(family=...)`).

A stamp may be read earlier and passed in: ``keystore.user_key`` reads both generations in one read
when it resolves a key, and the policy check of the same request reuses them
(`principals.Caller.generations`) instead of reading them again."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from orchestrator.store.sqlite import Store

T = TypeVar("T")
MAX_ENTRIES = 4096


class StampCache(Generic[T]):
    def __init__(self, family: str = "iam") -> None:
        self.family = family
        self._by_store: weakref.WeakKeyDictionary[Store, dict[Hashable, tuple[Hashable, T]]] = \
            weakref.WeakKeyDictionary()

    def get(self, store: Store, key: Hashable, compute: Callable[[], T], stamp: Hashable | None = None) -> T:
        """The entry for ``key`` made at ``stamp``, the family's generation (read now when not given:
        a caller may pass one it read earlier in the same request), else ``compute()`` kept under it. An
        entry is never older than its stamp: the stamp is read before the reads ``compute`` makes, so
        a write between them only costs a miss."""
        if stamp is None:
            stamp = store.generation(self.family)
        if stamp is None:
            return compute()
        entries = self._by_store.get(store)
        if entries is None:
            entries = self._by_store[store] = {}
        hit = entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = compute()
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = (stamp, value)
        return value
