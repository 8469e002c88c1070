"""Crash benchmark: ``kill -9`` a real ``ec2d serve`` during concurrent RunInstances, restart it,
and count what became of the instances and what was left on the host.

    PYTHONPATH=. .venv/bin/python bench/crash.py [--runs 3] [--instances 6] [--points before-domain,...]

Per kill point (observed on the host, not timed: right after RunInstances answered / once the
first domain exists / once the first tap is in its VPC) and run: a fresh ec2d (own data dir,
``ec2dt<hex>`` prefix) launches N instances at once, is killed, restarted, and waited for until
every instance is running or terminated ("settle", from the restart). Every running instance is
logged into over SSH; orphans are host objects no instance or volume accounts for (domains,
volume files, taps, DHCP leases, nft anti-spoofing elements) plus what a running instance lacks
("missing"), counted after settling and again after terminating everything. The harness is
tests/faults/daemon.py, as in tests/faults/test_crash.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "faults"))

from daemon import KILL_POINTS, crash_once  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--instances", type=int, default=6)
    ap.add_argument("--points", default=",".join(KILL_POINTS))
    args = ap.parse_args()
    points = [p for p in args.points.split(",") if p]
    rows: dict[str, list[dict]] = {p: [] for p in points}
    for run in range(1, args.runs + 1):
        for point in points:
            with tempfile.TemporaryDirectory(prefix="ec2d-crash-") as tmp:
                r = crash_once(Path(tmp) / "data", point, args.instances)
            rows[point].append(r)
            orphans = sum(len(v) for v in r["orphans"].values()) + sum(len(v) for v in r["orphans_after_terminate"].values())
            ok = sum(1 for iid, got in r["logins"].items() if got == iid)
            print(f"run {run} {point:14s} at kill: {r['seen_at_kill']}  running {r['running']} (ssh ok {ok}) "
                  f"terminated {r['terminated']} {r['reasons']}  orphans {orphans}  settle {r['settle_s']:.1f}s",
                  flush=True)

    kinds = ["domains", "disks", "taps", "leases", "nft", "missing"]
    print(f"\nkill -9 during {args.instances} concurrent RunInstances, {args.runs} runs per point "
          "(sums over the runs; orphans after settling / after terminating all)")
    head = f"{'kill point':14s} {'running':>7s} {'ssh ok':>6s} {'termin.':>7s} " + " ".join(
        f"{k:>9s}" for k in kinds) + f" {'settle p50 (min-max) s':>24s}"
    print(head)
    print("-" * len(head))
    for point, rs in rows.items():
        if not rs:
            continue
        running = sum(r["running"] for r in rs)
        ssh_ok = sum(1 for r in rs for iid, got in r["logins"].items() if got == iid)
        term = sum(r["terminated"] for r in rs)
        cells = " ".join(f"{sum(len(r['orphans'][k]) for r in rs):>4d}/{sum(len(r['orphans_after_terminate'][k]) for r in rs):<4d}"
                         for k in kinds)
        settle = [r["settle_s"] for r in rs]
        print(f"{point:14s} {running:7d} {ssh_ok:6d} {term:7d} {cells} "
              f"{statistics.median(settle):>10.1f} ({min(settle):.1f}-{max(settle):.1f})")
    # the promise: every instance settles running-and-reachable or terminated, and nothing is orphaned
    failed = [(p, r) for p, rs in rows.items() for r in rs
              if r["running"] + r["terminated"] != args.instances
              or sum(1 for iid, got in r["logins"].items() if got == iid) != r["running"]
              or any(r["orphans"].values()) or any(r["orphans_after_terminate"].values())]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
