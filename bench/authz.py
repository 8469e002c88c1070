"""IAM enforcement's cost at the API edge: requests/s of the same EC2 requests signed by the root
key (no evaluation) and by an IAM user (policies read and evaluated per request), same run.

    PYTHONPATH=. .venv/bin/python bench/authz.py [--n 3000] [--rounds 5]

Starts ``ec2d serve --no-instances`` (fake drivers) on loopback with a scratch data dir, makes an
IAM user with AmazonEC2ReadOnlyAccess plus a tag-conditioned StopInstances policy, and one
instance tagged team=a. Cases: DescribeInstances (authorized on "*") and StopInstances DryRun on
the tagged instance (authorized on its ARN with ec2:ResourceTag/team: answered DryRunOperation).
Each request is signed once and replayed over one keep-alive connection (the client costs nothing
but the socket). Root's and the user's requests alternate one by one (who goes first alternates
too), so a slow spell of the machine (a shared host's neighbours) falls on both alike; each caller's
time is the sum over its own requests. Per round: requests/s of each caller and the overhead (the
user's time per request over root's); printed: the median round, the spread of the overhead over
the rounds, and the median per-request latency of each caller (which ignores the slow spells).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import BIN, free_port, wait_port  # noqa: E402

TAGGED = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:StartInstances"], "Resource": "arn:aws:ec2:*:*:instance/*",
     "Condition": {"StringEquals": {"ec2:ResourceTag/team": "a"}}}]}
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def signed(port: int, creds: dict[str, str], params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = urlencode({**params, "Version": "2016-11-15"}).encode()
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"]), "ec2", "us-east-1") \
        .add_auth(request)
    return body, dict(request.headers.items())


def send(conn: http.client.HTTPConnection, req: tuple[bytes, dict[str, str]], status: int) -> float:
    """Seconds of one round trip of ``req``, which must be answered ``status``."""
    body, headers = req
    t0 = time.perf_counter()
    conn.request("POST", "/", body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    spent = time.perf_counter() - t0
    if answer.status != status:
        raise SystemExit(f"unexpected answer {answer.status} (wanted {status})")
    return spent


def interleaved(conn: http.client.HTTPConnection, root: tuple[bytes, dict[str, str]],
                user: tuple[bytes, dict[str, str]], n: int, status: int) -> tuple[list[float], list[float]]:
    """``n`` round trips of each, alternating one by one: the latencies of root's and the user's."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(n):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for who in order:
            times[who].append(send(conn, (root, user)[who], status))
    return times


def setup(port: int, root: dict[str, str]) -> tuple[dict[str, str], str]:
    url = f"http://127.0.0.1:{port}"
    cfg = BotoConfig(retries={"max_attempts": 1})
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=url, config=cfg, **root)
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=url, config=cfg, **root)
    iam.create_user(UserName="bench")
    iam.attach_user_policy(UserName="bench", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    iam.put_user_policy(UserName="bench", PolicyName="team-a", PolicyDocument=json.dumps(TAGGED))
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    deadline = time.time() + 120
    while not (found := [i for i in ec2.describe_images(Owners=["ec2d"])["Images"] if i["State"] == "available"]):
        if time.time() > deadline:
            raise SystemExit("no AMI published")
        time.sleep(0.2)
    made = ec2.run_instances(ImageId=found[0]["ImageId"], InstanceType="t3.nano", MinCount=1, MaxCount=1,
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "a"}]}])
    iid = made["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}, iid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="requests per caller and round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per case (the median is printed)")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="ec2dbench-authz-"))
    port = free_port()
    proc = subprocess.Popen([str(BIN / "ec2d"), "--data-dir", str(data), "serve", "--listen", f"127.0.0.1:{port}",
                             "--log-level", "WARNING", "--no-instances"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        out = json.loads(subprocess.check_output([str(BIN / "ec2d"), "--data-dir", str(data), "credentials"]))
        root = {"aws_access_key_id": out["AccessKeyId"], "aws_secret_access_key": out["SecretAccessKey"]}
        user, iid = setup(port, root)
        cases = {
            "DescribeInstances": ({"Action": "DescribeInstances"}, 200),
            "StopInstances DryRun (tagged)": ({"Action": "StopInstances", "InstanceId.1": iid, "DryRun": "true"}, 412),
        }
        conn = http.client.HTTPConnection("127.0.0.1", port)
        print(f"{'case':<32} {'root req/s':>10} {'user req/s':>10} {'overhead':>9} {'added':>8}"
              f" {'ovh min..max':>14} {'root p50':>9} {'user p50':>9}")
        for name, (params, status) in cases.items():
            root_req, user_req = (signed(port, creds, params) for creds in (root, user))
            interleaved(conn, root_req, user_req, 200, status)  # warm-up
            rounds = []
            p50s: tuple[list[float], list[float]] = ([], [])
            for _ in range(args.rounds):
                r_times, u_times = interleaved(conn, root_req, user_req, args.n, status)
                rounds.append((len(r_times) / sum(r_times), len(u_times) / sum(u_times)))
                p50s[0].extend(r_times)
                p50s[1].extend(u_times)
            overheads = sorted(r / u - 1 for r, u in rounds)
            r, u = rounds[sorted(range(len(rounds)), key=lambda i: rounds[i][0] / rounds[i][1])[len(rounds) // 2]]
            added = (1 / u - 1 / r) * 1e6
            rp, up = statistics.median(p50s[0]) * 1e6, statistics.median(p50s[1]) * 1e6
            print(f"{name:<32} {r:>10.0f} {u:>10.0f} {(r / u - 1) * 100:>8.1f}% {added:>5.0f} us"
                  f" {overheads[0] * 100:>5.1f}..{overheads[-1] * 100:<5.1f}% {rp:>6.0f} us {up:>6.0f} us")
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
