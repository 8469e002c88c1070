"""The pure parts of launch templates: the RunInstances merge (template data under the request),
the data checks at creation, and version resolution on a record."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.domain import errors
from orchestrator.services import launch_templates as lt
from orchestrator.store.sqlite import Record

TEMPLATE: dict[str, Any] = {
    "ImageId": "ami-1", "InstanceType": "t3.small", "KeyName": "k", "SecurityGroupIds": ["sg-1"],
    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 3}, "RamDiskId": "ari-1",
    "InstanceRequirements": {"VCpuCount": {"Min": 1}},
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]},
                          {"ResourceType": "spot-instances-request", "Tags": [{"Key": "s", "Value": "x"}]}],
}


def test_request_wins_parameter_by_parameter() -> None:
    request = {"LaunchTemplate": {"LaunchTemplateName": "t"}, "MinCount": 1, "MaxCount": 2, "InstanceType": "t3.micro",
               "MetadataOptions": {"HttpTokens": "optional"}}
    merged = lt.merge(TEMPLATE, request)
    assert merged["InstanceType"] == "t3.micro" and merged["ImageId"] == "ami-1" and merged["KeyName"] == "k"
    assert merged["MetadataOptions"] == {"HttpTokens": "optional"}  # replaced whole, not field by field
    assert (merged["MinCount"], merged["MaxCount"]) == (1, 2)
    assert "LaunchTemplate" not in merged and "InstanceRequirements" not in merged
    assert merged["RamdiskId"] == "ari-1" and "RamDiskId" not in merged  # RunInstances' spelling


def test_tags_merge_per_resource_type_request_wins_per_key() -> None:
    request = {"TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "b", "Value": "B"}]},
                                     {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]}]}
    merged = lt.merge(TEMPLATE, request)
    assert merged["TagSpecifications"] == [
        {"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "B"}]},
        {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]}]  # no spot-request tags: no spot request
    assert lt.merge({"ImageId": "ami-1"}, request)["TagSpecifications"] == request["TagSpecifications"]
    assert "TagSpecifications" not in lt.merge({"ImageId": "ami-1"}, {})


def test_merge_copies_and_leaves_its_inputs_alone() -> None:
    template, request = copy.deepcopy(TEMPLATE), {"MinCount": 1, "MaxCount": 1}
    merged = lt.merge(template, request)
    merged["SecurityGroupIds"].append("sg-2")
    merged["TagSpecifications"][0]["Tags"].clear()
    assert template == TEMPLATE and request == {"MinCount": 1, "MaxCount": 1}


@pytest.mark.parametrize(("data", "message"), [
    ({"InstanceType": "z9.bogus"}, "Invalid value 'z9.bogus' for InstanceType."),
    ({"MetadataOptions": {"HttpPutResponseHopLimit": 65}},
     "Value (65) for parameter httpPutResponseHopLimit is invalid. Expected a value between 1 and 64."),
    ({"TagSpecifications": [{"ResourceType": "image", "Tags": []}]},
     "'image' is not a valid taggable resource type for this operation."),
])
def test_data_refused_at_creation(data: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as info:
        lt.check_data(data)
    assert info.value.message == message


def test_data_not_checked_at_creation_is_kept_as_given() -> None:
    data = {"ImageId": "ami-doesnotexist", "KeyName": "nokey", "SecurityGroupIds": ["sg-nope"],
            "UserData": "not base64!"}  # EC2 accepts these at creation (moto's notes: user data too)
    assert lt.check_data(data) == data


@pytest.mark.parametrize("name", ["abc", "a" * 128, "my-template_(1).v2/x"])
def test_names_accepted(name: str) -> None:
    assert lt.check_name(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 129, "with space", "star*", "é-accent"])
def test_names_refused(name: str) -> None:
    with pytest.raises(errors.LaunchTemplateNameMalformed):
        lt.check_name(name)


def _record() -> Record:
    entries = [{"VersionNumber": n, "CreateTime": "t", "CreatedBy": "arn", "LaunchTemplateData": {"n": n}}
               for n in (1, 3, 4)]  # version 2 was deleted
    return Record(id="lt-0123456789abcdef0", type="launch-template", region="us-east-1", state="available",
                  data={"LaunchTemplateName": "x", "CreateTime": "t", "CreatedBy": "arn", "DefaultVersionNumber": 3,
                        "NextVersion": 5, "Versions": entries})


@pytest.mark.parametrize(("wanted", "number"), [(None, 3), ("$Default", 3), ("$Latest", 4), ("1", 1), (4, 4)])
def test_version_resolution(wanted: Any, number: int) -> None:
    assert lt.version(_record(), wanted)["VersionNumber"] == number


@pytest.mark.parametrize(("wanted", "code"), [("2", "InvalidLaunchTemplateId.VersionNotFound"),
                                              ("5", "InvalidLaunchTemplateId.VersionNotFound"),
                                              ("0", "InvalidParameterValue"), ("$latest", "InvalidParameterValue")])
def test_version_refused(wanted: str, code: str) -> None:
    with pytest.raises(errors.ApiError) as info:
        lt.version(_record(), wanted)
    assert info.value.code == code
