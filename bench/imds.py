"""IMDS throughput/latency in real network namespaces, against an aiohttp hello-world floor.

    .venv/bin/python bench/imds.py [-n 2000] [--deadline 30]

Creates a VPC namespace (listener on 169.254.169.254) and a guest namespace joined by a veth
(unique `ec2dt<hex>` prefix, removed at the end), serves the IMDS app on port 80 and a plain
aiohttp hello-world app on port 8080 of the same address, and measures, from ONE keep-alive client
in the guest namespace (a separate process, so it does not share the server's GIL),
GET /latest/meta-data/instance-id against GET / of the hello-world app. Root only. Only addresses
inside the namespaces created here are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

IMDS = "169.254.169.254"
GUEST_IP = "10.99.0.5"


# --- client (runs in a child process) -----------------------------------------------------------


def client_main(netns: str, port: int, path: str, count: int, deadline: float) -> None:
    from orchestrator.imds.listen import connect_in_netns

    sock = connect_in_netns(netns, IMDS, port, timeout=5.0)
    request = f"GET {path} HTTP/1.1\r\nHost: {IMDS}\r\nUser-Agent: ec2d-bench\r\n\r\n".encode()
    reader = sock.makefile("rb")

    def one() -> bytes:
        sock.sendall(request)
        status = reader.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {status!r}")
        length = 0
        while True:
            line = reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            if name.strip().lower() == b"connection" and b"close" in value.lower():
                raise RuntimeError("server closed the keep-alive connection")
        return reader.read(length)

    for _ in range(min(200, count)):  # warm-up
        one()
    latencies: list[float] = []
    body = b""
    start = time.perf_counter()
    stop_at = start + deadline
    for _ in range(count):
        t0 = time.perf_counter()
        body = one()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 > stop_at:
            break
    elapsed = time.perf_counter() - start
    sock.close()
    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "seconds": elapsed,
                "rps": len(latencies) / elapsed,
                "p50_ms": 1000 * statistics.median(latencies),
                "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                "body": body.decode(errors="replace"),
            }
        )
    )


# --- namespaces --------------------------------------------------------------------------------


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)


def setup_namespaces(prefix: str, created: list[str]) -> tuple[str, str]:
    vpc, guest = f"{prefix}-vpc", f"{prefix}-g1"
    for name in (vpc, guest):
        sh("ip", "netns", "add", name)
        created.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    sh(
        "ip",
        "-n",
        vpc,
        "link",
        "add",
        f"{prefix}v0",
        "type",
        "veth",
        "peer",
        "name",
        f"{prefix}g0",
        "netns",
        guest,
    )
    sh("ip", "-n", vpc, "addr", "add", "10.99.0.1/24", "dev", f"{prefix}v0")
    sh("ip", "-n", vpc, "addr", "add", f"{IMDS}/32", "dev", f"{prefix}v0")
    sh("ip", "-n", vpc, "link", "set", f"{prefix}v0", "up")
    sh("ip", "-n", guest, "addr", "add", f"{GUEST_IP}/24", "dev", f"{prefix}g0")
    sh("ip", "-n", guest, "link", "set", f"{prefix}g0", "up")
    sh("ip", "-n", guest, "route", "add", IMDS, "via", "10.99.0.1")
    return vpc, guest


# --- servers and measurement -------------------------------------------------------------------


async def measure(guest: str, port: int, path: str, count: int, deadline: float) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        os.path.abspath(__file__),
        "--client",
        guest,
        str(port),
        path,
        str(count),
        str(deadline),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=deadline + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed: {err.decode()}")
    return json.loads(out)


def median_round(results: list[dict[str, object]]) -> dict[str, object]:
    """The round with the median throughput (latencies reported from that same round)."""
    ordered = sorted(results, key=lambda r: r["rps"])  # type: ignore[arg-type, return-value]
    return ordered[len(ordered) // 2]


async def bench(vpc: str, guest: str, count: int, deadline: float, rounds: int) -> None:
    from aiohttp import web

    from orchestrator.imds.listen import open_listener_in_netns
    from orchestrator.imds.model import InstanceMetadata
    from orchestrator.imds.server import IMDSServer

    md = InstanceMetadata(
        instance_id="i-0123456789abcdef0",
        image_id="ami-0abcdef1234567890",
        instance_type="t3.micro",
        reservation_id="r-0fedcba9876543210",
        region="us-east-1",
        availability_zone="us-east-1a",
        availability_zone_id="use1-az1",
        account_id="123456789012",
        private_ip=GUEST_IP,
        mac="02:ab:cd:00:00:01",
        subnet_id="subnet-0123456789abcdef0",
        subnet_cidr="10.99.0.0/24",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidrs=["10.99.0.0/16"],
        interface_id="eni-0123456789abcdef0",
        launched_at=datetime.now(UTC),
        security_groups=["default"],
        security_group_ids=["sg-0000000000000000a"],
    )

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    hello_app = web.Application()
    hello_app.router.add_get("/", hello)
    hello_runner = web.AppRunner(hello_app, access_log=None, handle_signals=False)
    await hello_runner.setup()
    try:
        await web.SockSite(hello_runner, open_listener_in_netns(vpc, IMDS, 8080)).start()
        async with IMDSServer() as server:
            await server.add_listener("vpc-bench", open_listener_in_netns(vpc, IMDS, 80))
            server.set_instances("vpc-bench", {GUEST_IP: md})
            floors, imdss = [], []
            for _ in range(rounds):  # interleaved, so warm-up and machine noise hit both alike
                floors.append(await measure(guest, 8080, "/", count, deadline))
                imdss.append(await measure(guest, 80, "/latest/meta-data/instance-id", count, deadline))
    finally:
        await hello_runner.cleanup()
    floor, imds = median_round(floors), median_round(imdss)
    assert imds["body"] == md.instance_id, imds["body"]
    assert floor["body"] == "Hello, world", floor["body"]

    def line(name: str, r: dict[str, object]) -> str:
        return (
            f"{name:<40} {r['requests']:>6} req in {r['seconds']:.2f} s  {r['rps']:>8.0f} req/s  "
            f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms"
        )

    print(
        f"median round of {rounds} interleaved rounds x {count} requests; one keep-alive client in netns {guest} -> {IMDS} in netns {vpc} (python {sys.version.split()[0]})"
    )
    print(line("aiohttp hello-world GET /", floor))
    print(line("IMDS GET /latest/meta-data/instance-id", imds))
    print(
        f"ratio IMDS/hello-world: throughput {imds['rps'] / floor['rps']:.2f}x, "  # type: ignore[operator]
        f"p50 {imds['p50_ms'] / floor['p50_ms']:.2f}x, "  # type: ignore[operator]
        f"p99 {imds['p99_ms'] / floor['p99_ms']:.2f}x"  # type: ignore[operator]
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        netns, port, path, count, deadline = sys.argv[2:7]
        client_main(netns, int(port), path, int(count), float(deadline))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per phase at most")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/imds.py needs root (network namespaces)")
    prefix = "ec2dt" + secrets.token_hex(3)
    created: list[str] = []
    try:
        vpc, guest = setup_namespaces(prefix, created)
        asyncio.run(bench(vpc, guest, args.requests, args.deadline, args.rounds))
    finally:
        for name in reversed(created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


if __name__ == "__main__":
    main()
