"""The HTTP edge under hostile bodies: what an unauthenticated large body costs now, against what the
old parse-first edge spent on the same body, and whether the event loop keeps serving meanwhile.

    .venv/bin/python bench/edge.py [--runs 10]

Starts ``ec2d serve --no-instances`` on loopback with a scratch data dir. Prints, per case, the
client-side time of the whole request (upload included) and the answer, then the cost the old edge
paid *before* it checked the signature (``parse_qsl`` of the same body, measured in this process:
the old code split every body up to 16 MiB into parameters first), then the latency of a signed
DescribeRegions while another client keeps sending such bodies.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import BIN, free_port, pct, wait_port  # noqa: E402

MIB = 1024 * 1024
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def pairs_body(size: int) -> bytes:
    """The worst case for a query-string parser: ``size`` bytes of tiny ``a=b&`` pairs."""
    head = b"Action=DescribeRegions&Version=2016-11-15&"
    return (head + b"a=b&" * (size // 4))[:size]


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[float, int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": FORM, **(headers or {})})
        resp = conn.getresponse()
        data = resp.read().decode()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - t) * 1000
    answer = data.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in data else "OK"
    return elapsed, resp.status, answer


def signed_headers(port: int, body: bytes, creds: Credentials) -> dict[str, str]:
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(creds, "ec2", "us-east-1").add_auth(request)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
            if k.lower() != "content-length"}


def timed(fn, runs: int) -> tuple[list[float], str]:
    times, answers = [], set()
    for _ in range(runs):
        ms, status, answer = fn()
        times.append(ms)
        answers.add(f"{status} {answer}")
    return times, ", ".join(sorted(answers))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="ec2dbench-"))
    port = free_port()
    proc = subprocess.Popen([str(BIN / "ec2d"), "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{port}",
                             "--log-level", "WARNING", "--no-instances"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows: list[tuple[str, list[float], str]] = []
    try:
        wait_port(port)
        out = json.loads(subprocess.check_output([str(BIN / "ec2d"), "--data-dir", str(data), "credentials"]))
        root = Credentials(out["AccessKeyId"], out["SecretAccessKey"])
        wrong = Credentials(out["AccessKeyId"], "not-the-secret-key-of-this-account-at-all")
        client = boto3.client("ec2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                              aws_access_key_id=root.access_key, aws_secret_access_key=root.secret_key,
                              config=BotoConfig(retries={"max_attempts": 1}))
        client.describe_regions()

        from orchestrator.api.app import MAX_BODY

        b16, b17, b2, cap = pairs_body(16 * MIB), pairs_body(17 * MIB), pairs_body(2 * MIB), pairs_body(MAX_BODY)
        signed_2, wrong_cap, signed_cap = (signed_headers(port, b2, root), signed_headers(port, cap, wrong),
                                           signed_headers(port, cap, root))
        cases = [
            ("16 MiB, unsigned", lambda: post(port, b16)),
            ("17 MiB, unsigned", lambda: post(port, b17)),
            ("2 MiB, correctly signed", lambda: post(port, b2, signed_2)),
            (f"{MAX_BODY // MIB} MiB (the cap), unsigned", lambda: post(port, cap)),
            (f"{MAX_BODY // MIB} MiB, wrong secret", lambda: post(port, cap, wrong_cap)),
            (f"{MAX_BODY // MIB} MiB, signed by root (parsed)", lambda: post(port, cap, signed_cap)),
        ]
        for name, fn in cases:
            times, answer = timed(fn, args.runs)
            rows.append((name, times, answer))

        old: list[tuple[str, float, float]] = []
        for label, body in (("16 MiB", b16), (f"{MAX_BODY // MIB} MiB", cap)):
            t = time.perf_counter()
            parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            parse_ms = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            hashlib.sha256(body).hexdigest()
            old.append((label, parse_ms, (time.perf_counter() - t) * 1000))

        # a signed DescribeRegions, alone and while another client keeps sending hostile bodies
        def latencies(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                client.describe_regions()
                out.append((time.perf_counter() - t) * 1000)
            return out

        quiet = latencies(args.runs * 10)
        loaded: dict[str, list[float]] = {}
        for label, send in (("16 MiB unsigned", lambda: post(port, b16)),
                            (f"{MAX_BODY // MIB} MiB root-signed", lambda: post(port, cap, signed_cap))):
            stop = threading.Event()

            def hammer(send=send, stop=stop) -> None:
                while not stop.is_set():
                    send()

            thread = threading.Thread(target=hammer, daemon=True)
            thread.start()
            time.sleep(0.2)
            loaded[label] = latencies(args.runs * 10)
            stop.set()
            thread.join(120)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)

    print(f"{'request (a=b& pairs)':<38} {'p50':>9} {'max':>9}  answer")
    for name, times, answer in rows:
        print(f"{name:<38} {statistics.median(times):7.1f}ms {max(times):7.1f}ms  {answer}")
    print()
    print("old edge, before any signature check (same bodies, this process):")
    for label, parse_ms, sha_ms in old:
        print(f"  {label:<8} parse_qsl {parse_ms:8.1f}ms on the event loop   (sha256 of it: {sha_ms:.1f}ms)")
    print()
    print(f"signed DescribeRegions latency{'':<14} {'p50':>9} {'p99':>9} {'max':>9}")
    for label, values in (("alone", quiet), *((f"while {k} bodies stream", v) for k, v in loaded.items())):
        print(f"  {label:<42} {pct(values, 50):7.1f}ms {pct(values, 99):7.1f}ms {max(values):7.1f}ms")
    print(f"(runs: {args.runs} per body case, {args.runs * 10} latency samples; python {sys.version.split()[0]}; "
          f"cpus {os.cpu_count()}; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
