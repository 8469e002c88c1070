"""IMDS throughput/latency in real network namespaces, against an aiohttp hello-world floor.

    .venv/bin/python bench/imds.py [-n 2000] [--deadline 30]

Creates a VPC namespace (listener on 169.254.169.254) and a guest namespace joined by a veth
(unique `ec2dt<hex>` prefix, removed at the end), serves the IMDS app on port 80 and a plain
aiohttp hello-world app on port 8080 of the same address, and measures, from ONE keep-alive client
in the guest namespace (a separate process, so it does not share the server's GIL),
GET /latest/meta-data/instance-id against GET / of the hello-world app. Root only. Only addresses
inside the namespaces created here are contacted.

Flood rows (skip with --no-flood): a second topology closer to a VPC -- a bridge in the VPC
namespace with two guest namespaces A and B as ports (veths standing in for taps), and the
per-ENI packet limit of orchestrator.drivers.network.imds_limit (EC2's 1,024 packets/s per ENI).
B sends paced requests (one every --interval ms, well under its own limit) and its p50/p99 are
measured alone, while A floods IMDS with --flooders keep-alive clients (each back-to-back), once
with the limit removed and once with it in place; A's answered requests/s and the packets the
limit dropped are printed too.
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


def _exchange(sock, reader, request: bytes) -> bytes:  # type: ignore[no-untyped-def]
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
    return reader.read(length)


def paced_client_main(netns: str, path: str, count: int, interval: float) -> None:
    """`count` requests on one keep-alive connection, one every `interval` seconds: latencies."""
    from orchestrator.imds.listen import connect_in_netns

    sock = connect_in_netns(netns, IMDS, 80, timeout=30.0)
    reader = sock.makefile("rb")
    request = f"GET {path} HTTP/1.1\r\nHost: {IMDS}\r\n\r\n".encode()
    latencies: list[float] = []
    body = b""
    next_at = time.perf_counter()
    for _ in range(count):
        now = time.perf_counter()
        if next_at > now:
            time.sleep(next_at - now)
        t0 = time.perf_counter()
        body = _exchange(sock, reader, request)
        latencies.append(time.perf_counter() - t0)
        next_at = t0 + interval
    sock.close()
    latencies.sort()
    print(json.dumps({
        "requests": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
        "body": body.decode(errors="replace"),
    }))


def flood_client_main(netns: str, path: str, seconds: float) -> None:
    """Back-to-back requests on one keep-alive connection for `seconds`: how many were answered."""
    from orchestrator.imds.listen import connect_in_netns

    sock = connect_in_netns(netns, IMDS, 80, timeout=30.0)
    reader = sock.makefile("rb")
    request = f"GET {path} HTTP/1.1\r\nHost: {IMDS}\r\n\r\n".encode()
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _exchange(sock, reader, request)
        done += 1
    elapsed = time.perf_counter() - start
    sock.close()
    print(json.dumps({"requests": done, "seconds": elapsed}))


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


def metadata(ip: str, n: int = 0):  # type: ignore[no-untyped-def]
    """A guest's metadata (instance id ending in `n`, subnet = the /24 of `ip`)."""
    from orchestrator.imds.model import InstanceMetadata

    return InstanceMetadata(
        instance_id=f"i-0123456789abcdef{n}",
        image_id="ami-0abcdef1234567890",
        instance_type="t3.micro",
        reservation_id="r-0fedcba9876543210",
        region="us-east-1",
        availability_zone="us-east-1a",
        availability_zone_id="use1-az1",
        account_id="123456789012",
        private_ip=ip,
        mac=f"02:ab:cd:00:00:0{n}",
        subnet_id="subnet-0123456789abcdef0",
        subnet_cidr=ip.rsplit(".", 1)[0] + ".0/24",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidrs=[ip.rsplit(".", 2)[0] + ".0.0/16"],
        interface_id=f"eni-0123456789abcdef{n}",
        launched_at=datetime.now(UTC),
        security_groups=["default"],
        security_group_ids=["sg-0000000000000000a"],
    )


FLOOD_A, FLOOD_B = "10.98.0.5", "10.98.0.6"


def setup_bridged(prefix: str, created: list[str]) -> tuple[str, str, str]:
    """A VPC-like namespace (bridge br0 with the gateway 10.98.0.1, 169.254.169.254 on lo) and
    two guest namespaces whose veth peers are ports of the bridge, like taps."""
    vpc, ga, gb = f"{prefix}-fv", f"{prefix}-fa", f"{prefix}-fb"
    for name in (vpc, ga, gb):
        sh("ip", "netns", "add", name)
        created.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "-n", vpc, "addr", "add", f"{IMDS}/32", "dev", "lo")
    sh("ip", "-n", vpc, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", vpc, "addr", "add", "10.98.0.1/24", "dev", "br0")
    sh("ip", "-n", vpc, "link", "set", "br0", "up")
    for guest, ip, port in ((ga, FLOOD_A, f"{prefix}pa"), (gb, FLOOD_B, f"{prefix}pb")):
        sh("ip", "-n", vpc, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", guest)
        sh("ip", "-n", vpc, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", guest, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", guest, "link", "set", "eth0", "up")
        sh("ip", "-n", guest, "route", "add", "default", "via", "10.98.0.1")
    return vpc, ga, gb


async def child(*args: str, timeout: float) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {err.decode()}")
    return json.loads(out)


async def flood_bench(vpc: str, ga: str, gb: str, count: int, interval_ms: float, flooders: int) -> None:
    from orchestrator.drivers.network import imds_limit
    from orchestrator.imds.listen import open_listener_in_netns
    from orchestrator.imds.server import IMDSServer

    path = "/latest/meta-data/instance-id"
    interval = interval_ms / 1000
    seconds = count * interval + 2.0
    rows = []
    async with IMDSServer() as server:
        await server.add_listener("vpc-flood", open_listener_in_netns(vpc, IMDS, 80))
        server.set_instances("vpc-flood", {FLOOD_A: metadata(FLOOD_A, 1), FLOOD_B: metadata(FLOOD_B, 2)})
        for name, flood, limit in (
            ("B alone, limit on", False, True),
            ("B while A floods, no limit", True, False),
            ("B while A floods, limit on (1,024 pkt/s/ENI)", True, True),
        ):
            if limit:
                await asyncio.to_thread(imds_limit.ensure, vpc)
            else:
                await asyncio.to_thread(imds_limit.remove, vpc)
            floods = [
                asyncio.ensure_future(child("--flood", ga, path, str(seconds), timeout=seconds + 120))
                for _ in range(flooders if flood else 0)
            ]
            if floods:
                await asyncio.sleep(1.0)  # the flood is in full swing before B starts
            b = await child("--paced", gb, path, str(count), str(interval), timeout=seconds + 300)
            flooded = await asyncio.gather(*floods)
            dropped = await asyncio.to_thread(imds_limit.dropped, vpc) if limit else None
            assert b["body"] == metadata(FLOOD_B, 2).instance_id, b["body"]
            a_rps = sum(f["requests"] / f["seconds"] for f in flooded)  # type: ignore[operator]
            rows.append((name, b, a_rps if floods else None, dropped))
    print(
        f"flood: B = one keep-alive client, {count} requests, one every {interval_ms:g} ms; "
        f"A = {flooders} keep-alive clients back-to-back; bridged namespaces {ga}, {gb} -> {vpc}"
    )
    for name, b, a_rps, dropped in rows:
        extra = f"  A answered {a_rps:>7.0f} req/s" if a_rps is not None else " " * 28
        if dropped is not None:
            extra += f"  limit dropped {dropped} pkts"
        print(
            f"{name:<46} B p50 {b['p50_ms']:7.3f} ms  p99 {b['p99_ms']:8.3f} ms  max {b['max_ms']:8.3f} ms{extra}"
        )


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
    from orchestrator.imds.server import IMDSServer

    md = metadata(GUEST_IP)

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
    if len(sys.argv) > 1 and sys.argv[1] == "--paced":
        netns, path, count, interval = sys.argv[2:6]
        paced_client_main(netns, path, int(count), float(interval))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--flood":
        netns, path, seconds = sys.argv[2:5]
        flood_client_main(netns, path, float(seconds))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per phase at most")
    parser.add_argument("--no-flood", action="store_true", help="skip the flood rows")
    parser.add_argument("--flood-requests", type=int, default=1000, help="B's paced requests per flood row")
    parser.add_argument("--interval", type=float, default=5.0, help="ms between B's paced requests")
    parser.add_argument("--flooders", type=int, default=8, help="A's back-to-back keep-alive clients")
    parser.add_argument("--flood-only", action="store_true", help="only the flood rows")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/imds.py needs root (network namespaces)")
    prefix = "ec2dt" + secrets.token_hex(3)
    created: list[str] = []
    try:
        if not args.flood_only:
            vpc, guest = setup_namespaces(prefix, created)
            asyncio.run(bench(vpc, guest, args.requests, args.deadline, args.rounds))
        if not args.no_flood:
            fvpc, ga, gb = setup_bridged(prefix, created)
            asyncio.run(flood_bench(fvpc, ga, gb, args.flood_requests, args.interval, args.flooders))
    finally:
        for name in reversed(created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


if __name__ == "__main__":
    main()
