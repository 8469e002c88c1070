"""Key pairs and tags through boto3 against a running ec2d."""

from __future__ import annotations

import io
import uuid

import paramiko
import pytest
from botocore.exceptions import ClientError


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_create_describe_delete_key_pair(ec2) -> None:
    name = unique("kp")
    created = ec2.create_key_pair(KeyName=name, TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "env", "Value": "test"}]}])
    assert created["KeyPairId"].startswith("key-") and len(created["KeyPairId"]) == 21
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = paramiko.RSAKey.from_private_key(io.StringIO(created["KeyMaterial"]))
    described = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"][0]
    assert described["KeyFingerprint"] == created["KeyFingerprint"]
    assert described["PublicKey"].split()[1] == key.get_base64()
    assert described["Tags"] == [{"Key": "env", "Value": "test"}]
    assert "KeyMaterial" not in described
    with pytest.raises(ClientError) as info:
        ec2.create_key_pair(KeyName=name)
    assert code_of(info) == "InvalidKeyPair.Duplicate"
    ec2.delete_key_pair(KeyName=name)
    with pytest.raises(ClientError) as info:
        ec2.describe_key_pairs(KeyNames=[name])
    assert code_of(info) == "InvalidKeyPair.NotFound"
    assert info.value.response["Error"]["Message"] == f"The key pair '{name}' does not exist"
    ec2.delete_key_pair(KeyName=name)  # deleting an unknown name succeeds, as on EC2


def test_ed25519_and_import(ec2) -> None:
    name = unique("ed")
    created = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(created["KeyMaterial"]))
    imported = ec2.import_key_pair(KeyName=unique("imp"), PublicKeyMaterial=f"ssh-ed25519 {key.get_base64()} me".encode())
    assert imported["KeyFingerprint"] == created["KeyFingerprint"]
    with pytest.raises(ClientError) as info:
        ec2.import_key_pair(KeyName=unique("bad"), PublicKeyMaterial=b"not a key")
    assert code_of(info) == "InvalidKey.Format"


def test_key_pair_filters_wildcards(ec2) -> None:
    base = unique("flt")
    for suffix in ("alpha", "beta", "gamma"):
        ec2.create_key_pair(KeyName=f"{base}-{suffix}", KeyType="ed25519")
    names = lambda pattern: sorted(k["KeyName"] for k in ec2.describe_key_pairs(  # noqa: E731
        Filters=[{"Name": "key-name", "Values": [pattern]}])["KeyPairs"])
    assert names(f"{base}-*a") == [f"{base}-alpha", f"{base}-beta", f"{base}-gamma"]
    assert names(f"{base}-?eta") == [f"{base}-beta"]
    assert names(f"{base}-zzz*") == []
    with pytest.raises(ClientError) as info:
        ec2.describe_key_pairs(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code_of(info) == "InvalidParameterValue"
    assert info.value.response["Error"]["Message"] == "The filter 'no-such-filter' is invalid"


def test_tags_generic(ec2) -> None:
    ids = [ec2.create_key_pair(KeyName=unique("tag"), KeyType="ed25519")["KeyPairId"] for _ in range(3)]
    ec2.create_tags(Resources=ids, Tags=[{"Key": "Owner", "Value": "ops"}, {"Key": "Tier", "Value": "web"}])
    rows = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": ids}])["Tags"]
    assert len(rows) == 6 and {r["ResourceType"] for r in rows} == {"key-pair"}
    by_tag = ec2.describe_key_pairs(Filters=[{"Name": "tag:Owner", "Values": ["o*"]}])["KeyPairs"]
    assert set(ids) <= {k["KeyPairId"] for k in by_tag}
    ec2.delete_tags(Resources=[ids[0]], Tags=[{"Key": "Owner", "Value": "someone-else"}])  # value mismatch
    ec2.delete_tags(Resources=[ids[1]], Tags=[{"Key": "Owner"}])
    ec2.delete_tags(Resources=[ids[2]])
    left = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": ids}])["Tags"]
    assert sorted((r["ResourceId"], r["Key"]) for r in left) == sorted(
        [(ids[0], "Owner"), (ids[0], "Tier"), (ids[1], "Tier")])


def test_tag_errors(ec2) -> None:
    with pytest.raises(ClientError) as info:
        ec2.create_tags(Resources=["i-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code_of(info) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as info:
        ec2.create_tags(Resources=["nonsense"], Tags=[{"Key": "a", "Value": "b"}])
    assert code_of(info) == "InvalidID"
    kid = ec2.create_key_pair(KeyName=unique("lim"), KeyType="ed25519")["KeyPairId"]
    with pytest.raises(ClientError) as info:
        ec2.create_tags(Resources=[kid], Tags=[{"Key": "aws:reserved", "Value": "x"}])
    assert code_of(info) == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        ec2.create_tags(Resources=[kid], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code_of(info) == "TagLimitExceeded"


def test_describe_tags_pagination(ec2) -> None:
    kid = ec2.create_key_pair(KeyName=unique("page"), KeyType="ed25519")["KeyPairId"]
    ec2.create_tags(Resources=[kid], Tags=[{"Key": f"p{i:02d}", "Value": str(i)} for i in range(23)])
    pages = ec2.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "resource-id", "Values": [kid]}], PaginationConfig={"PageSize": 5})
    sizes = [len(p["Tags"]) for p in pages]
    assert sum(sizes) == 23 and max(sizes) <= 5
    with pytest.raises(ClientError) as info:
        ec2.describe_tags(NextToken="garbage!")
    assert code_of(info) == "InvalidPaginationToken"
    with pytest.raises(ClientError) as info:
        ec2.describe_tags(MaxResults=2)
    assert code_of(info) == "InvalidParameterValue"


def test_region_scoping(ec2d) -> None:
    east, west = ec2d.client(region="us-east-1"), ec2d.client(region="us-west-2")
    name = unique("scoped")
    east.create_key_pair(KeyName=name, KeyType="ed25519")
    assert name not in {k["KeyName"] for k in west.describe_key_pairs()["KeyPairs"]}
    west.create_key_pair(KeyName=name, KeyType="ed25519")  # same name, another region: allowed
    assert len(west.describe_key_pairs(KeyNames=[name])["KeyPairs"]) == 1


def test_describe_tags_filters_read_only_what_they_name(ec2) -> None:
    """resource-id and key filters are read from the store's index (exact values) or matched after
    a read of every tag (patterns): both give what the whole list filtered by hand gives."""
    ids = [ec2.create_key_pair(KeyName=unique("dt"), KeyType="ed25519")["KeyPairId"] for _ in range(3)]
    mark = unique("k")
    ec2.create_tags(Resources=ids[:2], Tags=[{"Key": mark, "Value": "a"}, {"Key": f"{mark}-x", "Value": "b"}])
    ec2.create_tags(Resources=ids[2:], Tags=[{"Key": mark, "Value": "c"}])
    every = ec2.describe_tags()["Tags"]

    def by_hand(keep) -> list[tuple[str, str, str]]:
        return sorted((t["ResourceId"], t["Key"], t["Value"]) for t in every if keep(t))

    def asked(*filters: dict) -> list[tuple[str, str, str]]:
        return sorted((t["ResourceId"], t["Key"], t["Value"]) for t in ec2.describe_tags(Filters=list(filters))["Tags"])

    assert asked({"Name": "resource-id", "Values": ids[1:]}) == by_hand(lambda t: t["ResourceId"] in ids[1:])
    assert asked({"Name": "key", "Values": [mark]}) == by_hand(lambda t: t["Key"] == mark) and len(by_hand(
        lambda t: t["Key"] == mark)) == 3
    assert asked({"Name": "key", "Values": [f"{mark}*"]}) == by_hand(lambda t: t["Key"].startswith(mark))
    assert asked({"Name": "resource-id", "Values": [ids[0]]}, {"Name": "key", "Values": [f"{mark}-x"]}) == [
        (ids[0], f"{mark}-x", "b")]
    assert asked({"Name": f"tag:{mark}", "Values": ["c"]}) == [(ids[2], mark, "c")]
    assert asked({"Name": "resource-id", "Values": ["key-00000000000000000"]}) == []
