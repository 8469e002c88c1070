"""RunInstances from a launch template (fake drivers): the version's data becomes the launch's
parameters, the request's own parameters win, tags merge, the instances carry EC2's
``aws:ec2launchtemplate:*`` tags, and a template's instance profile needs iam:PassRole like a
request's."""

from __future__ import annotations

from typing import Any

import lt_api
from lt_api import instance, make_profile, refused, tags, user_client

api, ec2, iam, image = lt_api.api, lt_api.ec2, lt_api.iam, lt_api.image  # the fixtures

USER_DATA = "IyEvYmluL3NoCmVjaG8gZnJvbSB0aGUgdGVtcGxhdGUK"  # "#!/bin/sh\necho from the template\n"


def _template(ec2: Any, image: str, name: str, **extra: Any) -> tuple[str, str]:
    """A template with a key, a group, user data, metadata options, a zone and tags; (id, group id)."""
    ec2.create_key_pair(KeyName=f"{name}-key")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=f"{name}-sg", Description="lt", VpcId=vpc)["GroupId"]
    data = {"ImageId": image, "InstanceType": "t3.small", "KeyName": f"{name}-key", "SecurityGroupIds": [group],
            "UserData": USER_DATA, "Placement": {"AvailabilityZone": "us-east-1b"},
            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 3,
                                "InstanceMetadataTags": "enabled"},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"},
                                                                        {"Key": "tier", "Value": "front"}]},
                                  {"ResourceType": "volume", "Tags": [{"Key": "disk", "Value": "root"}]}],
            **extra}
    tid = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"][
        "LaunchTemplateId"]
    return tid, group


def _run(ec2: Any, **kw: Any) -> dict[str, Any]:
    out = ec2.run_instances(MinCount=1, MaxCount=1, **kw)["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[out["InstanceId"]],
                                            WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    return dict(out)


def test_launch_from_template_takes_its_parameters(ec2: Any, image: str) -> None:
    tid, group = _template(ec2, image, "run-a")
    iid = _run(ec2, LaunchTemplate={"LaunchTemplateName": "run-a"})["InstanceId"]
    got = instance(ec2, iid)
    assert (got["ImageId"], got["InstanceType"], got["KeyName"], got["Placement"]["AvailabilityZone"]) == (
        image, "t3.small", "run-a-key", "us-east-1b")
    assert [g["GroupId"] for g in got["SecurityGroups"]] == [group]
    assert (got["MetadataOptions"]["HttpTokens"], got["MetadataOptions"]["HttpPutResponseHopLimit"],
            got["MetadataOptions"]["InstanceMetadataTags"]) == ("required", 3, "enabled")
    assert tags(got) == {"app": "web", "tier": "front", "aws:ec2launchtemplate:id": tid,
                         "aws:ec2launchtemplate:version": "1"}
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"] == USER_DATA
    volume = got["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert tags(ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]) == {"disk": "root"}
    ec2.terminate_instances(InstanceIds=[iid])


def test_request_parameters_win_and_tags_merge(ec2: Any, image: str) -> None:
    tid, _ = _template(ec2, image, "run-b")
    iid = _run(ec2, LaunchTemplate={"LaunchTemplateId": tid, "Version": "1"}, InstanceType="t3.micro",
               Placement={"AvailabilityZone": "us-east-1a"}, MetadataOptions={"HttpTokens": "optional"},
               TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "api"},
                                                                        {"Key": "owner", "Value": "me"}]}])["InstanceId"]
    got = instance(ec2, iid)
    assert (got["InstanceType"], got["Placement"]["AvailabilityZone"], got["KeyName"]) == (
        "t3.micro", "us-east-1a", "run-b-key")
    # a parameter given is replaced whole: the template's hop limit (3) is not kept under the request's
    # options, the AMI's default is (2 for an IMDSv2 image)
    v2 = ec2.describe_images(ImageIds=[image])["Images"][0].get("ImdsSupport") == "v2.0"
    assert (got["MetadataOptions"]["HttpTokens"], got["MetadataOptions"]["HttpPutResponseHopLimit"]) == (
        "optional", 2 if v2 else 1)
    assert tags(got) == {"app": "api", "tier": "front", "owner": "me", "aws:ec2launchtemplate:id": tid,
                         "aws:ec2launchtemplate:version": "1"}
    ec2.terminate_instances(InstanceIds=[iid])


def test_versions_latest_default_and_explicit(ec2: Any, image: str) -> None:
    tid, _ = _template(ec2, image, "run-c")
    ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.medium"})
    ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.large"})
    launched = {}
    for version in (None, "$Latest", "$Default", "2"):
        spec = {"LaunchTemplateId": tid, **({"Version": version} if version else {})}
        iid = _run(ec2, LaunchTemplate=spec)["InstanceId"]
        got = instance(ec2, iid)
        launched[version] = (got["InstanceType"], tags(got)["aws:ec2launchtemplate:version"])
        ec2.terminate_instances(InstanceIds=[iid])
    assert launched == {None: ("t3.small", "1"), "$Latest": ("t3.large", "3"), "$Default": ("t3.small", "1"),
                        "2": ("t3.medium", "2")}
    ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="3")
    iid = _run(ec2, LaunchTemplate={"LaunchTemplateName": "run-c"})["InstanceId"]
    assert instance(ec2, iid)["InstanceType"] == "t3.large"
    ec2.terminate_instances(InstanceIds=[iid])


def test_template_without_an_image(ec2: Any, image: str) -> None:
    ec2.create_launch_template(LaunchTemplateName="run-d", LaunchTemplateData={"InstanceType": "t3.micro"})
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateName": "run-d"}, MinCount=1, MaxCount=1) == (
        "MissingParameter", "The request must contain the parameter ImageId")
    iid = _run(ec2, LaunchTemplate={"LaunchTemplateName": "run-d"}, ImageId=image)["InstanceId"]
    assert instance(ec2, iid)["InstanceType"] == "t3.micro"
    ec2.terminate_instances(InstanceIds=[iid])


def test_launch_checks_what_creation_did_not(api: Any, ec2: Any, image: str) -> None:
    ec2.create_launch_template(LaunchTemplateName="run-e", LaunchTemplateData={
        "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro"})
    ec2.create_launch_template_version(LaunchTemplateName="run-e", SourceVersion="1",
                                       LaunchTemplateData={"ImageId": image, "KeyName": "no-such-key"})
    before = len(api.backend.store.list("instance", "us-east-1"))
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateName": "run-e"}, MinCount=1, MaxCount=1)[0] == \
        "InvalidAMIID.NotFound"
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateName": "run-e", "Version": "2"},
                   MinCount=1, MaxCount=1)[0] == "InvalidKeyPair.NotFound"
    ec2.create_launch_template_version(LaunchTemplateName="run-e", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "UserData": "#!/bin/sh not base64"})  # accepted
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateName": "run-e", "Version": "3"},
                   MinCount=1, MaxCount=1) == ("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
    assert len(api.backend.store.list("instance", "us-east-1")) == before


def test_launch_template_errors(ec2: Any, image: str) -> None:
    tid = ec2.create_launch_template(LaunchTemplateName="run-f", LaunchTemplateData={"ImageId": image})[
        "LaunchTemplate"]["LaunchTemplateId"]
    run = {"MinCount": 1, "MaxCount": 1}
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateName": "nope-lt"}, **run) == (
        "InvalidLaunchTemplateName.NotFoundException",
        "The specified launch template, with template name nope-lt, does not exist.")
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateId": "lt-0123456789abcdef0"}, **run)[0] == \
        "InvalidLaunchTemplateId.NotFound"
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateId": "lt-x"}, **run)[0] == \
        "InvalidLaunchTemplateId.Malformed"
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateId": tid, "Version": "5"}, **run) == (
        "InvalidLaunchTemplateId.VersionNotFound",
        f"Could not find the specified version 5 for the launch template with ID {tid}.")
    assert refused(ec2.run_instances, LaunchTemplate={"LaunchTemplateId": tid, "LaunchTemplateName": "run-f"},
                   **run)[0] == "InvalidParameterCombination"
    assert refused(ec2.run_instances, LaunchTemplate={"Version": "1"}, ImageId=image, **run)[0] == "MissingParameter"


def test_template_instance_profile_needs_pass_role(api: Any, ec2: Any, iam: Any, image: str) -> None:
    role_arn = make_profile(iam, "lt-worker")
    ec2.create_launch_template(LaunchTemplateName="run-g", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": "lt-worker"}})
    launch_all = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}
    without = user_client(api, iam, "lt-no-pass", launch_all)
    code, message = refused(without.run_instances, LaunchTemplate={"LaunchTemplateName": "run-g"},
                            MinCount=1, MaxCount=1)
    assert code == "UnauthorizedOperation"
    assert f"is not authorized to perform: iam:PassRole on resource: {role_arn}" in message
    passer = user_client(api, iam, "lt-passer", launch_all,
                         {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn})
    made = _run(passer, LaunchTemplate={"LaunchTemplateName": "run-g"})
    assert made["IamInstanceProfile"]["Arn"].endswith(":instance-profile/lt-worker")
    created_by = passer.describe_launch_templates(LaunchTemplateNames=["run-g"])["LaunchTemplates"][0]["CreatedBy"]
    assert created_by.endswith(":root")
    mine = passer.create_launch_template(LaunchTemplateName="run-h", LaunchTemplateData={"ImageId": image})
    assert mine["LaunchTemplate"]["CreatedBy"] == iam.get_user(UserName="lt-passer")["User"]["Arn"]
    ec2.terminate_instances(InstanceIds=[made["InstanceId"]])


def test_iam_evaluates_the_template_parameters(api: Any, ec2: Any, iam: Any, image: str) -> None:
    """At the API edge, before DryRun: the template's instance type and profile are the launch's."""
    ec2.create_launch_template(LaunchTemplateName="run-i", LaunchTemplateData={"ImageId": image,
                                                                               "InstanceType": "t3.small"})
    only_micro = user_client(api, iam, "lt-micro", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, {
        "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "arn:aws:ec2:*:*:instance/*",
        "Condition": {"StringNotEquals": {"ec2:InstanceType": "t3.micro"}}})
    run = {"LaunchTemplate": {"LaunchTemplateName": "run-i"}, "MinCount": 1, "MaxCount": 1, "DryRun": True}
    assert refused(only_micro.run_instances, **run)[0] == "UnauthorizedOperation"  # t3.small from the template
    assert refused(only_micro.run_instances, InstanceType="t3.micro", **run)[0] == "DryRunOperation"
    role_arn = make_profile(iam, "lt-edge")
    ec2.create_launch_template_version(LaunchTemplateName="run-i", SourceVersion="1",
                                       LaunchTemplateData={"IamInstanceProfile": {"Name": "lt-edge"}})
    latest = {**run, "LaunchTemplate": {"LaunchTemplateName": "run-i", "Version": "$Latest"}}
    code, message = refused(only_micro.run_instances, InstanceType="t3.micro", **latest)
    assert code == "UnauthorizedOperation" and f"iam:PassRole on resource: {role_arn}" in message


def test_get_launch_template_data_makes_a_template_that_launches_the_same(ec2: Any, image: str) -> None:
    _template(ec2, image, "run-j")
    first = _run(ec2, LaunchTemplate={"LaunchTemplateName": "run-j"},
                 TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "j"}]}])
    data = ec2.get_launch_template_data(InstanceId=first["InstanceId"])["LaunchTemplateData"]
    got = instance(ec2, first["InstanceId"])
    assert (data["ImageId"], data["InstanceType"], data["KeyName"], data["UserData"]) == (
        image, "t3.small", "run-j-key", USER_DATA)
    assert data["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert data["NetworkInterfaces"][0]["Groups"] == [g["GroupId"] for g in got["SecurityGroups"]]
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 3
    assert data["BlockDeviceMappings"][0]["DeviceName"] == got["RootDeviceName"]
    assert data["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [
        {"Key": "Name", "Value": "j"}, {"Key": "app", "Value": "web"}, {"Key": "tier", "Value": "front"}]}]
    ec2.create_launch_template(LaunchTemplateName="run-j-copy", LaunchTemplateData=data)
    second = instance(ec2, _run(ec2, LaunchTemplate={"LaunchTemplateName": "run-j-copy"})["InstanceId"])
    for key in ("ImageId", "InstanceType", "KeyName", "SubnetId", "MetadataOptions"):
        assert second[key] == got[key], key
    assert second["SecurityGroups"] == got["SecurityGroups"]
    assert ec2.describe_instance_attribute(InstanceId=second["InstanceId"], Attribute="userData")["UserData"][
        "Value"] == USER_DATA
    assert refused(ec2.get_launch_template_data, InstanceId="i-0123456789abcdef0")[0] == "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[first["InstanceId"], second["InstanceId"]])


def test_iam_sees_a_template_named_by_name_as_its_arn(api: Any, ec2: Any, iam: Any) -> None:
    kept = ec2.create_launch_template(LaunchTemplateName="guarded", LaunchTemplateData={"InstanceType": "t3.micro"},
                                      TagSpecifications=[{"ResourceType": "launch-template",
                                                          "Tags": [{"Key": "protected", "Value": "yes"}]}])
    tid = kept["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template(LaunchTemplateName="free", LaunchTemplateData={"InstanceType": "t3.micro"})
    user = user_client(api, iam, "lt-guard", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, {
        "Effect": "Deny", "Action": ["ec2:DeleteLaunchTemplate", "ec2:CreateLaunchTemplateVersion"],
        "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/protected": "yes"}}})
    for named in ({"LaunchTemplateName": "guarded"}, {"LaunchTemplateId": tid}):
        code, message = refused(user.delete_launch_template, **named)
        assert code == "UnauthorizedOperation"
        assert f"on resource: arn:aws:ec2:us-east-1:{api.backend.account_id}:launch-template/{tid}" in message
        assert refused(user.create_launch_template_version, LaunchTemplateData={"KeyName": "k"},
                       **named)[0] == "UnauthorizedOperation"
    user.delete_launch_template(LaunchTemplateName="free")
    made = user.create_launch_template(LaunchTemplateName="guarded-2", LaunchTemplateData={"KeyName": "k"})
    assert made["LaunchTemplate"]["LaunchTemplateName"] == "guarded-2"
