"""Cost Explorer read latency over a generated usage ledger: GetCostAndUsage at 10,000 and 100,000
intervals, p50 per request shape, and the growth ratio.

    .venv/bin/python bench/ce.py [--sizes 10000,100000] [--repeat 15] [--dir /var/tmp]

The ledger is written straight into a fresh data dir's ``usage_ledger`` (the table the store
appends to; its hourly and daily roll-ups rebuilt from it, as the store keeps them when
intervals close): a month of intervals for 2,000 resources, in the mix a busy ec2d makes (instance
runs of a minute to six hours, volumes and their resizes, public IPv4 addresses, snapshots), some
still open; three resources in four tagged with a team and a Name of their own. Each request goes through ``services/cost_explorer.cost_and_usage`` (what the handler
calls: parsing, the ledger query, pricing, the response dict), not through HTTP, so the figure is
ec2d's own cost and not the client's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.config import Config
from orchestrator.domain import billing
from orchestrator.services import cost_explorer
from orchestrator.services.backend import Backend
from orchestrator.store import ledger

RESOURCES = 2000
MONTH = 30 * 86400
INSTANCE_TYPES = ("t3.micro", "t3.small", "m5.large", "c5.xlarge", "t2.nano")
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _row(rng: random.Random, n: int, now: float) -> tuple[Any, ...]:
    rid_n = n % RESOURCES
    pick = rng.random()
    start = now - MONTH + rng.random() * (MONTH - 60)
    length = rng.uniform(60, 6 * 3600)
    end: float | None = min(start + length, now)
    if rng.random() < 0.02:
        end = None  # still open
    zone = ZONES[rid_n % 3]
    if pick < 0.6:
        itype = INSTANCE_TYPES[rid_n % len(INSTANCE_TYPES)]
        m = billing.instance_meters("us-east-1", "running", {"InstanceType": itype, "AvailabilityZone": zone})[0]
        rid, rtype, minimum = f"i-{rid_n:017x}", "instance", 60.0
    elif pick < 0.85:
        m = billing.volume_meters("us-east-1", "in-use", {"VolumeType": ("gp3", "gp2")[rid_n % 2],
                                                          "Size": 8 + rid_n % 100, "AvailabilityZone": zone})[0]
        rid, rtype, minimum = f"vol-{rid_n:017x}", "volume", 60.0
    elif pick < 0.95:
        m = billing.address_meters("us-east-1", {"AssociationId": "x"} if rid_n % 3 else {}, None)[0]
        rid, rtype, minimum = f"eipalloc-{rid_n:017x}", "elastic-ip", 0.0
    else:
        m = billing.snapshot_meters("us-east-1", "completed", {"FullSnapshotSizeInBytes": (1 + rid_n % 50) << 30})[0]
        rid, rtype, minimum = f"snap-{rid_n:017x}", "snapshot", 0.0
    return (rid, rtype, "us-east-1", m.zone, m.kind, m.usage_type, m.service, m.service_code, m.unit,
            m.instance_type, m.quantity, minimum, start, end)


TEAMS = ("web", "data", "ml", "ops")


def fill(backend: Backend, count: int, now: float) -> None:
    """``count`` intervals; three resources in four carry tags (a team of four, and a Name of their
    own, as users tag instances), the rest none."""
    rng = random.Random(count)
    rows = [_row(rng, n, now) for n in range(count)]
    with backend.store.transaction() as db:
        tagged = sorted({(r[0], r[1]) for r in rows if int(r[0].split("-")[1], 16) % 4})
        db.executemany("INSERT INTO tags (resource_id, key, value, resource_type, region) VALUES (?, ?, ?, ?, ?)",
                       [(rid, k, v, rtype, "us-east-1") for rid, rtype in tagged
                        for k, v in (("team", TEAMS[int(rid.split("-")[1], 16) // 4 % 4]), ("Name", rid))])
        sets = {rid: ledger.tag_set(db, rid) for rid, _ in tagged}
        db.executemany("INSERT INTO usage_ledger (resource_id, resource_type, region, zone, kind, usage_type,"
                       " service, service_code, unit, instance_type, quantity, minimum, start_at, end_at, tag_set)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(*r, sets.get(r[0], 0)) for r in rows])
        ledger.rebuild_roll_ups(db)  # the roll-ups the store keeps as intervals close


def requests(now: float) -> dict[str, dict[str, Any]]:
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    month = {"Start": str(today - dt.timedelta(days=30)), "End": str(today + dt.timedelta(days=1))}
    return {
        "MONTHLY total": {"TimePeriod": month, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"]},
        "DAILY by SERVICE": {"TimePeriod": month, "Granularity": "DAILY", "Metrics": ["UnblendedCost", "UsageQuantity"],
                             "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]},
        "HOURLY, 14 days, by USAGE_TYPE": {
            "TimePeriod": {"Start": str(today - dt.timedelta(days=13)), "End": str(today + dt.timedelta(days=1))},
            "Granularity": "HOURLY", "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]},
        "DAILY by tag": {
            "TimePeriod": month, "Granularity": "DAILY", "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": "team"}]},
        "MONTHLY by SERVICE, tag filter": {
            "TimePeriod": month, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            "Filter": {"Tags": {"Key": "team", "Values": ["web", "ml"]}}},
        "HOURLY, 14 days, by tag": {
            "TimePeriod": {"Start": str(today - dt.timedelta(days=13)), "End": str(today + dt.timedelta(days=1))},
            "Granularity": "HOURLY", "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "TAG", "Key": "team"}]},
        "DAILY by USAGE_TYPE, filtered": {
            "TimePeriod": month, "Granularity": "DAILY", "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"Dimensions": {"Key": "AZ", "Values": ["us-east-1a", "us-east-1b"]}}},
    }


def measure(backend: Backend, req: dict[str, Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        cost_explorer.cost_and_usage(backend, req)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--dir", default="/var/tmp")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    now = time.time()
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        root = Path(tempfile.mkdtemp(prefix="ec2d-bench-ce-", dir=args.dir))
        try:
            backend = Backend.open(Config(data_dir=root, instances=False))
            fill(backend, size, now)
            results[size] = {name: measure(backend, req, args.repeat) for name, req in requests(now).items()}
            backend.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    names = list(requests(now))
    print(f"{'request':34}" + "".join(f"{f'p50 @ {s:,}':>16}" for s in sizes)
          + (f"{'ratio':>8}" if len(sizes) > 1 else ""))
    for name in names:
        cells = "".join(f"{results[s][name] * 1000:>13.1f} ms" for s in sizes)
        ratio = f"{results[sizes[-1]][name] / results[sizes[0]][name]:>7.1f}x" if len(sizes) > 1 else ""
        print(f"{name:34}{cells}{ratio}")


if __name__ == "__main__":
    main()
