"""Reliability and security figures in one run: each robustness bench at the size issue 9 names,
its own table printed as it finishes, then one summary table (held / broken, seconds).

    PYTHONPATH=. .venv/bin/python bench/reliability.py [--quick] [--only fuzz,tamper,...]

A bench "holds" when it exits 0, i.e. its promise held in this run: crash (every instance running
and reachable or terminated, 0 orphans), fuzz (0 5xx, 0 tracebacks, 0 invalid XML, daemon answers),
tamper (0 tampered requests accepted, 0 5xx, every expired replay refused), sgfuzz (0 accepted-but-
uncompilable rule sets, 0 traffic mismatches), imds-spoof (0 spoofed requests answered, 0 frames
passed), edge (runs to completion: figures only). Root only; everything stays on loopback and in
namespaces the benches create. ``--quick`` shrinks every bench to a smoke run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (script, full-size args (issue 9's figures), quick args, what its exit code promises)
BENCHES: dict[str, tuple[str, list[str], list[str], str]] = {
    "fuzz": ("fuzz.py", ["--requests", "10000", "--seed", "20261130"], ["--requests", "500", "--seed", "1"],
             "0 5xx, 0 tracebacks, 0 invalid XML from hostile requests for every action"),
    "tamper": ("sigv4_tamper.py", ["--requests", "1000", "--seed", "20261130"], ["--requests", "20", "--seed", "1"],
               "every single-byte change of signed requests rejected; expired replays refused"),
    "edge": ("edge.py", ["--runs", "10"], ["--runs", "2"],
             "unauthenticated large bodies rejected before parsing (figures)"),
    "sgfuzz": ("sgfuzz.py", ["--seed", "20261130", "--rule-sets", "5000", "--http-rule-sets", "200",
                             "--traffic-rule-sets", "20"],
               ["--seed", "1", "--rule-sets", "200", "--http-rule-sets", "10", "--traffic-rule-sets", "2"],
               "no accepted rule breaks the compiler; real traffic matches the rules"),
    "imds-spoof": ("imds_spoof.py", ["-n", "10"], ["-n", "2"],
                   "a guest spoofing its neighbour's IP/MAC gets none of its metadata"),
    "crash": ("crash.py", ["--runs", "3", "--instances", "6"], ["--runs", "1", "--instances", "2"],
              "kill -9 during concurrent launches: running+reachable or terminated, 0 orphans"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke-sized runs")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ",".join(BENCHES))
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown bench(es): {', '.join(unknown)}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    results: list[tuple[str, str, float, str]] = []
    for name in names:
        script, full, quick, promise = BENCHES[name]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n===== {name}: {' '.join(['bench/' + script, *cmd[2:]])}", flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        results.append((name, "held" if rc == 0 else f"BROKEN (exit {rc})", time.monotonic() - started, promise))
    print("\n===== summary")
    print(f"{'bench':<11} {'result':<16} {'seconds':>8}  promise")
    for name, result, seconds, promise in results:
        print(f"{name:<11} {result:<16} {seconds:>8.0f}  {promise}")
    return 0 if all(r[1] == "held" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
