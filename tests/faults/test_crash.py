"""``kill -9`` a real ``ec2d serve`` during concurrent RunInstances, once per kill point
(observed on the host: right after the call, once a domain exists, once a tap is in its VPC),
then restart it: every instance ends ``running`` and reachable by SSH, or ``terminated`` with a
reason, and no domain, disk, tap, lease or nft element is left that ec2d does not account for.
bench/crash.py repeats this and prints the table.

At most 4 guests at once on the shared CI machine (EC2DT_CRASH_INSTANCES overrides; the bench
runs 6)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import KILL_POINTS, crash_once  # noqa: E402

COUNT = int(os.environ.get("EC2DT_CRASH_INSTANCES", "4"))
EMPTY = {"domains": [], "disks": [], "taps": [], "leases": [], "nft": [], "missing": []}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill9_during_run_instances(tmp_path: Path, point: str) -> None:
    r = crash_once(tmp_path / "data", point, COUNT)
    print(r)
    assert r["count"] == COUNT
    assert r["running"] + r["terminated"] == COUNT
    assert all(code for code in r["reasons"]), r["reasons"]  # a terminated one says why
    assert all(got == iid for iid, got in r["logins"].items()), r["logins"]  # SSH into each running one
    assert r["orphans"] == EMPTY, r["orphans"]
    assert r["orphans_after_terminate"] == EMPTY, r["orphans_after_terminate"]
