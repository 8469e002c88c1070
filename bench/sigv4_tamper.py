"""SigV4 tampering: every single-byte change of signed requests, against the real HTTP server.

    .venv/bin/python bench/sigv4_tamper.py [--requests 1000] [--seed N] [--workers 4]

Runs a real ec2d (API only, ``instances=False``) on loopback. For each of ``--requests`` signed
requests (header-signed POSTs and presigned GETs, botocore's signers, varied actions and filter
values), checks the untouched request is accepted, then replaces each byte of its method, path,
query, signed headers, body, date and signature with another (random) byte and sends it on a fresh
connection (see tests/auth/tamper.py for the rules). Then replays presigned URLs past their expiry.
Prints: requests, tampered requests per part, outcomes (auth error codes / HTTP-level
rejections), accepted (must be 0), 5xx (must be 0), expired replays rejected, req/s, seed.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "auth"))

import tamper  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from ec2d_server import start_ec2d  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # malformed HTTP is logged per request
    tally = tamper.Tally()
    replays = rejected_replays = 0
    with tempfile.TemporaryDirectory(prefix="ec2d-tamper-") as tmp:
        server = start_ec2d(Path(tmp) / "data", instances=False, build_images=False)
        try:
            c = server.credentials
            creds = Credentials(c["aws_access_key_id"], c["aws_secret_access_key"])
            host, port, endpoint = server.config.host, server.config.port, server.config.endpoint_url
            started = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                for _ in range(args.requests):
                    signed = tamper.sign(endpoint, creds, rng)
                    status, body = tamper.send_raw(host, port, signed.raw)
                    tally.requests += 1
                    if status != 200:
                        tally.baseline_failures.append(f"{status} {body[:200]!r}")
                        continue
                    tamper.tamper_all(host, port, signed, rng, tally, pool)
            seconds = time.perf_counter() - started
            for _ in range(max(10, args.requests // 10)):
                expires = rng.choice([1, 60, 300, 3600])
                age = timedelta(seconds=expires + rng.randint(1, 7200))
                signed = tamper.sign(endpoint, creds, rng, presigned=True, expires=expires,
                                     signed_at=datetime.now(UTC) - age)
                for _ in range(2):
                    status, body = tamper.send_raw(host, port, signed.raw)
                    replays += 1
                    rejected_replays += status == 400 and b"<Code>RequestExpired</Code>" in body
        finally:
            server.stop()
    print(f"seed                     {seed}")
    print(f"signed requests          {tally.requests} (untouched accepted: {tally.requests - len(tally.baseline_failures)})")
    print(f"tampered requests        {tally.mutated}")
    for part in tamper.PARTS:
        print(f"  {part:<22} {tally.by_part[part]}")
    print("outcomes")
    for outcome, n in tally.outcomes.most_common():
        print(f"  {outcome:<28} {n}")
    print(f"accepted                 {len(tally.accepted)}")
    for line in tally.accepted[:10]:
        print(f"  {line}")
    print(f"5xx                      {len(tally.server_errors)}")
    for line in tally.server_errors[:10]:
        print(f"  {line}")
    print(f"expired replays rejected {rejected_replays} of {replays} (RequestExpired)")
    print(f"req/s                    {tally.mutated / seconds:.0f} ({seconds:.1f} s)")
    ok = not tally.accepted and not tally.server_errors and not tally.baseline_failures and rejected_replays == replays
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
