"""The metadata service's ``iam/`` for instances with a role, as the runtime hands it to the IMDS
server (fake drivers, no guest): the listing, iam/info, the credentials document, rotation with a
short lifetime on the store's clock, revocation on disassociate / stop / terminate (the old keys
are refused by ec2d's STS right after), and a role EC2 may not assume."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import botocore.utils as botocore_utils
import pytest
import roles_api
from roles_api import LAMBDA_TRUST, LIFETIME, RolesApi, keys, launch, make_profile, refused

from orchestrator.services.instance_roles import refresh_margin

api, ec2, iam, image = roles_api.api, roles_api.ec2, roles_api.iam, roles_api.image  # the fixtures

# The study notes' meta-data listing (/work/shared/seed/ec2-study-notes.md, "EC2 meta data").
STUDY_NOTES_LISTING = """ami-id
ami-launch-index
ami-manifest-path
block-device-mapping/
events/
hibernation/
hostname
iam/
identity-credentials/
instance-action
instance-id
instance-life-cycle
instance-type
local-hostname
local-ipv4
mac
metrics/
network/
placement/
profile
public-hostname
public-ipv4
public-keys/
reservation-id
security-groups
services/"""
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def caller_arn(api: RolesApi, doc: dict[str, Any]) -> str:
    return str(api.client("sts", keys(doc)).get_caller_identity()["Arn"])


def key_pair(api: RolesApi, ec2: Any) -> str:
    name = "roles-key"
    if not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]:
        ec2.create_key_pair(KeyName=name)
    return name


def test_listing_info_and_credentials(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    profile = make_profile(iam, "web", role="web-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "web"}, KeyName=key_pair(api, ec2),
                 MetadataOptions={"HttpTokens": "optional"})["InstanceId"]
    (s1, listing), (s2, info), (s3, names) = api.imds_get(
        iid, "meta-data/", "meta-data/iam/info", "meta-data/iam/security-credentials/")
    assert (s1, s2, s3) == (200, 200, 200)
    assert listing == STUDY_NOTES_LISTING
    info_doc = json.loads(info)
    assert info_doc["Code"] == "Success" and TIME.fullmatch(info_doc["LastUpdated"])
    assert (info_doc["InstanceProfileArn"], info_doc["InstanceProfileId"]) == (profile["Arn"],
                                                                               profile["InstanceProfileId"])
    assert names == "web-role"  # no trailing newline: botocore appends it to the next URL verbatim
    doc = api.role_document(iid, "web-role")
    assert set(doc) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert (doc["Code"], doc["Type"]) == ("Success", "AWS-HMAC") and doc["AccessKeyId"].startswith("ASIA")
    expires = dt.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs(expires.timestamp() - (api.clock() + LIFETIME)) <= 1
    assert api.role_document(iid, "web-role") == doc  # the same set until it is due for rotation
    assert caller_arn(api, doc) == f"arn:aws:sts::{api.backend.account_id}:assumed-role/web-role/{iid}"
    [(status, _)] = api.imds_get(iid, "meta-data/iam/security-credentials/other-role")
    assert status == 404
    # IMDSv1 too while HttpTokens is optional; with required, a tokenless GET is 401
    assert api.imds_get(iid, "meta-data/iam/security-credentials/", v2=False) == [(200, "web-role")]
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="required")
    api.settle()
    assert api.imds_get(iid, "meta-data/iam/security-credentials/", v2=False)[0][0] == 401
    assert api.imds_get(iid, "meta-data/iam/security-credentials/")[0] == (200, "web-role")


def test_no_iam_without_a_profile(api: RolesApi, ec2: Any, image: str) -> None:
    iid = launch(api, ec2, image)["InstanceId"]
    [(status, listing), (info_status, _)] = api.imds_get(iid, "meta-data/", "meta-data/iam/info")
    assert status == 200 and "iam/" not in listing.split("\n") and info_status == 404


def test_rotation_keeps_old_sets_valid_until_they_expire(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "rot", role="rot-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "rot"})["InstanceId"]
    first = api.role_document(iid, "rot-role")
    api.clock.advance(LIFETIME - 3600 - 60)  # 61 min left: still the same set
    assert api.role_document(iid, "rot-role") == first
    api.clock.advance(120)  # 59 min left: a new set, LastUpdated moves
    second = api.role_document(iid, "rot-role")
    assert second["AccessKeyId"] != first["AccessKeyId"] and second["LastUpdated"] != first["LastUpdated"]
    assert second["Expiration"] > first["Expiration"]
    assert caller_arn(api, first).endswith(f"/rot-role/{iid}")  # the old set works until its own expiry
    assert caller_arn(api, second).endswith(f"/rot-role/{iid}")
    api.clock.advance(3600)  # past the first set's expiration
    assert refused(api.client("sts", keys(first)).get_caller_identity)[0] == "ExpiredToken"
    assert caller_arn(api, second).endswith(f"/rot-role/{iid}")
    third = api.role_document(iid, "rot-role")
    assert third["AccessKeyId"] not in (first["AccessKeyId"], second["AccessKeyId"])


def refused_now(api: RolesApi, doc: dict[str, Any]) -> str:
    return refused(api.client("sts", keys(doc)).get_caller_identity)[0]


def test_disassociate_revokes_and_removes_iam(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "dis", role="dis-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "dis"})["InstanceId"]
    old = api.role_document(iid, "dis-role")
    api.clock.advance(LIFETIME - 1800)
    rotated = api.role_document(iid, "dis-role")  # two live sets: both must go
    assert rotated["AccessKeyId"] != old["AccessKeyId"]
    [assoc] = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
    ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
    assert refused_now(api, old) in ("InvalidClientTokenId", "AuthFailure")
    assert refused_now(api, rotated) in ("InvalidClientTokenId", "AuthFailure")
    api.settle()
    [(status, listing), (gone, _)] = api.imds_get(iid, "meta-data/", "meta-data/iam/security-credentials/")
    assert status == 200 and "iam/" not in listing.split("\n") and gone == 404


def test_replace_revokes_the_old_role(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "rep-a", role="rep-a-role")
    make_profile(iam, "rep-b", role="rep-b-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "rep-a"})["InstanceId"]
    old = api.role_document(iid, "rep-a-role")
    [assoc] = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
    ec2.replace_iam_instance_profile_association(AssociationId=assoc["AssociationId"],
                                                 IamInstanceProfile={"Name": "rep-b"})
    assert refused_now(api, old) in ("InvalidClientTokenId", "AuthFailure")
    api.settle()
    assert api.imds_get(iid, "meta-data/iam/security-credentials/") == [(200, "rep-b-role")]
    new = api.role_document(iid, "rep-b-role")
    assert caller_arn(api, new).endswith(f"assumed-role/rep-b-role/{iid}")


def test_stop_and_terminate_revoke(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "life", role="life-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "life"})["InstanceId"]
    before_stop = api.role_document(iid, "life-role")
    ec2.stop_instances(InstanceIds=[iid])
    assert refused_now(api, before_stop) in ("InvalidClientTokenId", "AuthFailure")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    ec2.start_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    api.settle()
    after_start = api.role_document(iid, "life-role")  # the profile stays; a fresh set after the start
    assert after_start["AccessKeyId"] != before_stop["AccessKeyId"]
    assert caller_arn(api, after_start).endswith(f"/life-role/{iid}")
    ec2.terminate_instances(InstanceIds=[iid])
    assert refused_now(api, after_start) in ("InvalidClientTokenId", "AuthFailure")


def test_a_role_ec2_may_not_assume(api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "lam", trust=LAMBDA_TRUST, role="lam-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "lam"})["InstanceId"]
    assert api.imds_get(iid, "meta-data/iam/security-credentials/") == [(200, "lam-role")]
    doc = api.role_document(iid, "lam-role")
    assert doc["Code"] == "AssumeRoleUnauthorizedAccess" and "AccessKeyId" not in doc
    assert doc["Message"].startswith("EC2 cannot assume the role lam-role.") and TIME.fullmatch(doc["LastUpdated"])
    iam.update_assume_role_policy(RoleName="lam-role", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    fixed = api.role_document(iid, "lam-role")  # trust fixed: the next request gets keys
    assert fixed["Code"] == "Success" and caller_arn(api, fixed).endswith(f"/lam-role/{iid}")


def no_store_reads(api: RolesApi, monkeypatch: Any) -> None:
    """From here, a credentials request that reads the instance's binding from the store fails."""
    def refuse(instance_id: str) -> None:
        raise AssertionError(f"the binding of {instance_id} was read from the store")
    monkeypatch.setattr(api.backend.roles, "_bound_role", refuse)


def test_a_served_set_comes_from_memory_until_its_revocation_or_an_iam_write(
        api: RolesApi, ec2: Any, iam: Any, image: str) -> None:
    make_profile(iam, "mem", role="mem-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "mem"})["InstanceId"]
    other = launch(api, ec2, image, IamInstanceProfile={"Name": "mem"})["InstanceId"]
    roles = api.backend.roles
    assert roles is not None and roles.peek(iid) is None  # nothing served yet: the store decides
    first = api.role_document(iid, "mem-role")
    with pytest.MonkeyPatch.context() as mp:
        no_store_reads(api, mp)
        assert api.role_document(iid, "mem-role") == first  # the service's own path, no store read
    # a revocation ends the instance's own set, not another's
    api.role_document(other, "mem-role")
    assert roles.peek(other) is not None
    ec2.stop_instances(InstanceIds=[other])
    assert roles.peek(other) is None and (roles.peek(iid) or {}).get("AccessKeyId") == first["AccessKeyId"]
    # so does a write of an IAM record: the role leaves the profile, its set stops being served
    # (by the provider at once; the listing loses the role at the next metadata sync)
    iam.remove_role_from_instance_profile(InstanceProfileName="mem", RoleName="mem-role")
    assert roles.peek(iid) is None
    gone = roles.credentials(iid)
    assert gone["Code"] == "InstanceProfileNotFound" and "AccessKeyId" not in gone
    iam.add_role_to_instance_profile(InstanceProfileName="mem", RoleName="mem-role")
    api.settle()
    back = api.role_document(iid, "mem-role")
    assert back["Code"] == "Success" and roles.peek(iid) is not None
    # a set due for rotation is never served from memory
    api.clock.advance(LIFETIME - 3600 + 60)
    assert roles.peek(iid) is None
    rotated = api.role_document(iid, "mem-role")
    assert rotated["AccessKeyId"] != back["AccessKeyId"] and roles.peek(iid) is not None
    ec2.terminate_instances(InstanceIds=[iid, other])


def test_a_revocation_during_a_verification_is_not_outlived_in_memory(
        api: RolesApi, ec2: Any, iam: Any, image: str, monkeypatch: Any) -> None:
    """The instance's sessions are revoked after its binding was read and checked again, just
    before the new set is kept (the revocation's pop finds nothing yet): that set is not kept, and
    the binding is read again; a set served later is a live one."""
    from orchestrator.services import instance_roles

    make_profile(iam, "race", role="race-role")
    iid = launch(api, ec2, image, IamInstanceProfile={"Name": "race"})["InstanceId"]
    roles = api.backend.roles
    assert roles is not None
    made = instance_roles._Served
    revoked: list[str] = []

    def revoked_meanwhile(role_id: str, issued: Any, *rest: Any) -> Any:
        if not revoked:
            revoked.append(issued.access_key_id)
            roles.revoke(iid)
        return made(role_id, issued, *rest)

    monkeypatch.setattr(instance_roles, "_Served", revoked_meanwhile)
    doc = api.role_document(iid, "race-role")
    assert revoked and doc["AccessKeyId"] != revoked[0]  # the set minted before the revocation is not served
    assert caller_arn(api, doc).endswith(f"/race-role/{iid}")
    assert (roles.peek(iid) or {}).get("AccessKeyId") == doc["AccessKeyId"]
    assert api.role_document(iid, "race-role") == doc
    ec2.terminate_instances(InstanceIds=[iid])


@pytest.mark.parametrize("lifetime", [1320, 1800, 3600, 7200, 21600])
def test_no_set_is_served_that_botocore_takes_for_an_imds_outage(lifetime: int, monkeypatch: Any) -> None:
    """botocore's own check (largest jitter) on the closest-to-expiry set ec2d would still serve."""
    margin = refresh_margin(lifetime)
    assert 60 <= margin < lifetime and lifetime - margin >= 60  # each set is served for a while
    monkeypatch.setattr(botocore_utils.random, "randint", lambda low, high: high)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    monkeypatch.setattr(botocore_utils, "get_current_datetime", lambda: now)
    expiry = (now + dt.timedelta(seconds=margin + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    creds = {"expiry_time": expiry}
    botocore_utils.InstanceMetadataFetcher()._evaluate_expiration(creds)
    assert creds["expiry_time"] == expiry  # not extended: botocore refreshes it on time


def test_refresh_margin_examples() -> None:  # half; a minute of service; EC2's hour
    assert refresh_margin(120) == 60 and refresh_margin(600) == 540 and refresh_margin(21600) == 3600
