"""The guests' side of bench/imds_load.py: child processes that walk the metadata service as
booting guests do, each checking every answer against its own instance; and the API caller of
its "API busy" row. Started by bench/imds_load.py (not by hand); kept small so a child starts fast.

    python bench/imds_load_guest.py --client GUESTS.json ROUNDS PERIOD_MS   (then a start time on stdin)
    python bench/imds_load_guest.py --api URL ACCESS_KEY SECRET_KEY         (start and stop lines on stdin)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

IMDS = "169.254.169.254"
ROLE = "imds-load-role"
TTL = "21600"


# --- client (a child process) ------------------------------------------------------------------


def walk_paths(g: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(path under /latest/, how to check, expected) of one guest's walk after its token PUT."""
    mac = g["mac"]
    nic = f"meta-data/network/interfaces/macs/{mac}/"
    return [
        ("meta-data/instance-id", "eq", g["instance_id"]),
        ("user-data", "eq", g["user_data"]),
        ("meta-data/", "has", ["instance-id", "local-ipv4", "mac", "network/", "public-keys/", "iam/",
                               "placement/", "hostname", "local-hostname", "reservation-id"]),
        ("meta-data/local-ipv4", "eq", g["ip"]),
        ("meta-data/mac", "eq", mac),
        ("meta-data/local-hostname", "eq", g["hostname"]),
        ("meta-data/network/interfaces/macs/", "eq", mac + "/"),
        (nic, "has", ["device-number", "interface-id", "local-ipv4s", "mac", "subnet-id", "vpc-id"]),
        (nic + "local-ipv4s", "eq", g["ip"]),
        (nic + "interface-id", "eq", g["eni"]),
        (nic + "subnet-id", "eq", g["subnet"]),
        (nic + "vpc-id", "eq", g["vpc"]),
        ("meta-data/public-keys/", "eq", f"0={g['key_name']}"),
        ("meta-data/public-keys/0/openssh-key", "eq", g["public_key"]),
        ("meta-data/iam/security-credentials/", "eq", ROLE),
        (f"meta-data/iam/security-credentials/{ROLE}", "creds", None),
        ("dynamic/instance-identity/document", "json", {
            "instanceId": g["instance_id"], "privateIp": g["ip"], "accountId": g["account"],
            "imageId": g["image"], "instanceType": g["type"], "region": "us-east-1",
            "availabilityZone": g["zone"]}),
    ]


def check(how: str, expected: Any, body: str) -> str | None:
    """None when ``body`` is right, else why not."""
    if how == "eq":
        return None if body == expected else f"{body[:80]!r} != {expected[:80]!r}"
    if how == "has":
        missing = set(expected) - set(body.split("\n"))
        return f"listing lacks {sorted(missing)}" if missing else None
    doc = json.loads(body)
    if how == "creds":
        ok = doc.get("Code") == "Success" and doc.get("AccessKeyId", "").startswith("ASIA") and doc.get("Token")
        return None if ok else f"bad credentials {body[:80]!r}"
    wrong = {k: doc.get(k) for k, v in expected.items() if doc.get(k) != v}
    return f"identity document differs: {wrong}" if wrong else None


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def sockets_in_netns(netns: str, count: int) -> list[socket.socket]:
    """``count`` TCP sockets of the namespace (made by a thread that enters it: a socket stays in
    the namespace it was made in). Like ``imds.listen.run_in_netns``, without importing ec2d here:
    a client process starts in a few tens of ms."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    out: list[socket.socket] = []
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)

    def make() -> None:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        out.extend(socket.socket() for _ in range(count))

    try:
        thread = threading.Thread(target=make)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if len(out) != count:
        raise OSError(f"no sockets made in {netns}")
    return out


class Guest:
    def __init__(self, spec: dict[str, Any], rounds: int) -> None:
        self.spec = spec
        self.paths = walk_paths(spec)
        # every socket this guest will use, made in its namespace up front (no setns on the loop)
        self.socks = sockets_in_netns(spec["netns"], 2 * rounds)
        self.latencies: list[float] = []
        self.first: list[float] = []  # the first walk's (the guest's boot: token, tree, role minted)
        self.slow: dict[str, int] = {}  # path -> requests over 5 ms
        self.errors: list[str] = []
        self.wrong: list[str] = []
        self.role_doc: dict[str, Any] | None = None
        self.cold = True

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = self.socks.pop()
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (IMDS, 80))
        return await asyncio.open_connection(sock=sock)

    async def timed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bytes]:
        t0 = time.perf_counter()
        answer = await _http(reader, writer, request)
        ms = (time.perf_counter() - t0) * 1000
        (self.first if self.cold else self.latencies).append(ms)
        if ms > 5:
            path = request.split(b" ", 2)[1].decode()
            self.slow[path] = self.slow.get(path, 0) + 1
        return answer

    async def walk(self) -> None:
        reader, writer = await self._open()
        put = (f"PUT /latest/api/token HTTP/1.1\r\nHost: {IMDS}\r\nX-aws-ec2-metadata-token-ttl-seconds: {TTL}"
               "\r\nContent-Length: 0\r\n\r\n").encode()
        status, token = await self.timed(reader, writer, put)
        writer.close()
        if status != 200:
            self.errors.append(f"{self.spec['instance_id']} token PUT: {status}")
            return
        reader, writer = await self._open()
        try:
            for path, how, expected in self.paths:
                request = (f"GET /latest/{path} HTTP/1.1\r\nHost: {IMDS}\r\n"
                           f"X-aws-ec2-metadata-token: {token.decode()}\r\n\r\n").encode()
                status, body = await self.timed(reader, writer, request)
                if status != 200:
                    self.errors.append(f"{self.spec['instance_id']} {path}: HTTP {status}")
                    continue
                why = check(how, expected, body.decode())
                if why is not None:
                    self.wrong.append(f"{self.spec['instance_id']} {path}: {why}")
                elif how == "creds":
                    self.role_doc = json.loads(body)
        finally:
            writer.close()

    async def run(self, rounds: int, period: float, start_in: float) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + start_in
        for n in range(rounds):
            self.cold = n == 0
            await asyncio.sleep(max(0.0, t0 + n * period - loop.time()))
            try:
                await asyncio.wait_for(self.walk(), timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                self.errors.append(f"{self.spec['instance_id']} walk: {type(exc).__name__}: {exc}")


def client_main(spec_file: str, rounds: int, period_ms: float) -> None:
    specs = json.loads(Path(spec_file).read_text())
    guests = [Guest(s, rounds) for s in specs]
    period = period_ms / 1000
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())  # every client process is ready: all start together
    cpu0 = 0.0

    async def go() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        nonlocal cpu0
        cpu0 = time.process_time()
        await asyncio.gather(*(g.run(rounds, period, random.uniform(0, period)) for g in guests))

    asyncio.run(go())
    cpu = time.process_time() - cpu0
    print(json.dumps({
        "cpu": cpu,
        "latencies": [x for g in guests for x in g.latencies],
        "first": [x for g in guests for x in g.first],
        "slow": [[p, n] for g in guests for p, n in g.slow.items()],
        "errors": [e for g in guests for e in g.errors],
        "wrong": [w for g in guests for w in g.wrong],
        "roles": {g.spec["instance_id"]: g.role_doc for g in guests},
    }))


def api_main(url: str, key: str, secret: str) -> None:
    """DescribeInstances back to back (all 50 instances) from the start line until the stop line."""
    import boto3
    from botocore.config import Config as BotoConfig

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id=key,
                       aws_secret_access_key=secret, config=BotoConfig(retries={"max_attempts": 1}))
    ec2.describe_instances()
    print("ready", flush=True)
    sys.stdin.readline()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    calls, t0 = 0, time.perf_counter()
    while not stop.is_set():
        ec2.describe_instances()
        calls += 1
    print(json.dumps({"cpu": 0.0, "api_calls": calls, "api_seconds": time.perf_counter() - t0, "latencies": [],
                      "first": [], "slow": [], "errors": [], "wrong": [], "roles": {}}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        spec, rounds, period = sys.argv[2:5]
        client_main(spec, int(rounds), float(period))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--api":
        api_main(*sys.argv[2:5])
        return
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    sys.exit("started by bench/imds_load.py")


if __name__ == "__main__":
    main()
