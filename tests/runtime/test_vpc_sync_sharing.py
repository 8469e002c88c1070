"""Syncs of one VPC asked while another runs share the next one (runtime/vpc.VpcNetworks.sync):
every ask is covered by a sync whose store read came after it, and no more syncs run than needed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from orchestrator.runtime.jobs import Jobs
from orchestrator.runtime.vpc import VpcNetworks


def networks(store: dict[str, int], reads: list[int], fail: set[int] | None = None) -> VpcNetworks:
    """A VpcNetworks whose one sync reads ``store['v']`` (the 'view') and then takes a while."""
    nets = VpcNetworks(SimpleNamespace(jobs=Jobs()))  # type: ignore[arg-type]

    async def one_sync(region: str, vpc_id: str) -> list:
        reads.append(store["v"])  # read before any await, as _sync's read_view
        await asyncio.sleep(0.01)
        if fail and len(reads) in fail:
            raise RuntimeError("sync failed")
        return []
    nets._sync = one_sync  # type: ignore[method-assign]
    return nets


def test_asks_during_a_sync_share_the_next_one_and_each_sees_its_write() -> None:
    store, reads = {"v": 0}, []
    nets = networks(store, reads)
    seen: dict[int, int] = {}

    async def writer(n: int) -> None:
        store["v"] = n  # the caller's write, then its ask
        await nets.sync("r", "vpc-1")
        seen[n] = reads[-1]  # the last completed read when this ask returned

    async def go() -> None:
        first = asyncio.create_task(writer(1))
        await asyncio.sleep(0)  # the first sync has read and holds the lock
        await asyncio.gather(first, *(writer(n) for n in range(2, 101)))

    asyncio.run(go())
    assert reads == [1, 100]  # 100 asks: the running sync, then one sync for the 99 that waited
    assert all(seen[n] >= n for n in seen)  # every ask returned after a read that saw its write


def test_a_failed_sync_covers_nobody() -> None:
    store, reads = {"v": 0}, []
    nets = networks(store, reads, fail={2})
    done: list[int] = []

    async def writer(n: int) -> None:
        store["v"] = n
        try:
            await nets.sync("r", "vpc-1")
            done.append(n)
        except RuntimeError:
            pass

    async def go() -> None:
        first = asyncio.create_task(writer(1))
        await asyncio.sleep(0)
        await asyncio.gather(first, *(writer(n) for n in range(2, 6)))

    asyncio.run(go())
    # the second sync (for asks 2-5) failed: its caller gets the error, the others sync again
    assert reads[:2] == [1, 5] and len(reads) == 3 and reads[2] == 5
    assert sorted(done) == [1, 3, 4, 5]
