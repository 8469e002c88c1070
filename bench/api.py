"""API latency: ec2d vs moto_server, same boto3 calls, same run.

    .venv/bin/python bench/api.py [--runs 200]

Prints p50/p99 per call for both servers and the ratio ec2d/moto (below 1.0: ec2d is faster).
Both servers run as local processes on loopback; the client is boto3 in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

BIN = Path(sys.executable).parent
PUBLIC_KEY = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


class Server:
    def __init__(self, name: str, argv: list[str], port: int, creds: Callable[[], dict[str, str]],
                 read_timeout: float = 60, cwd: Path | None = None) -> None:
        self.name = name
        self.port = port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
        wait_port(port)
        self.creds = creds()
        self.client = self.make_client(read_timeout)

    def make_client(self, read_timeout: float, retry: bool = True):
        """An EC2 client of this server (``retry`` off: a call cut off at the read timeout is not
        sent again)."""
        return boto3.client(
            "ec2", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{self.port}",
            config=BotoConfig(retries={"max_attempts": 1} if retry else {"total_max_attempts": 1},
                              read_timeout=read_timeout), **self.creds,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(fn: Callable[[int], object], runs: int) -> list[float]:
    fn(-1)  # warm-up
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def populate(client, n_keys: int, tags_per_key: int) -> None:
    ids = []
    for i in range(n_keys):
        ids.append(client.import_key_pair(KeyName=f"bulk-{i:05d}", PublicKeyMaterial=PUBLIC_KEY)["KeyPairId"])
    tags = [{"Key": f"k{j}", "Value": f"v{j}"} for j in range(tags_per_key)]
    for start in range(0, len(ids), 100):
        client.create_tags(Resources=ids[start:start + 100], Tags=tags)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--tags-per-key", type=int, default=10)
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="ec2dbench-"))
    ec2d_port, moto_port = free_port(), free_port()

    def ec2d_creds() -> dict[str, str]:
        out = json.loads(subprocess.check_output([str(BIN / "ec2d"), "--data-dir", str(data), "credentials"]))
        return {"aws_access_key_id": out["AccessKeyId"], "aws_secret_access_key": out["SecretAccessKey"]}

    servers = [
        Server("ec2d", [str(BIN / "ec2d"), "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{ec2d_port}",
                        "--log-level", "WARNING", "--no-instances"], ec2d_port, ec2d_creds),
        Server("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], moto_port,
               lambda: {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}),
    ]
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for server in servers:
            c = server.client
            r: dict[str, list[float]] = {}
            r["DescribeRegions"] = measure(lambda i, c=c: c.describe_regions(), args.runs)
            r["CreateKeyPair (rsa)"] = measure(
                lambda i, c=c, n=server.name: c.create_key_pair(KeyName=f"ck-{n}-{i}"), args.runs)
            t = time.perf_counter()
            populate(c, args.keys, args.tags_per_key)
            print(f"# {server.name}: populated {args.keys} key pairs and {args.keys * args.tags_per_key} tags "
                  f"in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            heavy = max(10, args.runs // 10)
            r[f"DescribeKeyPairs ({args.keys}+ keys)"] = measure(lambda i, c=c: c.describe_key_pairs(), heavy)
            r[f"DescribeTags ({args.keys * args.tags_per_key} tags)"] = measure(
                lambda i, c=c: c.describe_tags(), heavy)
            results[server.name] = r
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)

    print(f"{'call':<34} {'ec2d p50':>9} {'ec2d p99':>9} {'moto p50':>9} {'moto p99':>9} {'p50 ratio':>9}")
    for call in results["ec2d"]:
        e, m = results["ec2d"][call], results["moto"][call]
        print(f"{call:<34} {pct(e, 50):8.2f}ms {pct(e, 99):8.2f}ms {pct(m, 50):8.2f}ms {pct(m, 99):8.2f}ms"
              f" {statistics.median(e) / statistics.median(m):9.2f}")
    print(f"(runs: {args.runs} light, {max(10, args.runs // 10)} heavy; python {sys.version.split()[0]}; "
          f"cpus {os.cpu_count()})")


if __name__ == "__main__":
    main()
