"""The query and JSON protocols against botocore's own serializers (no server): what a boto3 client
of IAM, STS, SNS, ELBv2, Auto Scaling, Cost Explorer, the Price List or CloudTrail puts on the wire
parses back into exactly the parameters it was given, so a new service's handlers get the input
their callers meant."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from botocore.serialize import create_serializer

from orchestrator.api.protocols import WireRequest, fallback, for_model, load_model
from orchestrator.api.protocols.awsjson import JsonProtocol
from orchestrator.api.protocols.query import QueryProtocol
from orchestrator.domain import errors

QUERY_CASES = [
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1",
                           "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                           "Tags": [{"Key": "team", "Value": "blue"}], "DurationSeconds": 900}),
    ("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": '{"Version": "2012-10-17"}',
                           "Tags": [{"Key": "k", "Value": "v"}], "MaxSessionDuration": 3600}),
    ("elbv2", "CreateLoadBalancer", {"Name": "lb", "Subnets": ["subnet-1", "subnet-2"],
                                     "SubnetMappings": [{"SubnetId": "subnet-3", "AllocationId": "eipalloc-1"}],
                                     "Scheme": "internal", "Type": "network"}),
    ("elbv2", "SetSecurityGroups", {"LoadBalancerArn": "arn:lb", "SecurityGroups": []}),
    ("autoscaling", "CreateAutoScalingGroup", {
        "AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 3, "AvailabilityZones": ["us-east-1a"],
        "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "$Latest"}, "NewInstancesProtectedFromScaleIn": True,
        "Tags": [{"Key": "k", "Value": "v", "PropagateAtLaunch": True}]}),
    ("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "hi",
                        "MessageAttributes": {"a": {"DataType": "String", "StringValue": "x"},
                                              "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}}),
]

JSON_CASES = [
    ("ce", "GetCostAndUsage", {"TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"}, "Granularity": "MONTHLY",
                               "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
                               "Filter": {"Dimensions": {"Key": "REGION", "Values": ["us-east-1"]}}}),
    ("pricing", "GetProducts", {"ServiceCode": "AmazonEC2", "MaxResults": 10, "Filters": [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "t3.micro"}]}),
    ("cloudtrail", "LookupEvents", {"StartTime": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                                    "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "x"}]}),
]


def wire(service: str, action: str, params: dict) -> tuple[WireRequest, object]:
    model = load_model(service)
    op = model.operation_model(action)
    request = create_serializer(model.metadata["protocol"]).serialize_to_request(params, op)
    body = request["body"]
    if isinstance(body, dict):  # query: a form
        from urllib.parse import urlencode

        body = urlencode(body).encode()
    return WireRequest("POST", "", request["headers"], body), op


@pytest.mark.parametrize("service,action,params", QUERY_CASES + JSON_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in QUERY_CASES + JSON_CASES])
def test_parse_what_botocore_serializes(service: str, action: str, params: dict) -> None:
    request, op = wire(service, action, params)
    protocol = for_model(load_model(service))
    call = asyncio.run(protocol.read(request))
    assert call.action == action
    assert protocol.parse(protocol.operation(call.action), call.raw) == params


def test_query_protocol_errors() -> None:
    protocol = for_model(load_model("iam"))
    assert isinstance(protocol, QueryProtocol)
    with pytest.raises(errors.ApiError) as info:
        protocol.operation("FlyToTheMoon")
    assert (info.value.code, info.value.message) == ("InvalidAction", "Could not find operation FlyToTheMoon for version 2010-05-08")
    op = protocol.operation("CreateRole")
    with pytest.raises(errors.ValidationError):  # IAM's code for a missing member
        protocol.parse(op, {"RoleName": "r"})
    with pytest.raises(errors.UnknownParameter):
        protocol.parse(op, {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Tags.item.1.Key": "k"})
    with pytest.raises(errors.ValidationError):
        protocol.parse(op, {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": "long"})
    elbv2 = for_model(load_model("elbv2"))  # ELBv2 and Auto Scaling answer a missing member so too
    with pytest.raises(errors.ValidationError):
        elbv2.parse(elbv2.operation("CreateLoadBalancer"), {})
    autoscaling = for_model(load_model("autoscaling"))
    with pytest.raises(errors.ValidationError):
        autoscaling.parse(autoscaling.operation("CreateAutoScalingGroup"), {})
    other = for_model(load_model("cloudformation"))  # the other Query services keep the parser's own codes
    with pytest.raises(errors.MissingParameter):
        other.parse(other.operation("CreateStack"), {})


def test_json_protocol_errors() -> None:
    protocol = for_model(load_model("pricing"))
    assert isinstance(protocol, JsonProtocol)

    def read(target: str | None, body: bytes) -> object:
        headers = {"X-Amz-Target": target} if target else {}
        return asyncio.run(protocol.read(WireRequest("POST", "", headers, body)))

    for target in (None, "AWSPriceListService", "AWSInsightsIndexService.GetCostAndUsage"):
        with pytest.raises(errors.UnknownOperation):
            read(target, b"{}")
    with pytest.raises(errors.UnknownOperation):
        protocol.operation("FlyToTheMoon")
    for body in (b"[1]", b"{", b'"x"'):
        with pytest.raises(errors.SerializationException):
            read("AWSPriceListService.DescribeServices", body)
    op = protocol.operation("GetAttributeValues")
    with pytest.raises(errors.ValidationException):
        protocol.parse(op, {"ServiceCode": "AmazonEC2"})
    with pytest.raises(errors.ValidationException):
        protocol.parse(op, {"ServiceCode": "AmazonEC2", "AttributeName": "x", "MaxResults": 0})
    for bad in ({"ServiceCode": 1}, {"MaxResults": "1"}, {"MaxResults": True}):
        with pytest.raises(errors.SerializationException):
            protocol.parse(op, {"ServiceCode": "AmazonEC2", "AttributeName": "x", **bad})
    # members the model does not have are ignored, as AWS's JSON services do
    assert protocol.parse(op, {"ServiceCode": "S", "AttributeName": "a", "Later": 1}) == {"ServiceCode": "S",
                                                                                          "AttributeName": "a"}
    body = protocol.error(errors.UnknownOperation("nope"), "rid")
    assert json.loads(body) == {"__type": "UnknownOperationException", "message": "nope"}


def test_fallback_speaks_the_requests_protocol() -> None:
    assert isinstance(fallback({"X-Amz-Target": "Foo.Bar"}), JsonProtocol)
    assert isinstance(fallback({"Content-Type": "application/x-amz-json-1.0"}), JsonProtocol)
    assert isinstance(fallback({"Content-Type": "application/x-www-form-urlencoded"}), QueryProtocol)
    assert b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>" in fallback({}).error(
        errors.UnknownService("iam", ["ec2", "sts"]), "rid")
