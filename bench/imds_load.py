"""The metadata service under load: 50 guests booting at once, every answer checked.

    .venv/bin/python bench/imds_load.py [--guests 50] [--rounds 20] [--period 1000] [--clients 10]

ec2d runs in this process as ``ec2d serve --no-instances`` runs (the API on loopback, the runtime
on the fake drivers: instances settle, nothing is booted), except that its metadata service is the
daemon's own (``server.metadata_service()``) with its listener in a VPC-like namespace made here:
the runtime opens it and hands it the default VPC's table itself (store -> ``vpc_state`` ->
``set_instances``), as the daemon does. Through the API: an instance profile (role), then one
instance per guest (RunInstances), each with its own key pair and user-data. The code served is
this checkout's (its root goes first on sys.path), so the same script measures an older checkout.

Each guest is a network namespace whose ``eth0`` has its instance's MAC and private IP, its veth
peer a port of a bridge in the VPC namespace (the gateway; 169.254.169.254 on its ``lo``), with
the per-ENI limits of ``drivers/network/imds_limit`` in place. A guest does what a booting guest
does (``imds_load_guest.py``): PUT a token (its own connection: the answer closes it), then a
cloud-init-like walk of 17 GETs with the token on one keep-alive connection (instance-id,
user-data, meta-data/, local-ipv4, mac, local-hostname, network/interfaces/macs/<mac>/...,
public-keys, iam/security-credentials/ and the role's credentials, the identity document); one
walk every --period ms (open loop, random start offsets), --rounds times. EVERY answer is checked
against that guest's own instance as DescribeInstances, DescribeKeyPairs and the launch request
tell it (not as IMDS renders it); one role credential set per guest is then checked with STS
GetCallerIdentity (its session is the guest's instance). Wrong answers and errors are printed and
make the exit status 1.

Clients: --clients child processes (none shares the server's GIL), each driving its guests on one
asyncio loop with sockets made in the guests' namespaces, all released together. Rows: 1 guest
alone (the baseline), all guests, all guests while a process calls DescribeInstances back to back
(the daemon's loop busy), all guests back to back (throughput). Latency = request written to
whole answer read; CPU per request: this process (ec2d) and the clients, over the phase.
Root only; unique ``ec2dt<hex>`` prefix; namespaces, processes and the data dir are removed at the
end, on failure and on Ctrl-C. Only addresses inside the namespaces made here and loopback are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's orchestrator, not the venv's

from imds_load_guest import IMDS, ROLE, walk_paths  # noqa: E402

GUEST = str(Path(__file__).resolve().parent / "imds_load_guest.py")  # the guests' child processes
PROFILE = "imds-load-profile"
MAC = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")


# --- namespaces ----------------------------------------------------------------------------------


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)


def make_vpc_namespace(prefix: str, created: list[str]) -> str:
    """The VPC-like namespace: 169.254.169.254 on lo and a bridge (the guests' gateway later)."""
    vpc = f"{prefix}-vpc"
    sh("ip", "netns", "add", vpc)
    created.append(vpc)
    sh("ip", "-n", vpc, "link", "set", "lo", "up")
    sh("ip", "-n", vpc, "addr", "add", f"{IMDS}/32", "dev", "lo")
    sh("ip", "-n", vpc, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", vpc, "link", "set", "br0", "up")
    return vpc


def plug_guest(prefix: str, vpc: str, n: int, g: dict[str, Any], created: list[str]) -> None:
    """Guest ``n``: a namespace whose eth0 has the instance's MAC and IP, its peer a bridge port."""
    ns, port = f"{prefix}-g{n}", f"{prefix}p{n}"
    sh("ip", "netns", "add", ns)
    created.append(ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", vpc, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "-n", vpc, "link", "set", port, "master", "br0", "up")
    sh("ip", "-n", ns, "link", "set", "eth0", "address", g["mac"])
    sh("ip", "-n", ns, "addr", "add", f"{g['ip']}/{g['prefixlen']}", "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "-n", ns, "route", "add", "default", "via", g["gateway"])
    g["netns"] = ns


# --- ec2d in this process (API on loopback, fake drivers, the real metadata service) -------------


def daemon_metadata_service(server: Any) -> Any:
    """The metadata service ``ec2d serve`` runs (``server.metadata_service``); a checkout from
    before it existed (the "before" run of docs/bench-imds-load.md) ran ``IMDSServer()``."""
    if hasattr(server, "metadata_service"):
        return server.metadata_service()
    from orchestrator.imds.server import IMDSServer

    return IMDSServer()


class Ec2d:
    """``ec2d serve --no-instances`` in a thread of this process, with the real IMDSServer, whose
    listener for the default VPC the runtime opens in ``vpc_ns`` (other VPCs': on that namespace's
    loopback, unreachable from the guests)."""

    def __init__(self, data_dir: Path, vpc_ns: str, prefix: str) -> None:
        from orchestrator.config import Config
        from orchestrator.images.cache import ensure_image
        from orchestrator.services import bootstrap, images

        config = Config(data_dir=data_dir, instances=False, regions={"us-east-1": ["a"]}, prefix=prefix,
                        memory_overcommit=1000.0, storage_overcommit=1000.0)  # nothing is booted or written
        self.backend = bootstrap.open(config)
        ensure_image("ec2d-tiny", config.cache_dir)
        images.sync_published(self.backend)
        self.vpc_ns = vpc_ns
        self.default_vpc = next(v.id for v in self.backend.store.list("vpc", "us-east-1") if v.data.get("IsDefault"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.runtime: Any = None
        self.runner: Any = None

    def _open_listener(self, netns: str) -> socket.socket:
        from orchestrator.imds.listen import open_listener_in_netns

        if netns == self.runtime.parts.networks["us-east-1"].netns_name(self.default_vpc):
            return open_listener_in_netns(self.vpc_ns)
        return open_listener_in_netns(self.vpc_ns, "127.0.0.1", 0)

    async def _open(self) -> None:
        from aiohttp import web

        from orchestrator import server
        from orchestrator.api.app import make_app
        getattr(server, "tune_process", lambda: None)()  # as ``ec2d serve`` runs (older checkouts: none)
        self.runtime = server.fake_runtime(self.backend)
        self.runtime.parts.imds = daemon_metadata_service(server)
        self.runtime.parts.open_listener = self._open_listener
        self.backend.runtime = self.runtime
        await server.open_runtime(self.runtime)
        self.runner = web.AppRunner(make_app(self.backend), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._open())
        except BaseException as exc:  # handed to start()
            self.failed = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> Ec2d:
        self.thread.start()
        if not self.ready.wait(300) or self.failed is not None:
            raise SystemExit(f"ec2d did not start: {self.failed!r}")
        return self

    def settle(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runtime.settle(60), self.loop).result(120)

    def stop(self) -> None:
        async def close() -> None:
            if self.runner is not None:
                await self.runner.cleanup()
            if self.runtime is not None:
                await self.runtime.close()
                await self.runtime.parts.imds.close()

        if self.thread.is_alive() and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
        self.backend.close()

    def client(self, service: str, **creds: str) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        c = self.backend.credentials
        keys = creds or {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}
        return boto3.client(service, region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{self.port}",
                            config=BotoConfig(retries={"max_attempts": 1}), **keys)


def launch_guests(ec2d: Ec2d, count: int) -> list[dict[str, Any]]:
    """One instance per guest through the API (own key pair and user-data, the role's profile);
    what each guest must be told, as the API describes its instance."""
    import ipaddress

    ec2, iam = ec2d.client("ec2"), ec2d.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
    image = next(i["ImageId"] for i in ec2.describe_images(Owners=["ec2d"])["Images"] if i["State"] == "available")
    ids, user_data = [], {}
    for n in range(count):
        ec2.create_key_pair(KeyName=f"imds-load-{n}", KeyType="ed25519")
        data = f"#!/bin/sh\necho guest {n} {secrets.token_hex(8)}\n"
        out = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                KeyName=f"imds-load-{n}", UserData=data, IamInstanceProfile={"Name": PROFILE})
        iid = out["Instances"][0]["InstanceId"]
        ids.append(iid)
        user_data[iid] = data
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    ec2d.settle()
    keys = {k["KeyName"]: k["PublicKey"].strip()
            for k in ec2.describe_key_pairs(IncludePublicKey=True)["KeyPairs"]}
    account = ec2d.client("sts").get_caller_identity()["Account"]
    found = {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
             for i in r["Instances"]}
    subnets = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets()["Subnets"]}
    guests = []
    for iid in ids:
        i = found[iid]
        net = ipaddress.ip_network(subnets[i["SubnetId"]])
        guests.append({
            "instance_id": iid, "ip": i["PrivateIpAddress"], "mac": i["NetworkInterfaces"][0]["MacAddress"],
            "hostname": i["PrivateDnsName"], "eni": i["NetworkInterfaces"][0]["NetworkInterfaceId"],
            "subnet": i["SubnetId"], "vpc": i["VpcId"], "key_name": i["KeyName"], "public_key": keys[i["KeyName"]],
            "user_data": user_data[iid], "account": account, "image": i["ImageId"], "type": i["InstanceType"],
            "zone": i["Placement"]["AvailabilityZone"], "prefixlen": net.prefixlen,
            "gateway": str(net.network_address + 1),
        })
    return guests


def check_roles(ec2d: Ec2d, roles: dict[str, dict[str, Any] | None]) -> list[str]:
    """Each guest's role credentials, as IMDS served them, are a session of its own instance."""
    wrong = []
    for iid, doc in roles.items():
        if doc is None:
            wrong.append(f"{iid}: no role credentials served")
            continue
        sts = ec2d.client("sts", aws_access_key_id=doc["AccessKeyId"],
                          aws_secret_access_key=doc["SecretAccessKey"], aws_session_token=doc["Token"])
        arn = sts.get_caller_identity()["Arn"]
        if not arn.endswith(f":assumed-role/{ROLE}/{iid}"):
            wrong.append(f"{iid}: its role credentials are {arn}")
    return wrong


# --- phases and report ---------------------------------------------------------------------------


def run_phase(guests: list[dict[str, Any]], clients: int, rounds: int, period_ms: float,
              workdir: Path, procs: list[subprocess.Popen[str]], api: list[str] | None = None) -> dict[str, Any]:
    """Every guest's walks from ``clients`` child processes started together (with ``api``: while a
    process calls DescribeInstances back to back); the merged results."""
    groups = [guests[i::clients] for i in range(min(clients, len(guests)))]
    mine = []
    api_proc = None
    if api is not None:
        api_proc = subprocess.Popen([sys.executable, GUEST, "--api", *api],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(api_proc)
    for n, group in enumerate(groups):
        spec = workdir / f"guests-{n}.json"
        spec.write_text(json.dumps(group))
        proc = subprocess.Popen([sys.executable, GUEST, "--client", str(spec), str(rounds),
                                 str(period_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        mine.append(proc)
    everyone = [*mine, api_proc] if api_proc is not None else mine
    for proc in everyone:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n", "a client process failed"
    start_at = time.time() + 0.2
    cpu0 = os.times()
    for proc in everyone:
        assert proc.stdin is not None
        proc.stdin.write(f"{start_at}\n")
        proc.stdin.flush()
    merged: dict[str, Any] = {"latencies": [], "first": [], "slow": [], "errors": [], "wrong": [], "roles": {},
                              "client_cpu": 0.0}
    for proc in mine:
        out, _ = proc.communicate(timeout=600 + rounds * period_ms / 1000)
        procs.remove(proc)
        if proc.returncode != 0:
            merged["errors"].append(f"client process exited {proc.returncode}")
            continue
        part = json.loads(out)
        merged["client_cpu"] += part["cpu"]
        for key in ("latencies", "first", "slow", "errors", "wrong"):
            merged[key] += part[key]
        merged["roles"].update(part["roles"])
    merged["seconds"] = time.time() - start_at
    if api_proc is not None:
        out, _ = api_proc.communicate("stop\n", timeout=120)
        procs.remove(api_proc)
        done = json.loads(out)
        merged["api"] = done["api_calls"] / done["api_seconds"]
    cpu1 = os.times()
    merged["server_cpu"] = cpu1.user + cpu1.system - cpu0.user - cpu0.system  # this process: ec2d
    merged["server_sys"] = cpu1.system - cpu0.system
    return merged


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def row(name: str, r: dict[str, Any]) -> str:
    lat = sorted(r["latencies"] + r["first"])
    first, later = sorted(r["first"]), sorted(r["latencies"])
    return (f"| {name} | {len(lat)} | {len(lat) / r['seconds']:.0f} | {statistics.median(lat) if lat else 0:.2f} | "
            f"{pct(lat, 0.90):.2f} | {pct(lat, 0.99):.2f} | {lat[-1] if lat else 0:.2f} | {pct(first, 0.99):.2f} | "
            f"{pct(later, 0.99):.2f} | {1e6 * r['server_cpu'] / max(1, len(lat)):.0f} "
            f"({1e6 * r['server_sys'] / max(1, len(lat)):.0f}) | "
            f"{1e6 * r['client_cpu'] / max(1, len(lat)):.0f} | {len(r['errors'])} | {len(r['wrong'])} |")


def bench(args: argparse.Namespace, prefix: str, workdir: Path, created: list[str],
          procs: list[subprocess.Popen[str]]) -> int:
    from orchestrator.drivers.network import imds_limit

    load = os.getloadavg()
    vpc = make_vpc_namespace(prefix, created)
    ec2d = Ec2d(workdir / "data", vpc, prefix).start()
    try:
        guests = launch_guests(ec2d, args.guests)
        gateways = sorted({f"{g['gateway']}/{g['prefixlen']}" for g in guests})
        for gw in gateways:
            sh("ip", "-n", vpc, "addr", "add", gw, "dev", "br0")
        for n, g in enumerate(guests):
            plug_guest(prefix, vpc, n, g, created)
        imds_limit.ensure(vpc)  # EC2's per-ENI packet limit and the connection cap, as in a VPC
        c = ec2d.backend.credentials
        api = [f"http://127.0.0.1:{ec2d.port}", c.access_key_id, c.secret_access_key]
        n, every = len(guests), f"a walk every {args.period:g} ms"
        phases = [(f"1 guest alone, {every}", guests[:1], 1, args.period, None),
                  (f"{n} guests, {every} each", guests, args.clients, args.period, None),
                  (f"{n} guests, {every} each, API busy", guests, args.clients, args.period, api),
                  (f"{n} guests, back-to-back walks", guests, args.clients, 0.0, None)]
        results = [(name, run_phase(gs, clients, args.rounds, period, workdir, procs, calls))
                   for name, gs, clients, period, calls in phases if not (period == 0 and args.no_saturate)]
        role_wrong = check_roles(ec2d, results[1][1]["roles"])
        dropped = imds_limit.dropped(vpc)
    finally:
        ec2d.stop()
    walk = len(walk_paths(guests[0])) + 1
    print(f"IMDS under load: {len(guests)} guest namespaces on one bridge -> ec2d's metadata service "
          f"({type(ec2d.runtime.parts.imds).__name__}, tables built by the runtime); {args.rounds} walks of {walk} requests (token PUT + {walk - 1} GETs) per guest; "
          f"{args.clients} client processes; python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print("| phase | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | p99 1st walk | p99 later "
          "| server CPU µs/req (kernel) | clients CPU µs/req | errors | wrong |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(row(name, r))
    for name, r in results:
        slow: dict[str, int] = {}
        for path, n in r["slow"]:
            key = MAC.sub("<mac>", path)
            slow[key] = slow.get(key, 0) + n
        top = sorted(slow.items(), key=lambda kv: -kv[1])[:4]
        print(f"  over 5 ms in '{name}': " + (", ".join(f"{p} {n}" for p, n in top) or "none")
              + (f"; the API answered {r['api']:.0f} DescribeInstances/s meanwhile" if "api" in r else ""))
    print(f"role credentials checked with STS GetCallerIdentity: {len(results[1][1]['roles'])} guests, "
          f"{len(role_wrong)} wrong; per-ENI limit dropped {dropped} packets")
    bad = [e for _, r in results for e in r["errors"] + r["wrong"]] + role_wrong
    for line in bad[:50]:
        print("  ", line)
    return 1 if bad else 0


def cleanup(created: list[str], procs: list[subprocess.Popen[str]], workdir: Path) -> None:
    for proc in procs:
        proc.kill()
        proc.wait(10)
    for name in reversed(created):  # a guest's veth goes with its namespace
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guests", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20, help="walks per guest")
    parser.add_argument("--period", type=float, default=1000.0, help="ms between a guest's walk starts")
    parser.add_argument("--clients", type=int, default=10, help="client processes")
    parser.add_argument("--no-saturate", action="store_true", help="skip the back-to-back row")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/imds_load.py needs root (network namespaces)")
    prefix = "ec2dt" + secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    created: list[str] = []
    procs: list[subprocess.Popen[str]] = []
    try:
        code = bench(args, prefix, workdir, created, procs)
    finally:
        cleanup(created, procs, workdir)
    sys.exit(code)


if __name__ == "__main__":
    main()
