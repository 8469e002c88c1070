"""The boot-step marks ec2d-tiny prints on its console ("ec2d-tiny: step NAME UPTIME", from the
initramfs and rcS), parsed and summed up as a table: for each step its p50 uptime and the p50 time
since the step before. Shared by bench/boot.py and bench/launch.py; on its own it prints the table
of console logs (an instance's console.log, or `aws ec2 get-console-output --output text`):

    .venv/bin/python bench/boot_steps.py CONSOLE_LOG [CONSOLE_LOG ...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

STEP_RE = re.compile(r"ec2d-tiny: step (\S+) ([0-9.]+)")


def parse_steps(console: str) -> list[tuple[str, float]]:
    """The marks in console order; a name seen twice (a reboot) keeps its first time."""
    seen: dict[str, float] = {}
    for name, up in STEP_RE.findall(console):
        seen.setdefault(name, float(up))
    return list(seen.items())


def breakdown(runs: list[list[tuple[str, float]]]) -> list[str]:
    """Table lines: step, p50 uptime at the step, p50 of the time since the step before, max."""
    order: list[str] = []
    for steps in runs:
        for name, _ in steps:
            if name not in order:
                order.append(name)
    at: dict[str, list[float]] = {name: [] for name in order}
    delta: dict[str, list[float]] = {name: [] for name in order}
    for steps in runs:
        prev = 0.0
        for name, up in steps:
            at[name].append(up)
            delta[name].append(up - prev)
            prev = up
    lines = [f"{'step (uptime in the guest)':28}{'at p50':>8}{'took p50':>10}{'took max':>10}"]
    for name in order:
        label = "kernel -> " + name if name == order[0] else name
        lines.append(f"{label:28}{statistics.median(at[name]):8.2f}{statistics.median(delta[name]):10.2f}"
                     f"{max(delta[name]):10.2f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="console logs of ec2d-tiny boots")
    args = parser.parse_args()
    runs = [steps for steps in (parse_steps(log.read_text(errors="replace")) for log in args.logs) if steps]
    if not runs:
        print("no ec2d-tiny boot-step marks in these logs", file=sys.stderr)
        return 1
    print("\n".join(breakdown(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
