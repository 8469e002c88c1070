"""API fuzzing: hostile requests generated from botocore's input shapes for every registered action.

    .venv/bin/python bench/fuzz.py [--requests 10000] [--seed N]

Runs a real ec2d (API-only: ``instances=False``, the runtime on the fake drivers, no libvirt; with
``--runtime`` the real drivers, one seeded guest) on loopback with a scratch data dir, sends correctly signed requests (see tests/api/fuzzing.py for what is generated) and prints:
requests, per-status counts, 5xx (and which), tracebacks in the daemon's log, responses that were
not well-formed XML, req/s, and the seed (rerun with ``--seed`` to reproduce). Exits 1 on any
5xx other than EC2's capacity errors, any traceback, any invalid XML, or a daemon that stopped
answering.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "api"))

import fuzzing  # noqa: E402
from ec2d_server import start_ec2d  # noqa: E402


def wildcard_figures() -> list[tuple[str, float]]:
    """Worst-case filter matching (the ReDoS of issue 9), in microseconds per match."""
    import re
    import time

    from orchestrator.api.filters import wildcard

    def per_match(pattern: str, text: str, n: int = 200) -> float:
        matcher = wildcard(pattern)
        started = time.perf_counter()
        for _ in range(n):
            matcher.fullmatch(text)
        return (time.perf_counter() - started) / n * 1e6

    def old_regex(pattern: str, text: str) -> float:  # the backtracking translation it replaced
        rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)
        started = time.perf_counter()
        rx.fullmatch(text)
        return (time.perf_counter() - started) * 1e6

    evil = "*a*a*a*a*a*a*a*a*b"
    return [
        ("old regex, *a*a*a*a*a*a*a*a*b vs 'a' * 24", old_regex(evil, "a" * 24)),
        ("new, *a*a*a*a*a*a*a*a*b vs 'a' * 60", per_match(evil, "a" * 60)),
        ("new, *a*a*...(255 chars) vs 'a' * 255", per_match(("*a" * 128)[:254] + "b", "a" * 255)),
        ("new, *a...a?b* (124 chars) vs 'a' * 255", per_match("*" + "a" * 120 + "?b*", "a" * 255)),
        ("new, *aaa?b*aaa?b*... (252 chars) vs 'a' * 255", per_match("*aaa?b" * 42, "a" * 255)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runtime", action="store_true",
                        help="run the real runtime (libvirt, namespaces, nftables); one seeded guest, "
                             "no CreateVpc/RunInstances fuzzing (see fuzzing.RUNTIME_EXCLUDED)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    logging.getLogger().setLevel(logging.WARNING)  # records reach the counter, nothing prints
    with tempfile.TemporaryDirectory(prefix="ec2d-fuzz-") as tmp, fuzzing.TracebackCounter() as tracebacks:
        if args.runtime:
            server = start_ec2d(Path(tmp) / "data")
        else:
            server = start_ec2d(Path(tmp) / "data", instances=False, build_images=False)
        try:
            creds = server.credentials
            client = fuzzing.Client(server.config.endpoint_url, creds["aws_access_key_id"],
                                    creds["aws_secret_access_key"])
            exclude = fuzzing.RUNTIME_EXCLUDED if args.runtime else frozenset()
            result = fuzzing.fuzz(client, args.requests, seed, list(server.config.regions), exclude,
                                  instances=1 if args.runtime else 2)
            client.close()
            alive = server.client().describe_regions()["ResponseMetadata"]["HTTPStatusCode"] == 200
        finally:
            server.stop()
    print(f"seed                {seed}")
    print(f"mode                {'real runtime (libvirt, namespaces)' if args.runtime else 'API-only (fake drivers)'}")
    print(f"actions             {len(result.actions)} of {len(fuzzing.actions())} registered"
          + (f" (not fuzzed: {', '.join(sorted(exclude))})" if exclude else ""))
    print(f"requests            {result.requests}")
    for status, n in sorted(result.statuses.items()):
        print(f"  HTTP {status}          {n}")
    print("top error codes     " + ", ".join(f"{c} {n}" for c, n in result.codes.most_common(8)))
    print(f"5xx                 {len(result.server_errors)}"
          f" (unexpected {len(result.unexpected_5xx)}; EC2 capacity errors"
          f" {len(result.server_errors) - len(result.unexpected_5xx)})")
    for line in sorted(set(result.unexpected_5xx))[:20]:
        print(f"  {line}: {result.samples[line]!r:.600}")
    print(f"tracebacks          {len(tracebacks.records)}")
    for signature, n in tracebacks.signatures().most_common(30):
        print(f"  {n:5d}  {signature}")
    print(f"invalid XML         {len(result.invalid_xml)}")
    for line in result.invalid_xml[:5]:
        print(f"  {line}")
    print(f"req/s               {result.requests / result.seconds:.0f} ({result.seconds:.1f} s)")
    print(f"daemon answers      {'yes' if alive else 'NO'}")
    print("filter matching worst cases (one match)")
    for label, micros in wildcard_figures():
        print(f"  {label:<44} {micros:>12,.0f} us")
    ok = not result.unexpected_5xx and not tracebacks.records and not result.invalid_xml and alive
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
