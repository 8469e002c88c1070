"""The query protocol layer against botocore's own serializer and parser (no server)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.serialize import create_serializer

from orchestrator.api.protocols.ec2 import QueryParser, XmlSerializer, service_model
from orchestrator.domain import errors

MODEL = service_model()
SERIALIZER = create_serializer("ec2")


def wire(action: str, params: dict) -> dict[str, str]:
    """What boto3 puts on the wire for ``client.<action>(**params)``."""
    request = SERIALIZER.serialize_to_request(params, MODEL.operation_model(action))
    return {k: str(v) for k, v in request["body"].items()}


CASES = [
    ("DescribeKeyPairs", {"KeyNames": ["a", "b"], "IncludePublicKey": True,
                          "Filters": [{"Name": "key-name", "Values": ["x*", "y?"]}]}),
    ("CreateTags", {"Resources": ["i-0123456789abcdef0"], "Tags": [{"Key": "k", "Value": "v"}, {"Key": "e"}]}),
    ("ImportKeyPair", {"KeyName": "k", "PublicKeyMaterial": b"ssh-ed25519 AAAA x"}),
    ("RunInstances", {
        "ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 3, "InstanceType": "t3.micro",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": False}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "NetworkInterfaces": [{"DeviceIndex": 0, "Groups": ["sg-12345678"], "AssociatePublicIpAddress": True}],
        "SecurityGroupIds": ["sg-1", "sg-2"], "UserData": "IyEvYmluL3NoCg==",
    }),
    ("DescribeSpotPriceHistory", {"StartTime": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                                  "InstanceTypes": ["t3.micro"]}),
    ("AuthorizeSecurityGroupIngress", {"GroupId": "sg-12345678", "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "UserIdGroupPairs": [{"GroupId": "sg-87654321"}]}]}),
]


@pytest.mark.parametrize("action,params", CASES, ids=[c[0] for c in CASES])
def test_parse_what_botocore_serializes(action: str, params: dict) -> None:
    _, parsed = QueryParser().parse(action, wire(action, params))
    assert parsed == params


def test_list_ordering_uses_numeric_index() -> None:
    params = {f"InstanceId.{i}": f"i-{i:017x}" for i in range(1, 13)}
    _, parsed = QueryParser().parse("DescribeInstances", params)
    assert parsed["InstanceIds"] == [f"i-{i:017x}" for i in range(1, 13)]


@pytest.mark.parametrize(
    "action,params,code,message",
    [
        ("CreateKeyPair", {}, "MissingParameter", "The request must contain the parameter KeyName"),
        ("CreateKeyPair", {"KeyName": "a", "Bogus": "1"}, "UnknownParameter", "The parameter Bogus is not recognized"),
        ("NoSuchThing", {}, "InvalidAction", "The action NoSuchThing is not valid for this web service."),
        ("RunInstances", {"ImageId": "ami-1", "MinCount": "one", "MaxCount": "1"}, "InvalidParameterValue",
         "Value (one) for parameter minCount is invalid. Expected an integer."),
        ("DescribeKeyPairs", {"IncludePublicKey": "maybe"}, "InvalidParameterValue",
         "Value (maybe) for parameter includePublicKey is invalid. Expected a boolean."),
        ("CreateKeyPair", {"KeyName": "a", "KeyType": "dsa"}, "InvalidParameterValue",
         "Value (dsa) for parameter keyType is invalid. Valid values: rsa, ed25519"),
        ("ImportKeyPair", {"KeyName": "a", "PublicKeyMaterial": "%%%"}, "InvalidParameterValue", None),
        # List and map indexes are ASCII decimal ("²".isdigit() is true in Python).
        ("DescribeInstances", {"InstanceId.\u00b2": "x"}, "UnknownParameter",
         "The parameter InstanceId.\u00b2 is not recognized"),
        ("DescribeInstances", {"InstanceId.\u0661": "x"}, "UnknownParameter", None),
        ("DescribeInstances", {"Filter.1.Name": "x", "Filter.\u00b2.Name": "y"}, "UnknownParameter", None),
        # Numbers are ASCII, finite and within the model's type.
        ("RunInstances", {"ImageId": "ami-1", "MinCount": "\u0661", "MaxCount": "1"}, "InvalidParameterValue",
         None),
        ("RunInstances", {"ImageId": "ami-1", "MinCount": "9" * 5000, "MaxCount": "1"}, "InvalidParameterValue",
         None),
        ("RunInstances", {"ImageId": "ami-1", "MinCount": str(2**31), "MaxCount": "1"}, "InvalidParameterValue",
         None),
        # Timestamps in range (epoch seconds or ISO 8601, 1970 to 9999).
        ("DescribeSpotPriceHistory", {"StartTime": "1e20"}, "InvalidParameterValue", None),
        ("DescribeSpotPriceHistory", {"StartTime": "100000000000000000000"}, "InvalidParameterValue",
         "Value (100000000000000000000) for parameter startTime is invalid. Expected an ISO 8601 timestamp."),
        ("DescribeSpotPriceHistory", {"StartTime": "99999999999999"}, "InvalidParameterValue", None),
        ("DescribeSpotPriceHistory", {"StartTime": "0001-01-01T00:00:00+01:00"}, "InvalidParameterValue", None),
        ("DescribeSpotPriceHistory", {"StartTime": "\u0661\u0662"}, "InvalidParameterValue", None),
        # Strings XML cannot carry: refused in every string member, map keys included.
        ("CreateTags", {"ResourceId.1": "i-1", "Tag.1.Key": "a\x01b", "Tag.1.Value": "v"}, "InvalidParameterValue",
         "Value (a\\x01b) for parameter key is invalid. Character \\x01 is not allowed."),
        ("CreateTags", {"ResourceId.1": "i-1", "Tag.1.Key": "k", "Tag.1.Value": "\x1b[31m"},
         "InvalidParameterValue", None),
        ("CreateSecurityGroup", {"GroupName": "g", "GroupDescription": "d\x00"}, "InvalidParameterValue", None),
        ("CreateKeyPair", {"KeyName": "k\ufffe"}, "InvalidParameterValue", None),
        ("CreateKeyPair", {"KeyName": "k\ud800"}, "InvalidParameterValue", None),
    ],
)
def test_bad_input_gets_ec2_codes(action: str, params: dict, code: str, message: str | None) -> None:
    if code is None:  # no such member: any typed error will do, never another exception
        with pytest.raises(errors.ApiError):
            QueryParser().parse(action, params)
        return
    with pytest.raises(errors.ApiError) as info:
        QueryParser().parse(action, params)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message


def test_error_envelope_is_what_botocore_reads() -> None:
    from botocore.parsers import create_parser

    body = XmlSerializer().error(errors.MissingParameter("KeyName"), "req-1")
    parsed = create_parser("ec2").parse({"body": body, "headers": {}, "status_code": 400}, None)
    assert parsed["Error"] == {"Code": "MissingParameter", "Message": "The request must contain the parameter KeyName"}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_whitespace_and_tabs_newlines_are_still_strings() -> None:
    _, parsed = QueryParser().parse("CreateTags", {"ResourceId.1": "i-1", "Tag.1.Key": "a\tb", "Tag.1.Value": "l1\nl2\r"})
    assert parsed["Tags"] == [{"Key": "a\tb", "Value": "l1\nl2\r"}]
    _, parsed = QueryParser().parse("DescribeSpotPriceHistory", {"StartTime": "253402300799"})
    assert parsed["StartTime"] == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def test_serializer_never_emits_invalid_xml() -> None:
    """Defence in depth: a stored value XML cannot carry is replaced, never breaks the document."""
    from xml.etree.ElementTree import fromstring

    from botocore.parsers import create_parser

    op = MODEL.operation_model("DescribeTags")
    result = {"Tags": [{"Key": "k\x01", "Value": "v\x00\ud800\uffff", "ResourceId": "i-1",
                        "ResourceType": "instance"}]}
    body = XmlSerializer().response(op, result, "req-1")
    fromstring(body)  # well-formed
    parsed = create_parser("ec2").parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)
    assert parsed["Tags"][0]["Key"] == "k\ufffd" and parsed["Tags"][0]["Value"] == "v\ufffd\ufffd\ufffd"
    error = XmlSerializer().error(errors.UnknownParameter("Bad\x02"), "req-2")
    fromstring(error)
