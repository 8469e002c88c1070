"""Security-group fuzz figures: no rule the API accepts breaks the compiler, and what the firewall
does to real traffic is what the rules say.

    .venv/bin/python bench/sgfuzz.py [--seed N] [--rule-sets 5000] [--http-rule-sets 200] \
                                     [--traffic-rule-sets 20]

1. rule fuzz, service: ``--rule-sets`` random rule sets (1-4 AuthorizeSecurityGroupIngress/Egress
   requests of 1-3 permissions each, half of them deliberately invalid: IPv6 in IpRanges, ICMP
   type/code out of range, bad port ranges, protocol names/numbers, prefix lists, bad group
   references, descriptions) through the security-group service on a model-only backend. Every
   accepted rule set is compiled by the strict compiler (no quarantine) and checked with
   ``nft -c`` in a scratch namespace; every rejection must be an EC2 error of a known code.
2. rule fuzz, HTTP: the same through boto3 against a real ec2d (parser, serializer, the daemon's
   own firewall sync of every accepted rule).
3. traffic fuzz: two real ec2d-tiny guests; ``--traffic-rule-sets`` random valid rule sets applied
   through boto3 to their groups, then 10 flows per set (TCP 22/7001/7002/7003 and ICMP echo, both
   directions) tried from inside the guests over SSH and compared with firewall.allows(). The
   first set is a calibration (everything open between the two, retried until the listeners
   answer) and is counted; "open" is how many flows the rules allow, the rest must stay closed.

Prints one table. Root only; everything it makes carries an ``ec2dt<hex>`` prefix and is removed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "instances"))

import sgfuzz  # noqa: E402
from ec2d_server import start_ec2d  # noqa: E402
from guests import instance_netns, private_key, ssh, wait_state  # noqa: E402

from orchestrator.config import Config  # noqa: E402
from orchestrator.hostscope import sweep  # noqa: E402
from orchestrator.services import bootstrap  # noqa: E402


def rule_fuzz_service(seed: int, n: int, prefix: str) -> tuple[sgfuzz.FuzzStats, float]:
    with tempfile.TemporaryDirectory(prefix="ec2dt-sgfuzz-") as tmp:
        backend = bootstrap.open(Config(data_dir=Path(tmp), instances=False, prefix=prefix))
        scratch = sgfuzz.ScratchNs(prefix)
        try:
            target = sgfuzz.ServiceTarget(backend)
            started = time.monotonic()
            st = sgfuzz.RuleFuzz(seed, target.authorize, target.describe, target.new_groups, scratch).run(n)
            target.cleanup()
            return st, time.monotonic() - started
        finally:
            scratch.close()
            backend.close()


def tiny_image(ec2) -> str:
    images = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
    return max(images, key=lambda i: i["CreationDate"])["ImageId"]


def with_daemon(seed: int, http_sets: int, traffic_sets: int) -> dict[str, tuple[sgfuzz.FuzzStats, float]]:
    out: dict[str, tuple[sgfuzz.FuzzStats, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ec2dt-sgfuzz-") as tmp:
        server = start_ec2d(Path(tmp) / "data")
        prefix = server.config.prefix
        try:
            ec2 = server.client()
            if http_sets:
                vpc = ec2.create_vpc(CidrBlock="10.67.0.0/16")["Vpc"]["VpcId"]
                scratch = sgfuzz.ScratchNs(prefix)
                try:
                    target = sgfuzz.ApiTarget(ec2, vpc)
                    started = time.monotonic()
                    st = sgfuzz.RuleFuzz(seed, target.authorize, target.describe, target.new_groups,
                                         scratch).run(http_sets)
                    target.cleanup()
                    out["http"] = st, time.monotonic() - started
                finally:
                    scratch.close()
            if traffic_sets:
                out["traffic"] = traffic(seed, server, ec2, traffic_sets)
        finally:
            server.stop(sweep=False)
            sweep(prefix)
    return out


def traffic(seed: int, server, ec2, n: int) -> tuple[sgfuzz.FuzzStats, float]:
    made = ec2.create_key_pair(KeyName=f"sgfz-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    groups = [ec2.create_security_group(GroupName=f"sgfz-{x}", Description="fuzz", VpcId=vpc)["GroupId"]
              for x in "ab"]
    insts = [ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                               KeyName=made["KeyName"], SecurityGroupIds=[g],
                               Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0] for g in groups]
    ids = [i["InstanceId"] for i in insts]
    nodes = []
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        subnet = ec2.describe_subnets(SubnetIds=[insts[0]["SubnetId"]])["Subnets"][0]["CidrBlock"]
        for name, inst, gid in zip("ab", insts, groups, strict=True):
            guest = ssh(instance_netns(server, inst), inst["PrivateIpAddress"], key, timeout=240)
            node = sgfuzz.Node(name, inst["PrivateIpAddress"], gid, guest)
            sgfuzz.start_listeners(node)
            nodes.append(node)
        fuzz = sgfuzz.TrafficFuzz(seed, ec2, nodes[0], nodes[1], subnet)
        fuzz.calibrate()
        started = time.monotonic()
        for _ in range(n):
            fuzz.one()
        return fuzz.stats, time.monotonic() - started
    finally:
        for node in nodes:
            node.guest.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 180)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rule-sets", type=int, default=5000)
    ap.add_argument("--http-rule-sets", type=int, default=200)
    ap.add_argument("--traffic-rule-sets", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}")
    rows: dict[str, tuple[sgfuzz.FuzzStats, float]] = {}
    if args.rule_sets:
        rows["rules via service"] = rule_fuzz_service(seed, args.rule_sets, f"ec2dt{os.urandom(2).hex()}")
    for name, value in with_daemon(seed, args.http_rule_sets, args.traffic_rule_sets).items():
        rows["rules via HTTP" if name == "http" else "real traffic"] = value
    print(f"\n{'fuzz':<18} {'rule sets':>9} {'requests':>8} {'accepted':>8} {'rejected':>8} "
          f"{'uncompilable':>12} {'bad errors':>10} {'flows':>6} {'open':>5} {'mismatch':>8} {'seconds':>8}")
    failed = False
    for name, (st, secs) in rows.items():
        print(f"{name:<18} {st.rule_sets:>9} {st.requests:>8} {st.accepted:>8} {st.rejected:>8} "
              f"{len(st.uncompilable):>12} {len(st.bad_errors):>10} {st.flows:>6} {st.open_flows:>5} "
              f"{len(st.mismatches):>8} "
              f"{secs:>8.1f}")
        failed |= bool(st.uncompilable or st.bad_errors or st.mismatches)
    for name, (st, _) in rows.items():
        if st.by_code:
            print(f"\n{name}: rejections by code: " + ", ".join(f"{k} {v}" for k, v in sorted(st.by_code.items())))
        for finding in (st.uncompilable + st.bad_errors + st.mismatches)[:10]:
            print(f"  finding: {finding}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
