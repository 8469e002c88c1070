"""RunInstances' IamInstanceProfile and the association API through boto3: EC2's errors, the
association states (associating -> associated, disassociating -> disassociated, settled by the
runtime's background job), stable ids on a second Describe, filters and paging."""

from __future__ import annotations

from typing import Any

import pytest
import roles_api
from roles_api import RolesApi, launch, make_profile, refused

from orchestrator.domain.lifecycle import (
    PROFILE_ASSOCIATION_SETTLES,
    IllegalTransition,
    ProfileAssociationState,
    move_profile_association,
)

api, ec2, iam, image = roles_api.api, roles_api.ec2, roles_api.iam, roles_api.image  # the fixtures


def associations(ec2: Any, **kw: Any) -> list[dict[str, Any]]:
    return list(ec2.describe_iam_instance_profile_associations(**kw)["IamInstanceProfileAssociations"])


def test_run_instances_with_a_profile_by_name_and_arn(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    profile = make_profile(iam, "launch-p")
    ref = {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
    by_name = launch(api, ec2, image, IamInstanceProfile={"Name": "launch-p"})
    assert by_name["IamInstanceProfile"] == ref  # in RunInstances' own answer
    by_arn = launch(api, ec2, image, IamInstanceProfile={"Arn": profile["Arn"]})
    assert by_arn["IamInstanceProfile"] == ref
    described = ec2.describe_instances(InstanceIds=[by_name["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["IamInstanceProfile"] == ref
    first = associations(ec2, Filters=[{"Name": "instance-id", "Values": [by_name["InstanceId"]]}])
    assert [(a["State"], a["IamInstanceProfile"]) for a in first] == [("associated", ref)]
    again = associations(ec2, Filters=[{"Name": "instance-id", "Values": [by_name["InstanceId"]]}])
    assert again == first  # Terraform's second read: same id, settled state
    plain = launch(api, ec2, image)
    assert "IamInstanceProfile" not in plain


def test_run_instances_refuses_unknown_or_empty_profiles(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    iam.create_instance_profile(InstanceProfileName="empty-p")
    before = len(api.backend.store.list("instance", "us-east-1"))
    args = {"ImageId": image, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    assert refused(ec2.run_instances, IamInstanceProfile={"Name": "nope"}, **args) == (
        "InvalidParameterValue",
        "Value (nope) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
    assert refused(ec2.run_instances, IamInstanceProfile={"Name": "empty-p"}, **args)[0] == "InvalidParameterValue"
    arn = f"arn:aws:iam::{api.backend.account_id}:instance-profile/nope"
    assert refused(ec2.run_instances, IamInstanceProfile={"Arn": arn}, **args) == (
        "InvalidParameterValue", f"Value ({arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM "
        "Instance Profile ARN")
    assert len(api.backend.store.list("instance", "us-east-1")) == before  # nothing was launched


def test_associate_replace_disassociate(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    one, two = make_profile(iam, "assoc-1"), make_profile(iam, "assoc-2")
    iid = launch(api, ec2, image)["InstanceId"]
    made = ec2.associate_iam_instance_profile(InstanceId=iid, IamInstanceProfile={"Name": "assoc-1"})
    first = made["IamInstanceProfileAssociation"]
    assert first["State"] == "associating" and first["AssociationId"].startswith("iip-assoc-")
    assert first["IamInstanceProfile"] == {"Arn": one["Arn"], "Id": one["InstanceProfileId"]}
    api.settle()
    assert [a["State"] for a in associations(ec2, AssociationIds=[first["AssociationId"]])] == ["associated"]
    assert refused(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Name": "assoc-2"}) == (
        "IncorrectState", f"There is an existing association for instance {iid}")

    replaced = ec2.replace_iam_instance_profile_association(
        AssociationId=first["AssociationId"], IamInstanceProfile={"Arn": two["Arn"]})["IamInstanceProfileAssociation"]
    assert replaced["State"] == "associating" and replaced["AssociationId"] != first["AssociationId"]
    api.settle()
    states = {a["AssociationId"]: a["State"] for a in associations(
        ec2, Filters=[{"Name": "instance-id", "Values": [iid]}])}
    assert states == {first["AssociationId"]: "disassociated", replaced["AssociationId"]: "associated"}
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Arn"] == two["Arn"]

    gone = ec2.disassociate_iam_instance_profile(AssociationId=replaced["AssociationId"])
    assert gone["IamInstanceProfileAssociation"]["State"] == "disassociating"
    api.settle()
    assert [a["State"] for a in associations(ec2, AssociationIds=[replaced["AssociationId"]])] == ["disassociated"]
    assert "IamInstanceProfile" not in ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert refused(ec2.disassociate_iam_instance_profile, AssociationId=replaced["AssociationId"])[0] == \
        "IncorrectState"
    assert refused(ec2.disassociate_iam_instance_profile, AssociationId="iip-assoc-0123456789abcdef0") == (
        "InvalidAssociationID.NotFound", "An invalid association-id of 'iip-assoc-0123456789abcdef0' was given")
    assert refused(ec2.describe_iam_instance_profile_associations,
                   AssociationIds=["iip-assoc-0123456789abcdef0"])[0] == "InvalidAssociationID.NotFound"
    # associating again after a disassociation is fine
    again = ec2.associate_iam_instance_profile(InstanceId=iid, IamInstanceProfile={"Name": "assoc-1"})
    assert again["IamInstanceProfileAssociation"]["State"] == "associating"
    assert refused(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Name": "nope"})[0] in (
        "IncorrectState", "InvalidParameterValue")


def test_describe_filters_and_paging(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "page-p")
    for _ in range(3):
        launch(api, ec2, image, IamInstanceProfile={"Name": "page-p"})
    everything = associations(ec2)
    assert len(everything) >= 3
    associated = associations(ec2, Filters=[{"Name": "state", "Values": ["associated"]}])
    assert associated and all(a["State"] == "associated" for a in associated)
    paged = ec2.get_paginator("describe_iam_instance_profile_associations").paginate(
        PaginationConfig={"PageSize": 5})
    pages = [p["IamInstanceProfileAssociations"] for p in paged]
    assert [a["AssociationId"] for p in pages for a in p] == [a["AssociationId"] for a in everything]
    assert all(len(p) <= 5 for p in pages)


def test_terminated_instances_lose_their_associations(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "term-p")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "term-p"})["InstanceId"]
    [assoc] = associations(ec2, Filters=[{"Name": "instance-id", "Values": [iid]}])
    ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    assert associations(ec2, Filters=[{"Name": "instance-id", "Values": [iid]}]) == []
    assert refused(ec2.disassociate_iam_instance_profile, AssociationId=assoc["AssociationId"])[0] == \
        "InvalidAssociationID.NotFound"
    assert refused(ec2.associate_iam_instance_profile, InstanceId=iid,
                   IamInstanceProfile={"Name": "term-p"})[0] == "IncorrectInstanceState"


def test_association_state_machine() -> None:
    entry = {"State": "associating"}
    assert move_profile_association(entry, ProfileAssociationState.ASSOCIATED) is entry
    assert entry["State"] == "associated"
    with pytest.raises(IllegalTransition):
        move_profile_association(entry, ProfileAssociationState.ASSOCIATING)
    move_profile_association(entry, ProfileAssociationState.DISASSOCIATING)
    move_profile_association(entry, ProfileAssociationState.DISASSOCIATED)
    for target in ProfileAssociationState:
        if target != ProfileAssociationState.DISASSOCIATED:
            with pytest.raises(IllegalTransition):
                move_profile_association(entry, target)
    assert PROFILE_ASSOCIATION_SETTLES == {"associating": "associated", "disassociating": "disassociated"}
