"""Every benchmark under ``bench/`` still starts: ``--help`` imports the whole script (its helpers
from ``tests/`` included) and exits 0. Benchmarks run outside pytest, so without this a moved test
helper breaks them silently (bench/launch.py imported ``free_port`` from a conftest that no longer
had it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_the_benchmark_starts(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
