"""Each data dir gets its own host-object prefix (kept in DATA_DIR/host-prefix); one daemon per data
dir (a lock file)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator import config as config_mod
from orchestrator.config import Config
from orchestrator.drivers.network.names import (
    GENERATED_ALPHABET,
    check_prefix,
    generated_prefix,
    prefix_of_netns,
    tap_tag,
)
from orchestrator.drivers.network.prefixes import free_prefix
from orchestrator.drivers.network.routes import metric_for_prefix
from orchestrator.hostscope import DataDirBusy, lock_data_dir, unlock_data_dir


def test_each_data_dir_gets_its_own_prefix_and_keeps_it(tmp_path: Path) -> None:
    a, b = Config(data_dir=tmp_path / "a"), Config(data_dir=tmp_path / "b")
    pa, pb = a.resolve_prefix(generate=free_prefix), b.resolve_prefix(generate=free_prefix)
    assert pa != pb and pa.startswith("ec2d") and pb.startswith("ec2d")
    for p in (pa, pb):
        assert check_prefix(p) == p and len(p) <= 12 and not p.startswith("ec2dt")
    assert tap_tag(pa) != tap_tag(pb) and metric_for_prefix(pa) != metric_for_prefix(pb)
    assert (tmp_path / "a" / "host-prefix").read_text().strip() == pa
    assert stat.S_IMODE((tmp_path / "a" / "host-prefix").stat().st_mode) == 0o600
    assert Config(data_dir=tmp_path / "a").resolve_prefix() == pa  # stable across opens
    assert Config(data_dir=tmp_path / "a", prefix="ec2dtexplicit").resolve_prefix() == "ec2dtexplicit"
    assert Config(data_dir=tmp_path / "fresh").resolve_prefix(create=False) is None
    assert not (tmp_path / "fresh").exists()
    assert Config(data_dir=tmp_path / "t", prefix_base="ec2dt").resolve_prefix(generate=free_prefix).startswith("ec2dt")


def test_the_default_data_dir_keeps_ec2d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_mod, "DEFAULT_DATA_DIR", tmp_path / "var-lib-ec2d")
    assert Config(data_dir=tmp_path / "var-lib-ec2d").resolve_prefix(create=False) == "ec2d"
    assert Config(data_dir=tmp_path / "var-lib-ec2d").resolve_prefix() == "ec2d"
    assert (tmp_path / "var-lib-ec2d" / "host-prefix").read_text().strip() == "ec2d"


def test_generated_prefixes_never_share_a_tap_tag_with_hex_or_test_prefixes() -> None:
    for _ in range(200):
        p = generated_prefix()
        tag = tap_tag(p)
        assert tag != tap_tag("ec2d") and not all(c in "0123456789abcdef" for c in tag[1:])
        assert set(p[4:]) <= set(GENERATED_ALPHABET)
    taken = {generated_prefix() for _ in range(5)}
    assert generated_prefix(clashes=lambda p: p[-1] != "z")[-1] == "z"
    assert all(tap_tag(generated_prefix(clashes=lambda p: tap_tag(p) in {tap_tag(t) for t in taken})) not in
               {tap_tag(t) for t in taken} for _ in range(20))


def test_prefix_of_netns() -> None:
    assert prefix_of_netns("ec2d-vpc-0123456789abcdef0") == "ec2d"
    assert prefix_of_netns("ec2dkqzmvw-public") == "ec2dkqzmvw"
    assert prefix_of_netns("ec2dt1a2b-vpc-01234567") == "ec2dt1a2b"
    assert prefix_of_netns("ec2dt1a2b-fhost") is None and prefix_of_netns("docker") is None


def test_one_daemon_per_data_dir(tmp_path: Path) -> None:
    fd = lock_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirBusy, match=r"another ec2d serves .* \(pid \d+\)"):
            lock_data_dir(tmp_path)
    finally:
        unlock_data_dir(fd)
    unlock_data_dir(lock_data_dir(tmp_path))  # free again
