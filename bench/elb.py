"""Load balancer benchmark: HTTP through an ec2d Application Load Balancer (HAProxy in the VPC's
namespace) against the same requests straight to one target, in the same run; then the time from
a target failing to ``unhealthy`` (out of rotation) against the configured interval x threshold.

    .venv/bin/python bench/elb.py [--requests N] [--concurrency C] [--interval S] [--threshold N] [--failures K]

ec2d runs in this process with its own prefix (ec2dt + 4 hex) and a temporary data dir; two
ec2d-tiny targets (busybox httpd, 1 vCPU each under TCG) in two zones behind one ALB. The client
runs in the VPC's namespace (HTTP/1.0, a new connection per request, C threads) and talks to a node
address of the load balancer or to a target's private address. Everything is terminated, deleted
and swept at the end, on failure and on Ctrl-C. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from ec2d_server import RunningEc2d, free_port, make_test_prefix, tiny_image  # noqa: E402
from guests import instance_netns, private_key, ssh  # noqa: E402

from orchestrator.config import Config  # noqa: E402
from orchestrator.imds.listen import connect_in_netns  # noqa: E402

WWW = "mkdir -p /tmp/www && cat /run/ec2d-tiny/instance-id > /tmp/www/index.html && echo ok > /tmp/www/health"
HTTPD = "busybox httpd -p 80 -h /tmp/www"
STOP_HTTPD = "sudo kill $(ps | awk '/[h]ttpd -p 80/ {print $1}')"


def get(netns: str, ip: str, path: str = "/") -> tuple[bool, float]:
    """One HTTP/1.0 GET: (answered 200, seconds)."""
    t = time.perf_counter()
    try:
        with connect_in_netns(netns, ip, 80, timeout=5) as sock:
            sock.settimeout(5)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return False, time.perf_counter() - t
    return data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), time.perf_counter() - t


def load(netns: str, ip: str, requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` GETs from ``concurrency`` threads: req/s, p50/p99 ms, failures."""
    lat: list[float] = []
    failed = 0
    lock = threading.Lock()
    left = iter(range(requests))

    def worker() -> None:
        nonlocal failed
        for _ in left:
            ok, took = get(netns, ip)
            with lock:
                lat.append(took)
                failed += not ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"rps": len(lat) / wall, "p50": statistics.median(lat) * 1000,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, "failed": failed}


class Bench:
    def __init__(self, interval: int, threshold: int) -> None:
        self.interval, self.threshold = interval, threshold
        self.data_dir = Path(tempfile.mkdtemp(prefix="ec2d-bench-elb-"))
        self.server: RunningEc2d | None = None
        self.ids: list[str] = []
        self.made: dict[str, str] = {}

    def start(self) -> None:
        config = Config(data_dir=self.data_dir, listen=f"127.0.0.1:{free_port()}", prefix=make_test_prefix())
        self.server = RunningEc2d(config).start()
        self.ec2, self.elb = self.server.client(), self.server.client("elbv2")
        tag = uuid.uuid4().hex[:6]
        key = self.ec2.create_key_pair(KeyName=f"elb-{tag}", KeyType="ed25519")
        self.key = private_key(key["KeyMaterial"])
        vpc = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnets = sorted(self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"],
                         key=lambda s: s["AvailabilityZone"])[:2]
        sg = self.ec2.create_security_group(GroupName=f"elb-{tag}", Description="bench", VpcId=vpc)["GroupId"]
        self.made["sg"] = sg
        self.ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        image = tiny_image(self.ec2)
        for s in subnets:
            self.ids += [i["InstanceId"] for i in self.ec2.run_instances(
                ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=key["KeyName"],
                SecurityGroupIds=[sg], SubnetId=s["SubnetId"],
                UserData=f"#!/bin/sh\n{WWW} && {HTTPD}\n")["Instances"]]
        lb = self.elb.create_load_balancer(Name=f"bench-{tag}", Subnets=[s["SubnetId"] for s in subnets],
                                           SecurityGroups=[sg], Scheme="internal")["LoadBalancers"][0]
        self.made["lb"] = lb["LoadBalancerArn"]
        tg = self.elb.create_target_group(
            Name=f"bench-{tag}", Protocol="HTTP", Port=80, VpcId=vpc, HealthCheckPath="/health",
            HealthCheckIntervalSeconds=self.interval, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2, UnhealthyThresholdCount=self.threshold)["TargetGroups"][0]
        self.tg = self.made["tg"] = tg["TargetGroupArn"]
        self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg}])
        self.ec2.get_waiter("instance_running").wait(InstanceIds=self.ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        self.elb.register_targets(TargetGroupArn=self.tg, Targets=[{"Id": i} for i in self.ids])
        self.elb.get_waiter("target_in_service").wait(TargetGroupArn=self.tg, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        inst = {i["InstanceId"]: i for r in self.ec2.describe_instances(InstanceIds=self.ids)["Reservations"]
                for i in r["Instances"]}
        self.netns = instance_netns(self.server, inst[self.ids[0]])
        self.target_ips = [inst[i]["PrivateIpAddress"] for i in self.ids]
        enis = self.ec2.describe_network_interfaces(Filters=[
            {"Name": "description", "Values": [f"ELB app/bench-{tag}/*"]}])["NetworkInterfaces"]
        self.node_ip = enis[0]["PrivateIpAddress"]

    def failover(self) -> float:
        """Stop the first target's server; seconds until DescribeTargetHealth says unhealthy, then
        restart it and wait for healthy again."""
        guest = ssh(self.netns, self.target_ips[0], self.key)
        try:
            t0 = time.monotonic()
            guest.run(STOP_HTTPD)
            while self._state(self.ids[0]) != "unhealthy":
                time.sleep(0.1)
            took = time.monotonic() - t0
            guest.run(f"sudo {HTTPD}")
            while self._state(self.ids[0]) != "healthy":
                time.sleep(0.2)
            return took
        finally:
            guest.close()

    def _state(self, iid: str) -> str:
        found = self.elb.describe_target_health(TargetGroupArn=self.tg, Targets=[{"Id": iid}])
        return str(found["TargetHealthDescriptions"][0]["TargetHealth"]["State"])

    def stop(self) -> None:
        if self.server is None:
            return
        try:
            if "lb" in self.made:
                self.elb.delete_load_balancer(LoadBalancerArn=self.made["lb"])
            if self.ids:
                self.ec2.terminate_instances(InstanceIds=self.ids)
        finally:
            self.server.stop()
            shutil.rmtree(self.data_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--threshold", type=int, default=2)
    ap.add_argument("--failures", type=int, default=3)
    args = ap.parse_args()
    bench = Bench(args.interval, args.threshold)
    try:
        t = time.monotonic()
        bench.start()
        print(f"set up (2 targets healthy) in {time.monotonic() - t:.1f}s; client in {bench.netns}", flush=True)
        load(bench.netns, bench.node_ip, 100, args.concurrency)  # warm up both paths
        load(bench.netns, bench.target_ips[0], 100, args.concurrency)
        rows = []
        for rnd in range(2):  # alternate, so a slow spell of the host hits both
            for name, ip in (("direct to one target", bench.target_ips[0]), ("through the ALB", bench.node_ip)):
                rows.append((rnd, name, load(bench.netns, ip, args.requests, args.concurrency)))
        print(f"\n{args.requests} GETs per row, {args.concurrency} concurrent, new connection each:")
        print(f"{'path':<24}{'round':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}")
        for rnd, name, r in rows:
            print(f"{name:<24}{rnd:>6}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['failed']:>8}")
        direct = statistics.mean(r["rps"] for _, n, r in rows if n.startswith("direct"))
        alb = statistics.mean(r["rps"] for _, n, r in rows if n.startswith("through"))
        print(f"ratio ALB/direct req/s: {alb / direct:.2f}")
        budget = args.interval * args.threshold
        times = [bench.failover() for _ in range(args.failures)]
        print(f"\ntarget failure -> unhealthy (out of rotation): {', '.join(f'{t:.1f}s' for t in times)}; "
              f"interval x threshold = {args.interval}s x {args.threshold} = {budget}s "
              f"(p50 {statistics.median(times):.1f}s = {statistics.median(times) / budget:.2f}x)")
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
