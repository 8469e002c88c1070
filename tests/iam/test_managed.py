"""AWS-managed policies: present by ARN with their real documents, and evaluated as AWS would."""

from __future__ import annotations

import json

import pytest
from iam_helpers import ALLOW, IMPLICIT, INSTANCE

from orchestrator.domain.iam import managed
from orchestrator.domain.iam.policy import Request, evaluate

REQUIRED = [
    "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "AmazonEC2FullAccess", "AmazonEC2ReadOnlyAccess",
    "ReadOnlyAccess", "AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "IAMReadOnlyAccess",
    "AWSBillingReadOnlyAccess", "ElasticLoadBalancingFullAccess", "AutoScalingFullAccess",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_present_by_arn(name: str) -> None:
    policy = managed.by_arn(f"arn:aws:iam::aws:policy/{name}")
    assert policy is not None and policy.name == name and policy.path == "/"
    assert policy.default_version_id.startswith("v")
    assert policy.document["Version"] == "2012-10-17"
    assert json.loads(policy.document_json) == policy.document


def test_job_function_path_and_unknown_arn() -> None:
    billing = managed.by_arn("arn:aws:iam::aws:policy/job-function/Billing")
    assert billing is not None and billing.path == "/job-function/"
    assert managed.by_arn("arn:aws:iam::aws:policy/NoSuchPolicy") is None
    assert managed.by_name("AdministratorAccess").arn == "arn:aws:iam::aws:policy/AdministratorAccess"


def test_source_is_recorded() -> None:
    src = managed.source()
    assert src["moto_license"] == "Apache-2.0" and src["moto_version"] and len(src["source_sha256"]) == 64


def test_documents_are_the_real_ones() -> None:
    s3 = managed.by_name("AmazonS3FullAccess").document
    assert {"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"} in s3["Statement"]
    admin = managed.by_name("AdministratorAccess").document
    assert admin["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    assert len(managed.by_name("ReadOnlyAccess").policy.statements[0].actions) > 1000


def _decide(name: str, action: str, resource: str = "*") -> object:
    return evaluate(Request(action, resource), [managed.by_name(name).policy])


@pytest.mark.parametrize(("name", "action", "resource", "decision"), [
    ("AmazonS3FullAccess", "s3:PutObject", "arn:aws:s3:::b/x", ALLOW),
    ("AmazonS3FullAccess", "s3:DeleteObject", "arn:aws:s3:::b/x", ALLOW),
    ("AmazonS3FullAccess", "ec2:DescribeInstances", "*", IMPLICIT),
    ("AmazonS3ReadOnlyAccess", "s3:GetObject", "arn:aws:s3:::b/x", ALLOW),
    ("AmazonS3ReadOnlyAccess", "s3:ListBucket", "arn:aws:s3:::b", ALLOW),
    ("AmazonS3ReadOnlyAccess", "s3:PutObject", "arn:aws:s3:::b/x", IMPLICIT),
    ("AmazonEC2ReadOnlyAccess", "ec2:DescribeInstances", "*", ALLOW),
    ("AmazonEC2ReadOnlyAccess", "ec2:RunInstances", INSTANCE, IMPLICIT),
    ("AmazonEC2ReadOnlyAccess", "ec2:StopInstances", INSTANCE, IMPLICIT),
    ("AmazonEC2FullAccess", "ec2:RunInstances", INSTANCE, ALLOW),
    ("AmazonEC2FullAccess", "elasticloadbalancing:CreateLoadBalancer", "*", ALLOW),
    ("AmazonEC2FullAccess", "iam:PassRole", "arn:aws:iam::111122223333:role/app", IMPLICIT),
    ("ReadOnlyAccess", "ec2:DescribeVolumes", "*", ALLOW),
    ("ReadOnlyAccess", "ec2:TerminateInstances", INSTANCE, IMPLICIT),
    ("AdministratorAccess", "iam:CreateUser", "arn:aws:iam::111122223333:user/x", ALLOW),
    ("PowerUserAccess", "ec2:RunInstances", INSTANCE, ALLOW),
    ("PowerUserAccess", "iam:CreateUser", "arn:aws:iam::111122223333:user/x", IMPLICIT),  # NotAction iam:*
    ("IAMFullAccess", "iam:CreateRole", "arn:aws:iam::111122223333:role/x", ALLOW),
    ("IAMReadOnlyAccess", "iam:GetRole", "arn:aws:iam::111122223333:role/x", ALLOW),
    ("IAMReadOnlyAccess", "iam:CreateRole", "arn:aws:iam::111122223333:role/x", IMPLICIT),
    ("AutoScalingFullAccess", "autoscaling:CreateAutoScalingGroup", "*", ALLOW),
    ("ElasticLoadBalancingFullAccess", "elasticloadbalancing:DeleteLoadBalancer", "*", ALLOW),
    ("AWSBillingReadOnlyAccess", "ce:GetCostAndUsage", "*", ALLOW),
])
def test_managed_policy_decisions(name: str, action: str, resource: str, decision: object) -> None:
    assert _decide(name, action, resource) is decision
