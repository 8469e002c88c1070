"""The API over HTTP: authentication, the error envelope, raw query requests, generic features."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from urllib.parse import urlencode

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

PARSER = create_parser("ec2")


def send(ec2d, params: dict[str, str], *, secret: str | None = None, presign: bool = False,
         sign: bool = True, region: str = "us-east-1") -> tuple[int, dict]:
    creds = ec2d.credentials
    url = ec2d.config.endpoint_url + "/"
    body = urlencode(params)
    if presign:
        request = AWSRequest(method="GET", url=url + "?" + body)
    else:
        request = AWSRequest(method="POST", url=url, data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    if sign:
        c = Credentials(creds["aws_access_key_id"], secret or creds["aws_secret_access_key"])
        (SigV4QueryAuth(c, "ec2", region, expires=60) if presign else SigV4Auth(c, "ec2", region)).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=prepared.body and prepared.body.encode()
                                 if isinstance(prepared.body, str) else prepared.body,
                                 headers=dict(prepared.headers), method=prepared.method)
    try:
        with urllib.request.urlopen(raw, timeout=10) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    return status, PARSER.parse({"body": data, "headers": {}, "status_code": status}, None)


def error(parsed: dict) -> tuple[str, str]:
    return parsed["Error"]["Code"], parsed["Error"]["Message"]


def test_signed_post_and_presigned_get(ec2d) -> None:
    status, _ = send(ec2d, {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert status == 200
    status, _ = send(ec2d, {"Action": "DescribeRegions", "Version": "2016-11-15"}, presign=True)
    assert status == 200


def test_authentication_failures(ec2d) -> None:
    params = {"Action": "CreateKeyPair", "Version": "2016-11-15", "KeyName": "never-made"}
    status, parsed = send(ec2d, params, secret="x" * 40)
    assert (status, error(parsed)[0]) == (403, "SignatureDoesNotMatch")
    status, parsed = send(ec2d, params, sign=False)
    assert (status, error(parsed)[0]) == (401, "MissingAuthenticationToken")
    bad = boto3.client("ec2", region_name="us-east-1", endpoint_url=ec2d.config.endpoint_url,
                       aws_access_key_id="AKIANOTAREALKEY00000", aws_secret_access_key="y" * 40)
    with pytest.raises(ClientError) as info:
        bad.describe_regions()
    assert info.value.response["Error"]["Code"] == "AuthFailure"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    ec2 = ec2d.client()
    assert "never-made" not in {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}


def test_clock_skew_is_request_expired(ec2d, monkeypatch) -> None:
    import botocore.auth

    skewed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    status, parsed = send(ec2d, {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert (status, error(parsed)[0]) == (400, "RequestExpired")


@pytest.mark.parametrize(
    "params,status,code",
    [
        ({"Action": "FlyToTheMoon"}, 400, "InvalidAction"),
        ({"Version": "2016-11-15"}, 400, "MissingAction"),
        ({"Action": "CreateKeyPair"}, 400, "MissingParameter"),
        ({"Action": "DescribeRegions", "Bogus.1": "x"}, 400, "UnknownParameter"),
        ({"Action": "DescribeKeyPairs", "IncludePublicKey": "perhaps"}, 400, "InvalidParameterValue"),
        ({"Action": "DescribeKeyPairs", "DryRun": "true"}, 412, "DryRunOperation"),
        ({"Action": "DescribeRegions", "RegionName.1": "mars-north-1"}, 400, "InvalidParameterValue"),
        ({"Action": "DescribeAvailabilityZones", "ZoneName.1": "us-east-1z"}, 400, "InvalidParameterValue"),
        ({"Action": "DescribeInstanceTypes", "InstanceType.1": "t9.huge"}, 400, "InvalidInstanceType"),
        ({"Action": "DeleteKeyPair"}, 400, "MissingParameter"),
        ({"Action": "DescribeKeyPairs", "KeyPairId.1": "key-0123456789abcdef0"}, 400, "InvalidKeyPair.NotFound"),
    ],
)
def test_bad_requests_get_ec2_errors(ec2d, params: dict, status: int, code: str) -> None:
    got_status, parsed = send(ec2d, {"Version": "2016-11-15", **params})
    assert (got_status, error(parsed)[0]) == (status, code), parsed
    assert parsed["ResponseMetadata"]["RequestId"]


def test_unknown_region_in_scope(ec2d) -> None:
    status, parsed = send(ec2d, {"Action": "DescribeRegions"}, region="mars-north-1")
    assert (status, error(parsed)[0]) == (401, "AuthFailure")


def test_regions_zones_and_types(ec2) -> None:
    regions = {r["RegionName"]: r for r in ec2.describe_regions()["Regions"]}
    assert set(regions) == {"us-east-1", "us-west-2"}
    assert regions["us-west-2"]["Endpoint"] == "ec2.us-west-2.amazonaws.com"
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [
        ("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az3")]
    only_b = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": ["*b"]}])
    assert [z["ZoneName"] for z in only_b["AvailabilityZones"]] == ["us-east-1b"]
    t3 = ec2.describe_instance_types(InstanceTypes=["t3.micro", "m5.large"])["InstanceTypes"]
    figures = {t["InstanceType"]: (t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"]) for t in t3}
    assert figures == {"t3.micro": (2, 1024), "m5.large": (2, 8192)}
    big = ec2.describe_instance_types(Filters=[{"Name": "vcpu-info.default-vcpus", "Values": ["16"]}])
    assert {t["InstanceType"] for t in big["InstanceTypes"]} == {"m5.4xlarge", "c5.4xlarge"}
    paged = ec2.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 5})
    assert sum(len(p["InstanceTypes"]) for p in paged) == len(ec2.describe_instance_types()["InstanceTypes"])
    attrs = {a["AttributeName"] for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert {"supported-platforms", "default-vpc"} <= attrs
