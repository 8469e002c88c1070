"""IAM policy evaluation cost: microseconds per `evaluate` for the requests ec2d authorizes most.

    .venv/bin/python bench/iam_eval.py [--n 20000]

Cases: a DescribeInstances against AmazonEC2ReadOnlyAccess (allowed on "*"), a StopInstances on a
tagged instance against AmazonEC2ReadOnlyAccess + a tag-conditioned policy (allowed by the
condition; the read-only policy's statements are scanned first), the same on an instance of
another team (implicit deny: every statement is tried), an s3:PutObject against ReadOnlyAccess
(~2,000 actions in one statement, denied) and a session-policy intersection. Also the one-off
parse cost of each policy. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from orchestrator.domain.iam import managed
from orchestrator.domain.iam.policy import Decision, Request, evaluate, parse

ACCOUNT = "111122223333"
INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"
PRINCIPAL = {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:root"]}
TAGGED = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "StopStartTeamA", "Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:StartInstances"],
         "Resource": "arn:aws:ec2:*:*:instance/*",
         "Condition": {"StringEquals": {"ec2:ResourceTag/team": "a"}, "Bool": {"aws:SecureTransport": "true"}}},
        {"Sid": "NoProd", "Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*",
         "Condition": {"StringEquals": {"ec2:ResourceTag/env": "prod"}}},
    ],
}


def _context(team: str) -> dict[str, object]:
    return {"aws:SourceIp": "127.0.0.1", "aws:SecureTransport": True, "aws:username": "alice",
            "ec2:Region": "us-east-1", "ec2:ResourceTag/team": team, "aws:ResourceTag/team": team,
            "ec2:InstanceType": "t3.micro"}


def _time(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(median, best) of 5 batches, in microseconds per call."""
    batches = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        batches.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(batches), min(batches)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="evaluations per batch (5 batches)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ec2_read = managed.by_name("AmazonEC2ReadOnlyAccess").policy
    t1 = time.perf_counter()
    read_only = managed.by_name("ReadOnlyAccess").policy
    t2 = time.perf_counter()
    tagged = parse(TAGGED)
    t3 = time.perf_counter()
    print(f"parse: AmazonEC2ReadOnlyAccess {(t1 - t0) * 1e3:.2f} ms, ReadOnlyAccess {(t2 - t1) * 1e3:.1f} ms, "
          f"tag policy {(t3 - t2) * 1e3:.2f} ms")

    s3_get = parse({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    cases: list[tuple[str, Callable[[], Request], list, dict, Decision]] = [
        ("DescribeInstances / EC2ReadOnly",
         lambda: Request("ec2:DescribeInstances", "*", _context("a"), PRINCIPAL), [ec2_read], {}, Decision.ALLOW),
        ("StopInstances team=a / EC2ReadOnly+tag",
         lambda: Request("ec2:StopInstances", INSTANCE, _context("a"), PRINCIPAL), [ec2_read, tagged], {}, Decision.ALLOW),
        ("StopInstances team=b / EC2ReadOnly+tag",
         lambda: Request("ec2:StopInstances", INSTANCE, _context("b"), PRINCIPAL), [ec2_read, tagged], {},
         Decision.IMPLICIT_DENY),
        ("s3:PutObject / ReadOnlyAccess",
         lambda: Request("s3:PutObject", "arn:aws:s3:::b/x", {}, PRINCIPAL), [read_only], {}, Decision.IMPLICIT_DENY),
        ("s3:GetObject / S3FullAccess + session",
         lambda: Request("s3:GetObject", "arn:aws:s3:::b/x", {}, PRINCIPAL),
         [managed.by_name("AmazonS3FullAccess").policy], {"session": [s3_get]}, Decision.ALLOW),
    ]
    print(f"{'case':44} {'median us':>10} {'best us':>9}  decision")
    for name, make, identity, extra, expected in cases:
        got = evaluate(make(), identity, **extra)
        median, best = _time(lambda make=make, identity=identity, extra=extra: evaluate(make(), identity, **extra),
                             args.n)
        flag = "" if got is expected else f"  (expected {expected.value})"
        print(f"{name:44} {median:10.2f} {best:9.2f}  {got.value}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
