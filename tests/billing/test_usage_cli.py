"""``ec2d usage``: the ledger as a table, per resource, service or usage type."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clock import Clock
from record_samples import sample

from orchestrator.cli import main as cli
from orchestrator.cli.usage import parse_since
from orchestrator.config import Config
from orchestrator.store.sqlite import Record, Store


def table(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> dict[str, list[str]]:
    with pytest.raises(SystemExit) as done:
        cli.main(["--data-dir", str(data), "usage", *args])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_a_stopped_instance_costs_nothing_its_volume_still_does(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(Config(data_dir=tmp_path).db_path)
    clock = Clock(time.time() - 7200)  # two hours ago; the open volume accrues up to the real now
    store.clock = clock
    store.insert(Record("i-1", "instance", "us-east-1", "pending", sample("instance")))
    store.transition("i-1", "pending", "running")
    store.insert(Record("vol-1", "volume", "us-east-1", "in-use", sample("volume", Size=8, VolumeType="gp3")))
    clock.advance(20)
    store.transition("i-1", "running", "stopping")
    store.transition("i-1", "stopping", "stopped")
    store.close()
    rows = table(capsys, tmp_path)
    instance, volume = rows["i-1"], rows["vol-1"]
    # columns counted from the end: ACCRUING, RUNNING, GiB-HOURS, IP-HOURS, COST
    assert instance[1] == "BoxUsage:t3.nano" and instance[-5:-1] == ["no", "0:01:00", "-", "-"]  # 20 s as 60
    assert float(instance[-1]) == pytest.approx(0.0052 / 60, abs=1e-6)
    assert volume[-5] == "yes" and float(volume[-3]) >= 8 * 2 - 0.01 and float(volume[-1]) > 0
    assert rows["TOTAL"][-4] == "0:01:00"
    by_service = table(capsys, tmp_path, "--by", "service")
    assert {"Amazon", "EC2", "TOTAL"} <= set(by_service)  # "Amazon Elastic Compute ...", "EC2 - Other"
    by_type = table(capsys, tmp_path, "--by", "type", "--since", "1h")
    assert set(by_type) == {"EBS:VolumeUsage.gp3", "TOTAL"}  # the instance ran more than an hour ago
    assert float(by_type["EBS:VolumeUsage.gp3"][-3]) == pytest.approx(8.0, abs=0.05)


def test_since_accepts_dates_and_ages() -> None:
    assert parse_since("2027-01-15", 0) == 1_800_000_000 - 8 * 3600
    assert parse_since("2027-01-15T08:00:00Z", 0) == 1_800_000_000
    assert parse_since("90m", 10_000) == 10_000 - 5400
    with pytest.raises(SystemExit):
        parse_since("yesterday", 0)
