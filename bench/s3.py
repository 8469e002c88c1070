"""S3 throughput through ec2d's front (verify, authorize, re-sign, stream) against the same engine
addressed directly, in one run: 1 MiB PutObject and GetObject, objects/s and MiB/s, and the ratio.

    .venv/bin/python bench/s3.py [--objects 200] [--threads 4] [--size-kib 1024] [--dir /var/tmp]

An API-only ec2d (its own process, so the client threads here do not share its interpreter) with
its SeaweedFS engine on a fresh data dir (loopback, free ports). Both paths
use boto3 with the same settings (SigV4 with a signed payload hash over HTTP, as botocore sends
over HTTP: the CRC32 checksum header too); the direct path signs with the engine's admin key.
Prints figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import boto3  # noqa: E402
from botocore.config import Config as BotoConfig  # noqa: E402
from ec2d_server import free_port  # noqa: E402

from orchestrator.services.credentials import load_or_create  # noqa: E402

MiB = 1024 * 1024


def client(endpoint: str, key: str, secret: str, threads: int) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=BotoConfig(retries={"max_attempts": 1}, max_pool_connections=threads * 2))


def timed(threads: int, jobs: list[Any]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    return time.perf_counter() - started


def run_path(s3: Any, bucket: str, objects: int, threads: int, body: bytes) -> tuple[float, float]:
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="warm", Body=body)  # connections and volumes ready
    s3.get_object(Bucket=bucket, Key="warm")["Body"].read()
    put = timed(threads, [lambda i=i: s3.put_object(Bucket=bucket, Key=f"o{i}", Body=body) for i in range(objects)])

    def get(i: int) -> None:
        assert len(s3.get_object(Bucket=bucket, Key=f"o{i}")["Body"].read()) == len(body)

    got = timed(threads, [lambda i=i: get(i) for i in range(objects)])
    return put, got


def start_daemon(data: Path, port: int) -> subprocess.Popen[bytes]:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from orchestrator.config import Config
        from orchestrator.server import serve
        serve(Config(data_dir=Path({str(data)!r}), listen="127.0.0.1:{port}", instances=False,
                     build_images=False, prefix="ec2dtbench"))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("ec2d did not start")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--dir", default=None, help="where the temporary data dir goes")
    args = parser.parse_args()
    body = os.urandom(args.size_kib * 1024)
    mib = args.objects * len(body) / MiB
    work = Path(tempfile.mkdtemp(prefix="ec2d-bench-s3-", dir=args.dir))
    ec2d_port = free_port()
    daemon = start_daemon(work / "data", ec2d_port)
    try:
        creds = load_or_create(work / "data" / "credentials.json")
        front = client(f"http://127.0.0.1:{ec2d_port}", creds.access_key_id, creds.secret_access_key, args.threads)
        admin = json.loads((work / "data" / "s3" / "engine-admin.json").read_text())
        port = json.loads((work / "data" / "s3" / "weed.pid").read_text())["ports"]["s3"]
        direct = client(f"http://127.0.0.1:{port}", admin["AccessKeyId"], admin["SecretAccessKey"], args.threads)
        results = {"ec2d front": run_path(front, "bench-front", args.objects, args.threads, body),
                   "engine direct": run_path(direct, "bench-direct", args.objects, args.threads, body)}
    finally:
        daemon.terminate()
        daemon.wait(60)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    print(f"{args.objects} objects of {args.size_kib} KiB, {args.threads} threads")
    print(f"{'path':<14} {'put obj/s':>10} {'put MiB/s':>10} {'get obj/s':>10} {'get MiB/s':>10}")
    for name, (put, got) in results.items():
        print(f"{name:<14} {args.objects / put:>10.1f} {mib / put:>10.1f} {args.objects / got:>10.1f} {mib / got:>10.1f}")
    (fput, fget), (dput, dget) = results["ec2d front"], results["engine direct"]
    print(f"{'front/direct':<14} {dput / fput:>10.2f} {'':>10} {dget / fget:>10.2f}")


if __name__ == "__main__":
    main()
