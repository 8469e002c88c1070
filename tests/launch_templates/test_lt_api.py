"""Launch templates through boto3: versions ($Latest, $Default, SourceVersion), the default version,
Describe with names, ids, filters and pages, deletes, and each error with EC2's code."""

from __future__ import annotations

import re
from typing import Any

import lt_api
import pytest
from lt_api import refused

api, ec2, iam, image = lt_api.api, lt_api.ec2, lt_api.iam, lt_api.image  # the fixtures

DATA: dict[str, Any] = {
    "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro", "KeyName": "k",
    "UserData": "IyEvYmluL3NoCmVjaG8gaGkK", "SecurityGroupIds": ["sg-0123456789abcdef0"],
    "IamInstanceProfile": {"Name": "p"}, "Placement": {"AvailabilityZone": "us-east-1b"},
    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled",
                        "InstanceMetadataTags": "enabled"},
    "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {
        "VolumeSize": 2, "VolumeType": "gp3", "DeleteOnTermination": True, "SnapshotId": "snap-0123456789abcdef0",
        "Encrypted": False, "Iops": 3000, "Throughput": 125}}],
    "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True, "Groups": ["sg-0123456789abcdef0"],
                           "DeleteOnTermination": True}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]},
                          {"ResourceType": "volume", "Tags": [{"Key": "disk", "Value": "data"}]}],
    "DisableApiTermination": False, "InstanceInitiatedShutdownBehavior": "terminate", "Monitoring": {"Enabled": False},
}


def versions(ec2: Any, **kw: Any) -> list[dict[str, Any]]:
    return list(ec2.describe_launch_template_versions(**kw)["LaunchTemplateVersions"])


def numbers(ec2: Any, **kw: Any) -> list[int]:
    return [v["VersionNumber"] for v in versions(ec2, **kw)]


def test_create_then_describe_shows_the_data_as_given(api: Any, ec2: Any) -> None:
    made = ec2.create_launch_template(
        LaunchTemplateName="web-1", VersionDescription="first", LaunchTemplateData=DATA,
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "blue"}]}])["LaunchTemplate"]
    assert re.fullmatch(r"lt-[0-9a-f]{17}", made["LaunchTemplateId"])
    account = api.backend.account_id
    assert (made["LaunchTemplateName"], made["DefaultVersionNumber"], made["LatestVersionNumber"],
            made["CreatedBy"], made["Tags"]) == ("web-1", 1, 1, f"arn:aws:iam::{account}:root",
                                                 [{"Key": "team", "Value": "blue"}])
    [v1] = versions(ec2, LaunchTemplateId=made["LaunchTemplateId"])
    assert v1["LaunchTemplateData"] == DATA  # every member round-trips in the response shape's names
    assert (v1["VersionNumber"], v1["DefaultVersion"], v1["VersionDescription"], v1["LaunchTemplateName"]) == (
        1, True, "first", "web-1")
    assert v1["CreatedBy"] == made["CreatedBy"] and v1["CreateTime"] == made["CreateTime"]
    [described] = ec2.describe_launch_templates(LaunchTemplateIds=[made["LaunchTemplateId"]])["LaunchTemplates"]
    assert described == made


def test_versions_source_latest_default(ec2: Any) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="web-2", LaunchTemplateData=DATA)[
        "LaunchTemplate"]["LaunchTemplateId"]
    v2 = ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1", VersionDescription="bigger",
                                            LaunchTemplateData={"InstanceType": "t3.small"})["LaunchTemplateVersion"]
    assert (v2["VersionNumber"], v2["DefaultVersion"], v2["VersionDescription"]) == (2, False, "bigger")
    inherited = {**DATA, "InstanceType": "t3.small"}
    inherited["BlockDeviceMappings"] = [{"DeviceName": "/dev/sdf", "Ebs": {
        k: v for k, v in DATA["BlockDeviceMappings"][0]["Ebs"].items() if k != "SnapshotId"}}]
    assert v2["LaunchTemplateData"] == inherited  # the source's data, snapshots not carried over
    v3 = ec2.create_launch_template_version(LaunchTemplateName="web-2", LaunchTemplateData={"ImageId": "ami-1"})
    assert v3["LaunchTemplateVersion"]["LaunchTemplateData"] == {"ImageId": "ami-1"}  # no source: only its own
    assert numbers(ec2, LaunchTemplateId=tid, Versions=["$Latest"]) == [3]
    assert numbers(ec2, LaunchTemplateId=tid, Versions=["$Default"]) == [1]
    modified = ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="2")["LaunchTemplate"]
    assert (modified["DefaultVersionNumber"], modified["LatestVersionNumber"]) == (2, 3)
    assert numbers(ec2, LaunchTemplateName="web-2", Versions=["$Default", "$Latest", "1"]) == [2, 3, 1]
    assert [v["DefaultVersion"] for v in versions(ec2, LaunchTemplateId=tid)] == [False, True, False]
    v4 = ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="$Default",
                                            LaunchTemplateData={"KeyName": "other"})["LaunchTemplateVersion"]
    assert v4["LaunchTemplateData"]["InstanceType"] == "t3.small" and v4["LaunchTemplateData"]["KeyName"] == "other"


def test_describe_versions_order_range_filters_pages(ec2: Any) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="web-3", LaunchTemplateData={"InstanceType": "t3.micro"})[
        "LaunchTemplate"]["LaunchTemplateId"]
    for itype in ("t3.small", "t3.medium", "t3.large", "t3.small"):
        ec2.create_launch_template_version(LaunchTemplateId=tid, LaunchTemplateData={"InstanceType": itype})
    assert numbers(ec2, LaunchTemplateId=tid) == [5, 4, 3, 2, 1]  # newest first
    assert numbers(ec2, LaunchTemplateId=tid, MinVersion="2", MaxVersion="4") == [4, 3, 2]
    assert numbers(ec2, LaunchTemplateId=tid, MinVersion="4") == [5, 4]
    filtered = numbers(ec2, LaunchTemplateId=tid, Filters=[{"Name": "instance-type", "Values": ["t3.small"]}])
    assert filtered == [5, 2]
    assert numbers(ec2, LaunchTemplateId=tid, Filters=[{"Name": "is-default-version", "Values": ["true"]}]) == [1]
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=tid, PaginationConfig={"PageSize": 2})
    assert [[v["VersionNumber"] for v in p["LaunchTemplateVersions"]] for p in pages] == [[5, 4], [3, 2], [1]]
    assert refused(ec2.describe_launch_template_versions, LaunchTemplateId=tid,
                   Filters=[{"Name": "tag:team", "Values": ["x"]}]) == (
        "InvalidParameterValue", "The filter 'tag:team' is invalid")
    assert refused(ec2.describe_launch_template_versions, LaunchTemplateId=tid, MaxResults=201)[0] == \
        "InvalidParameterValue"


def test_describe_templates_names_ids_filters_pages(ec2: Any) -> None:
    made = [ec2.create_launch_template(
        LaunchTemplateName=f"fleet-{n}", LaunchTemplateData={"InstanceType": "t3.micro"},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "fleet", "Value": str(n % 2)}]}])[
        "LaunchTemplate"]["LaunchTemplateId"] for n in range(4)]
    by_name = ec2.describe_launch_templates(LaunchTemplateNames=["fleet-2", "fleet-0"])["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in by_name] == ["fleet-2", "fleet-0"]
    assert [t["LaunchTemplateId"] for t in ec2.describe_launch_templates(LaunchTemplateIds=made[1:3])[
        "LaunchTemplates"]] == made[1:3]

    def names(**kw: Any) -> list[str]:
        return [t["LaunchTemplateName"] for t in ec2.describe_launch_templates(**kw)["LaunchTemplates"]]

    assert names(Filters=[{"Name": "launch-template-name", "Values": ["fleet-*"]}]) == [f"fleet-{n}" for n in range(4)]
    assert names(Filters=[{"Name": "tag:fleet", "Values": ["1"]}]) == ["fleet-1", "fleet-3"]
    assert names(Filters=[{"Name": "tag-key", "Values": ["fleet"]}]) == [f"fleet-{n}" for n in range(4)]
    pages = ec2.get_paginator("describe_launch_templates").paginate(
        Filters=[{"Name": "launch-template-name", "Values": ["fleet-*"]}], PaginationConfig={"PageSize": 3})
    assert [len(p["LaunchTemplates"]) for p in pages] == [3, 1]
    assert refused(ec2.describe_launch_templates, MaxResults=201)[0] == "InvalidParameterValue"
    every = versions(ec2, Versions=["$Latest"])  # no template named: $Latest of every template
    assert {v["LaunchTemplateName"] for v in every} >= {f"fleet-{n}" for n in range(4)}


def test_delete_versions_reports_each_version(ec2: Any) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="web-4", LaunchTemplateData={"InstanceType": "t3.micro"})[
        "LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(3):
        ec2.create_launch_template_version(LaunchTemplateId=tid, LaunchTemplateData={"InstanceType": "t3.small"})
    out = ec2.delete_launch_template_versions(LaunchTemplateId=tid, Versions=["4", "1", "2", "17"])
    ids = {"LaunchTemplateId": tid, "LaunchTemplateName": "web-4"}
    assert out["SuccessfullyDeletedLaunchTemplateVersions"] == [{**ids, "VersionNumber": 4},
                                                                {**ids, "VersionNumber": 2}]
    failed = {f["VersionNumber"]: (f["ResponseError"]["Code"], f["LaunchTemplateId"])
              for f in out["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert failed == {1: ("unexpectedError", tid), 17: ("launchTemplateVersionDoesNotExist", tid)}
    assert numbers(ec2, LaunchTemplateId=tid) == [3, 1]
    [template] = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"]
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (1, 3)
    again = ec2.create_launch_template_version(LaunchTemplateId=tid, LaunchTemplateData={"InstanceType": "t3.micro"})
    assert again["LaunchTemplateVersion"]["VersionNumber"] == 5  # a deleted number is never reused
    missing = ec2.delete_launch_template_versions(LaunchTemplateId="lt-0123456789abcdef0", Versions=["1", "2"])
    assert [(f["VersionNumber"], f["ResponseError"]["Code"]) for f in missing[
        "UnsuccessfullyDeletedLaunchTemplateVersions"]] == [(1, "launchTemplateIdDoesNotExist"),
                                                            (2, "launchTemplateIdDoesNotExist")]
    by_name = ec2.delete_launch_template_versions(LaunchTemplateName="nope-lt", Versions=["1"])
    assert by_name["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == \
        "launchTemplateNameDoesNotExist"
    assert by_name["SuccessfullyDeletedLaunchTemplateVersions"] == []


def test_delete_template_and_reuse_its_name(ec2: Any) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="web-5", LaunchTemplateData={"InstanceType": "t3.micro"})[
        "LaunchTemplate"]["LaunchTemplateId"]
    gone = ec2.delete_launch_template(LaunchTemplateName="web-5")["LaunchTemplate"]
    assert (gone["LaunchTemplateId"], gone["LaunchTemplateName"], gone["DefaultVersionNumber"]) == (tid, "web-5", 1)
    assert refused(ec2.describe_launch_templates, LaunchTemplateIds=[tid]) == (
        "InvalidLaunchTemplateId.NotFound", f"The specified launch template, with template ID {tid}, does not exist.")
    assert refused(ec2.delete_launch_template, LaunchTemplateId=tid)[0] == "InvalidLaunchTemplateId.NotFound"
    again = ec2.create_launch_template(LaunchTemplateName="web-5", LaunchTemplateData={"InstanceType": "t3.micro"})
    assert again["LaunchTemplate"]["LaunchTemplateId"] != tid


def test_client_token_and_dry_run(ec2: Any) -> None:
    first = ec2.create_launch_template(LaunchTemplateName="idem", LaunchTemplateData={"InstanceType": "t3.micro"},
                                       ClientToken="tok-1")["LaunchTemplate"]
    second = ec2.create_launch_template(LaunchTemplateName="idem", LaunchTemplateData={"InstanceType": "t3.micro"},
                                        ClientToken="tok-1")["LaunchTemplate"]
    assert second["LaunchTemplateId"] == first["LaunchTemplateId"]
    v = [ec2.create_launch_template_version(LaunchTemplateName="idem", ClientToken="tok-v",
                                            LaunchTemplateData={"KeyName": "x"})["LaunchTemplateVersion"]
         for _ in range(2)]
    assert v[0]["VersionNumber"] == v[1]["VersionNumber"] == 2
    assert refused(ec2.create_launch_template, LaunchTemplateName="dry", DryRun=True,
                   LaunchTemplateData={"InstanceType": "t3.micro"})[0] == "DryRunOperation"
    assert refused(ec2.describe_launch_templates, LaunchTemplateNames=["dry"])[0] == \
        "InvalidLaunchTemplateName.NotFoundException"


NAME_MALFORMED = ("InvalidLaunchTemplateName.MalformedException", "A launch template name must be between 3 and 128 "
                  "characters, and may contain letters, numbers, and the following characters: - ( ) . / _.")


@pytest.mark.parametrize(("call", "kwargs", "expected"), [
    ("create_launch_template", {"LaunchTemplateName": "errs", "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")),
    ("create_launch_template", {"LaunchTemplateName": "bad name!", "LaunchTemplateData": {"KeyName": "k"}},
     NAME_MALFORMED),
    ("create_launch_template", {"LaunchTemplateName": "x" * 129, "LaunchTemplateData": {"KeyName": "k"}},
     NAME_MALFORMED),
    ("create_launch_template", {"LaunchTemplateName": "err-1", "LaunchTemplateData": {"InstanceType": "t9.huge"}},
     ("InvalidParameterValue", "Invalid value 't9.huge' for InstanceType.")),
    ("create_launch_template", {"LaunchTemplateName": "err-3", "LaunchTemplateData": {"KeyName": "k"},
                                "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}]},
     ("InvalidParameterValue", "The value for the ResourceType member of the TagSpecification request parameter must "
                               "be 'launch-template'. Verify the ResourceType and try again.")),
    ("create_launch_template", {"LaunchTemplateName": "err-4", "LaunchTemplateData": {"TagSpecifications": [
        {"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}]}},
     ("InvalidParameterValue", "'vpc' is not a valid taggable resource type for this operation.")),
    ("create_launch_template", {"LaunchTemplateName": "err-5", "LaunchTemplateData": {"TagSpecifications": [
        {"ResourceType": "instance", "Tags": [{"Key": "aws:x", "Value": "b"}]}]}},
     ("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")),
    ("create_launch_template_version", {"LaunchTemplateName": "nope-lt", "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidLaunchTemplateName.NotFoundException",
      "The specified launch template, with template name nope-lt, does not exist.")),
    ("create_launch_template_version", {"LaunchTemplateId": "lt-0123456789abcdef0", "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidLaunchTemplateId.NotFound",
      "The specified launch template, with template ID lt-0123456789abcdef0, does not exist.")),
    ("create_launch_template_version", {"LaunchTemplateId": "lt-nothex", "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidLaunchTemplateId.Malformed", 'Invalid id: "lt-nothex" (expecting "lt-...")')),
    ("create_launch_template_version", {"LaunchTemplateName": "errs", "SourceVersion": "7",
                                        "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidLaunchTemplateId.VersionNotFound", "Could not find the specified version 7 for the launch template "
                                                 "with ID {tid}.")),
    ("create_launch_template_version", {"LaunchTemplateName": "errs", "LaunchTemplateId": "{tid}",
                                        "LaunchTemplateData": {"KeyName": "k"}},
     ("InvalidParameterCombination",
      "Either provide launch template ID or launch template name to create a version of the template.")),
    ("create_launch_template_version", {"LaunchTemplateData": {"KeyName": "k"}},
     ("MissingParameter", "The request must contain the parameter launch template ID or launch template name")),
    ("modify_launch_template", {"LaunchTemplateName": "errs", "LaunchTemplateId": "{tid}", "DefaultVersion": "1"},
     ("InvalidParameterCombination",
      "Either provide launch template ID or launch template name to modify the template.")),
    ("modify_launch_template", {"LaunchTemplateName": "errs", "DefaultVersion": "9"},
     ("InvalidLaunchTemplateId.VersionNotFound",
      "The launch template version 9 is not found for the specified launch template.")),
    ("modify_launch_template", {"DefaultVersion": "1"},
     ("MissingParameter", "The request must contain the parameter launch template ID or launch template name")),
    ("delete_launch_template", {"LaunchTemplateName": "nope-lt"},
     ("InvalidLaunchTemplateName.NotFoundException",
      "The specified launch template, with template name nope-lt, does not exist.")),
    ("delete_launch_template", {"LaunchTemplateName": "errs", "LaunchTemplateId": "{tid}"},
     ("InvalidParameterCombination", "Either provide launch template ID or launch template name to delete the template.")),
    ("delete_launch_template_versions", {"LaunchTemplateName": "errs", "Versions": [str(n) for n in range(1, 202)]},
     ("InvalidParameterValue", "You can specify up to 200 launch template version numbers.")),
    ("describe_launch_templates", {"LaunchTemplateNames": ["errs", "nope-lt"]},
     ("InvalidLaunchTemplateName.NotFoundException",
      "At least one of the launch templates specified in the request does not exist.")),
    ("describe_launch_templates", {"LaunchTemplateIds": ["lt-bad"]},
     ("InvalidLaunchTemplateId.Malformed", 'Invalid id: "lt-bad" (expecting "lt-...")')),
    ("describe_launch_template_versions", {"LaunchTemplateName": "errs", "Versions": ["3"]},
     ("InvalidLaunchTemplateId.VersionNotFound",
      "Could not find the specified version 3 for the launch template with ID {tid}.")),
    ("describe_launch_template_versions", {"LaunchTemplateName": "errs", "Versions": ["latest"]},
     ("InvalidParameterValue",
      "Value (latest) for parameter version is invalid. Expected '$Latest', '$Default' or a version number.")),
    ("describe_launch_template_versions", {"LaunchTemplateName": "nope-lt"},
     ("InvalidLaunchTemplateName.NotFoundException",
      "The specified launch template, with template name nope-lt, does not exist.")),
    ("describe_launch_template_versions", {},
     ("MissingParameter", None)),
    ("describe_launch_template_versions", {"Versions": ["$Latest", "2"]},
     ("InvalidParameterValue", None)),
])
def test_errors(ec2: Any, call: str, kwargs: dict[str, Any], expected: tuple[str, str | None]) -> None:
    existing = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": ["errs"]}])
    if not existing["LaunchTemplates"]:
        ec2.create_launch_template(LaunchTemplateName="errs", LaunchTemplateData={"KeyName": "k"})
    tid = ec2.describe_launch_templates(LaunchTemplateNames=["errs"])["LaunchTemplates"][0]["LaunchTemplateId"]
    args = {k: v.replace("{tid}", tid) if isinstance(v, str) else v for k, v in kwargs.items()}
    code, message = refused(getattr(ec2, call), **args)
    assert code == expected[0], message
    if expected[1] is not None:
        assert message == expected[1].replace("{tid}", tid)
    else:
        assert message.startswith("To describe the launch template data for all your launch templates, for "
                                  "\u2018--versions\u2019 specify \u2018$Latest\u2019, \u2018$Default\u2019, or both")


def test_create_tags_and_describe_tags_on_a_template(ec2: Any) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="tagged", LaunchTemplateData={"InstanceType": "t3.micro"})[
        "LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_tags(Resources=[tid], Tags=[{"Key": "env", "Value": "prod"}])
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [tid]}])["Tags"]
    assert found == [{"ResourceId": tid, "ResourceType": "launch-template", "Key": "env", "Value": "prod"}]
    [described] = ec2.describe_launch_templates(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["LaunchTemplates"]
    assert described["LaunchTemplateId"] == tid and described["Tags"] == [{"Key": "env", "Value": "prod"}]
    ec2.delete_launch_template(LaunchTemplateId=tid)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [tid]}])["Tags"] == []
