"""An injected clock for billing tests: time moves only when the test moves it (no sleeping)."""

from __future__ import annotations


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:  # 2027-01-15T08:00:00Z
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t
