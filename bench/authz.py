"""IAM enforcement's cost at the API edge: requests/s of the same EC2 requests signed by the root
key (no evaluation) and by an IAM user (policies read and evaluated per request), same run.

    PYTHONPATH=. .venv/bin/python bench/authz.py [--n 400] [--rounds 7]

Starts ``ec2d serve --no-instances`` (fake drivers) on loopback with a scratch data dir, makes an
IAM user with AmazonEC2ReadOnlyAccess plus a tag-conditioned StopInstances policy, and one
instance tagged team=a. Cases: DescribeInstances (authorized on "*") and StopInstances DryRun on
the tagged instance (authorized on its ARN with ec2:ResourceTag/team: answered DryRunOperation).
Each request is signed once and replayed over one keep-alive connection (the client costs nothing
but the socket); root and user batches alternate, the median batch is reported. Prints figures:
requests/s, the overhead (the user's time per request over root's) and the time it adds; then the
same from the server process's CPU time per request (``/proc/PID/stat``, 10 ms ticks: a batch of
600 is ~60 of them), which a busy machine disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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
TICKS = os.sysconf("SC_CLK_TCK")


def signed(port: int, creds: dict[str, str], params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = urlencode({**params, "Version": "2016-11-15"}).encode()
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": FORM})
    SigV4Auth(Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"]), "ec2", "us-east-1") \
        .add_auth(request)
    return body, dict(request.headers.items())


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def batch(conn: http.client.HTTPConnection, req: tuple[bytes, dict[str, str]], n: int, status: int,
          pid: int) -> tuple[float, float]:
    """Requests per second of ``n`` sends of ``req`` (each answered ``status``), and the server's
    CPU seconds per request."""
    body, headers = req
    c0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    for _ in range(n):
        conn.request("POST", "/", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != status:
            raise SystemExit(f"unexpected answer {answer.status} (wanted {status})")
    return n / (time.perf_counter() - t0), (cpu_seconds(pid) - c0) / n


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
    ap.add_argument("--n", type=int, default=400, help="requests per batch")
    ap.add_argument("--rounds", type=int, default=7, help="batches per caller and case")
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
        print(f"{'case':<32} {'root req/s':>10} {'user req/s':>10} {'overhead':>9} {'added':>9}"
              f" {'root cpu':>9} {'user cpu':>9} {'cpu ovh':>8} {'cpu add':>8}")
        for name, (params, status) in cases.items():
            reqs = {who: signed(port, creds, params) for who, creds in (("root", root), ("user", user))}
            for who in reqs:  # warm-up
                batch(conn, reqs[who], 50, status, proc.pid)
            rates: dict[str, list[float]] = {"root": [], "user": []}
            cpu: dict[str, list[float]] = {"root": [], "user": []}
            for _ in range(args.rounds):
                for who in ("root", "user"):
                    rate, spent = batch(conn, reqs[who], args.n, status, proc.pid)
                    rates[who].append(rate)
                    cpu[who].append(spent)
            r, u = statistics.median(rates["root"]), statistics.median(rates["user"])
            added = (1 / u - 1 / r) * 1e6
            cr, cu = statistics.median(cpu["root"]), statistics.median(cpu["user"])
            print(f"{name:<32} {r:>10.0f} {u:>10.0f} {(r / u - 1) * 100:>8.1f}% {added:>6.0f} us"
                  f" {cr * 1e6:>6.0f} us {cu * 1e6:>6.0f} us {(cu / cr - 1) * 100:>7.1f}% {(cu - cr) * 1e6:>5.0f} us")
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
