"""Hostile requests for every registered action against a real ec2d: never a 5xx or a traceback.

A fixed-seed sample of what ``bench/fuzz.py`` runs at 10,000+ (see tests/api/fuzzing.py for what
is generated). The daemon runs the API and model without libvirt (``instances=False``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fuzzing
import pytest
from ec2d_server import RunningEc2d, start_ec2d

SEED = 20261130
REQUESTS = 1500


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(Path(tmp_path_factory.mktemp("fuzz-data")), instances=False, build_images=False)
    yield server
    server.stop()


def client(server: RunningEc2d) -> fuzzing.Client:
    creds = server.credentials
    return fuzzing.Client(server.config.endpoint_url, creds["aws_access_key_id"], creds["aws_secret_access_key"])


def test_fuzzed_requests_get_ec2_errors_never_a_5xx(api_only: RunningEc2d) -> None:
    http = client(api_only)
    with fuzzing.TracebackCounter() as tracebacks:
        result = fuzzing.fuzz(http, REQUESTS, SEED, list(api_only.config.regions))
    http.close()
    assert result.requests == REQUESTS
    assert set(result.actions) == set(fuzzing.actions())  # every registered action was tried
    assert result.statuses[200] > REQUESTS // 20  # enough requests get through to the handlers
    assert result.statuses[400] > REQUESTS // 2
    assert result.unexpected_5xx == [], {k: result.samples[k] for k in set(result.unexpected_5xx)}
    assert tracebacks.records == [], tracebacks.signatures()
    assert result.invalid_xml == []
    assert api_only.client().describe_regions()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_counter_sees_a_traceback_in_the_daemon_log(api_only: RunningEc2d, monkeypatch) -> None:
    """The harness itself: a handler that raises shows up as a 5xx and a traceback."""
    from orchestrator.api.registry import HANDLERS

    def broken(ctx, req):
        raise RuntimeError("planted")

    monkeypatch.setitem(HANDLERS, "DescribeRegions", broken)
    http = client(api_only)
    with fuzzing.TracebackCounter() as tracebacks:
        status, body = http.post([("Action", "DescribeRegions"), ("Version", "2016-11-15")])
    http.close()
    assert status == 500 and b"InternalError" in body
    assert any("planted" in s for s in tracebacks.signatures())


def test_stored_values_xml_cannot_carry_are_refused_as_ec2_does(api_only: RunningEc2d) -> None:
    """Control characters in a tag, description or key name are InvalidParameterValue, and nothing
    is stored (later Describes stay well-formed for every client)."""
    from botocore.exceptions import ClientError

    ec2 = api_only.client()
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    attempts = [
        lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "bad\x01", "Value": "v"}]),
        lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "bell\x07"}]),
        lambda: ec2.create_security_group(GroupName="fuzz-sg", Description="esc\x1b[31m", VpcId=vpc),
        lambda: ec2.create_key_pair(KeyName="nul\x00key"),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as info:
            attempt()
        assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "is not allowed" in info.value.response["Error"]["Message"]
    assert not [t for t in ec2.describe_tags()["Tags"] if t["Key"] in ("bad\x01", "k")]
    assert "fuzz-sg" not in {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "tabs\tand\nnewlines", "Value": "ok\r\n"}])  # XML carries these
    assert {"Key": "tabs\tand\nnewlines", "Value": "ok\r\n"} in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]


@pytest.mark.parametrize("pairs,code", [
    ([("Action", "DescribeInstances"), ("InstanceId.\u00b2", "x")], "UnknownParameter"),
    ([("Action", "RunInstances"), ("ImageId", "ami-12345678"), ("MinCount", "1"), ("MaxCount", "1"),
      ("InstanceMarketOptions.SpotOptions.ValidUntil", "100000000000000000000")], "InvalidParameterValue"),
    ([("Action", "RunInstances"), ("ImageId", "ami-12345678"), ("MinCount", "1"), ("MaxCount", "1"),
      ("InstanceMarketOptions.SpotOptions.ValidUntil", "99999999999999")], "InvalidParameterValue"),
    ([("Action", "RunInstances"), ("MinCount", "1"), ("MaxCount", "1")], "MissingParameter"),
    ([("Action", "CreateTags"), ("ResourceId.1", "vpc-12345678"), ("Tag.1.Key", "a\x01")], "InvalidParameterValue"),
], ids=["unicode-list-index", "epoch-1e20", "epoch-huge", "no-image-id", "control-char"])
def test_inputs_that_gave_a_500_get_ec2_errors(api_only: RunningEc2d, pairs: list, code: str) -> None:
    http = client(api_only)
    with fuzzing.TracebackCounter() as tracebacks:
        status, body = http.post([("Version", "2016-11-15"), *pairs])
    http.close()
    assert (status, fuzzing.CODE_RE.search(body).group(1).decode()) == (400, code), body
    assert tracebacks.records == []


def test_private_ip_that_is_not_an_address_is_invalid_parameter_value(api_only: RunningEc2d) -> None:
    from botocore.exceptions import ClientError

    ec2 = api_only.client()  # its own subnet: the fuzz before it may have deleted the default ones
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    before = ec2.describe_network_interfaces()["NetworkInterfaces"]
    with fuzzing.TracebackCounter() as tracebacks, pytest.raises(ClientError) as info:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="not-an-ip")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert tracebacks.records == []
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == before  # nothing half-made
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_the_wildcard_that_took_38_seconds_is_answered_over_http(api_only: RunningEc2d) -> None:
    ec2 = api_only.client()
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "redos", "Value": "a" * 60}])
    evil = "*a*a*a*a*a*a*a*a*b"
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:redos", "Values": [evil]}])["Vpcs"] == []
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:redos", "Values": [evil[:-2]]}])["Vpcs"]] \
        == [vpc]
    heavy = [evil * 14] * 3  # 252-character patterns: matched on a worker thread
    assert ec2.describe_tags(Filters=[{"Name": "value", "Values": heavy}])["Tags"] == []
