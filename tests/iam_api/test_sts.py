"""STS AssumeRole through boto3: the trust policy decides with the caller's own policies (AWS's
rules), the session's credentials work for ec2d's APIs (GetCallerIdentity shows the assumed-role
ARN), session policies narrow them, they expire (the store's clock is moved) and end with their
role; and IAM's own actions are evaluated against IAM users' and roles' policies."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator

import pytest
from iam_api_lib import keys_of, refused
from loopback_api import LoopbackApi

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.iam import assume, sessions

ALLOW_IAM_READ = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}]}


def trust(principal: object, **condition: object) -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture()
def account(api: LoopbackApi) -> str:
    return api.backend.account_id


@pytest.fixture()
def user_keys(api: LoopbackApi, iam) -> Iterator[dict[str, str]]:
    """An IAM user ``sts-user`` with a key; removed after the test."""
    iam.create_user(UserName="sts-user")
    key = iam.create_access_key(UserName="sts-user")
    yield keys_of(key)
    for name in iam.list_user_policies(UserName="sts-user")["PolicyNames"]:
        iam.delete_user_policy(UserName="sts-user", PolicyName=name)
    iam.delete_access_key(UserName="sts-user", AccessKeyId=key["AccessKey"]["AccessKeyId"])
    iam.delete_user(UserName="sts-user")


def make_role(iam, name: str, trust_doc: str, **kw: object) -> str:
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc, **kw)["Role"]["Arn"]


def drop_role(iam, name: str) -> None:
    for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=p)
    for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
    iam.delete_role(RoleName=name)


def test_root_assumes_a_role_trusting_the_account(api: LoopbackApi, iam, sts, account: str) -> None:
    arn = make_role(iam, "admin", trust({"AWS": f"arn:aws:iam::{account}:root"}))
    role_id = iam.get_role(RoleName="admin")["Role"]["RoleId"]
    before = dt.datetime.now(dt.UTC)
    got = sts.assume_role(RoleArn=arn, RoleSessionName="me@example", DurationSeconds=900)
    creds = got["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"]) and len(creds["SecretAccessKey"]) == 40
    assert len(creds["SessionToken"]) > 100
    assert dt.timedelta(seconds=890) < creds["Expiration"] - before < dt.timedelta(seconds=910)
    assert got["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:me@example",
                                      "Arn": f"arn:aws:sts::{account}:assumed-role/admin/me@example"}
    who = api.client("sts", keys_of(got)).get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (
        f"arn:aws:sts::{account}:assumed-role/admin/me@example", f"{role_id}:me@example", account)
    # the token is required and must match
    no_token = {k: v for k, v in keys_of(got).items() if k != "aws_session_token"}
    assert refused(api.client("sts", no_token).get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    wrong = {**keys_of(got), "aws_session_token": creds["SessionToken"][:-4] + "AAAA"}
    assert refused(api.client("sts", wrong).get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    drop_role(iam, "admin")


def test_trust_decides(api: LoopbackApi, iam, sts, account: str, user_keys: dict[str, str]) -> None:
    user_arn = f"arn:aws:iam::{account}:user/sts-user"
    as_user = api.client("sts", user_keys)
    # trusting the user itself is enough (same account), with no identity policy
    direct = make_role(iam, "direct", trust({"AWS": user_arn}))
    assert as_user.assume_role(RoleArn=direct, RoleSessionName="s1")["AssumedRoleUser"]["Arn"].endswith("direct/s1")
    # root is not the user: a trust policy naming only the user refuses root
    status, code, message = refused(sts.assume_role, RoleArn=direct, RoleSessionName="s1")
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith(f"User: arn:aws:iam::{account}:root is not authorized to perform: sts:AssumeRole "
                              f"on resource: {direct}")
    # trusting the account delegates to the user's own policies
    delegated = make_role(iam, "delegated", trust({"AWS": account}))
    assert refused(as_user.assume_role, RoleArn=delegated, RoleSessionName="s2")[:2] == (403, "AccessDenied")
    iam.put_user_policy(UserName="sts-user", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": delegated}]}))
    assert as_user.assume_role(RoleArn=delegated, RoleSessionName="s2")["Credentials"]["AccessKeyId"].startswith("ASIA")
    # a service principal only: nobody here may assume it
    service = make_role(iam, "service", trust({"Service": "ec2.amazonaws.com"}))
    assert refused(sts.assume_role, RoleArn=service, RoleSessionName="s3")[:2] == (403, "AccessDenied")
    assert refused(as_user.assume_role, RoleArn=service, RoleSessionName="s3")[:2] == (403, "AccessDenied")
    # an unknown role is refused the same way
    assert refused(sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/nope", RoleSessionName="s4")[:2] == (
        403, "AccessDenied")
    for name in ("direct", "delegated", "service"):
        drop_role(iam, name)


def test_external_id_condition(iam, sts, account: str) -> None:
    arn = make_role(iam, "external", trust({"AWS": account}, StringEquals={"sts:ExternalId": "s3cr3t-id"}))
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="ext")[:2] == (403, "AccessDenied")
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="ext", ExternalId="wrong-id")[:2] == (403, "AccessDenied")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="ext", ExternalId="s3cr3t-id")["Credentials"]
    # session tags need sts:TagSession in the trust policy too
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="ext", ExternalId="s3cr3t-id",
                   Tags=[{"Key": "team", "Value": "a"}])[:2] == (403, "AccessDenied")
    drop_role(iam, "external")


def test_duration_bounds(api: LoopbackApi, iam, sts, account: str) -> None:
    arn = make_role(iam, "timed", trust({"AWS": account}), MaxSessionDuration=7200)
    got = sts.assume_role(RoleArn=arn, RoleSessionName="long", DurationSeconds=7200)
    assert got["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=7100)
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="long", DurationSeconds=7201) == (
        400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    unchecked = api.client("sts", parameter_validation=False)
    assert refused(unchecked.assume_role, RoleArn=arn, RoleSessionName="short", DurationSeconds=899)[:2] == (
        400, "ValidationError")
    assert refused(unchecked.assume_role, RoleArn=arn, RoleSessionName="x")[:2] == (400, "ValidationError")
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="bad name")[:2] == (400, "ValidationError")
    # role chaining (the role's own policy must allow it: its trust names the account): at most an hour
    iam.put_role_policy(RoleName="timed", PolicyName="chain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}]}))
    chained = api.client("sts", keys_of(sts.assume_role(RoleArn=arn, RoleSessionName="first")))
    assert refused(chained.assume_role, RoleArn=arn, RoleSessionName="second", DurationSeconds=3601) == (
        400, "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
    assert chained.assume_role(RoleArn=arn, RoleSessionName="second")["AssumedRoleUser"]["Arn"].endswith("timed/second")
    drop_role(iam, "timed")


def test_session_expires_and_ends_with_its_role(api: LoopbackApi, iam, sts, account: str) -> None:
    arn = make_role(iam, "short", trust({"AWS": account}))
    got = sts.assume_role(RoleArn=arn, RoleSessionName="exp", DurationSeconds=900)
    as_role = api.client("sts", keys_of(got))
    assert as_role.get_caller_identity()["Arn"].endswith("assumed-role/short/exp")
    store = api.backend.store
    real_clock = store.clock
    try:
        store.clock = lambda: time.time() + 899
        assert as_role.get_caller_identity()["Arn"].endswith("assumed-role/short/exp")
        store.clock = lambda: time.time() + 901
        assert refused(as_role.get_caller_identity) == (
            403, "ExpiredToken", "The security token included in the request is expired")
    finally:
        store.clock = real_clock
    assert as_role.get_caller_identity()  # (the clock is back)
    other = api.client("sts", keys_of(sts.assume_role(RoleArn=arn, RoleSessionName="other")))
    drop_role(iam, "short")
    assert refused(as_role.get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    assert refused(other.get_caller_identity)[:2] == (403, "InvalidClientTokenId")


def test_sessions_survive_a_restart_of_the_backend_store(api: LoopbackApi, iam, sts, account: str) -> None:
    """Sessions are kept in the store (sealed), not in memory: another backend on the same data
    dir resolves them."""
    arn = make_role(iam, "kept", trust({"AWS": account}))
    got = sts.assume_role(RoleArn=arn, RoleSessionName="kept")
    creds = got["Credentials"]
    other = Backend.open(api.backend.config)
    try:
        found = other.resolve_key(creds["AccessKeyId"], creds["SessionToken"])
        assert found is not None and found.secret == creds["SecretAccessKey"]
        assert found.caller.arn == f"arn:aws:sts::{account}:assumed-role/kept/kept"
        assert other.resolve_key(creds["AccessKeyId"], "forged") is None
        record = other.store.get(creds["AccessKeyId"], "sts-session")
        assert creds["SecretAccessKey"] not in repr(record.data) and creds["SessionToken"] not in repr(record.data)
    finally:
        other.close()
    drop_role(iam, "kept")


def test_iam_actions_are_evaluated_for_users_and_roles(api: LoopbackApi, iam, sts, account: str,
                                                       user_keys: dict[str, str]) -> None:
    as_user = api.client("iam", user_keys)
    status, code, message = refused(as_user.list_roles)
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith(f"User: arn:aws:iam::{account}:user/sts-user is not authorized to perform: "
                              f"iam:ListRoles on resource: arn:aws:iam::{account}:role/ because no identity-based "
                              "policy allows the iam:ListRoles action")
    iam.put_user_policy(UserName="sts-user", PolicyName="read", PolicyDocument=json.dumps(ALLOW_IAM_READ))
    assert as_user.list_roles()["Roles"] is not None
    assert as_user.get_user()["User"]["UserName"] == "sts-user"  # itself, no name given
    assert refused(as_user.create_user, UserName="mallory")[:2] == (403, "AccessDenied")
    assert refused(iam.get_user, UserName="mallory")[1] == "NoSuchEntity"
    # an explicit Deny beats the Allow
    iam.put_user_policy(UserName="sts-user", PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}]}))
    status, code, message = refused(as_user.list_roles)
    assert (status, code) == (403, "AccessDenied") and message.endswith("with an explicit deny in an identity-based policy")
    assert as_user.list_users()["Users"]
    # a role with an AWS-managed policy, narrowed by a session policy
    arn = make_role(iam, "reader", trust({"AWS": account}))
    iam.attach_role_policy(RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    as_role = api.client("iam", keys_of(sts.assume_role(RoleArn=arn, RoleSessionName="rr")))
    assert as_role.list_roles()["Roles"] and as_role.get_role(RoleName="reader")
    assert refused(as_role.create_role, RoleName="x", AssumeRolePolicyDocument=trust({"AWS": account}))[:2] == (
        403, "AccessDenied")
    narrowed = api.client("iam", keys_of(sts.assume_role(
        RoleArn=arn, RoleSessionName="nn", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}]}))))
    assert narrowed.get_role(RoleName="reader")["Role"]["RoleName"] == "reader"
    assert refused(narrowed.list_roles)[:2] == (403, "AccessDenied")
    managed_session = api.client("iam", keys_of(sts.assume_role(
        RoleArn=arn, RoleSessionName="mm", PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}])))
    assert refused(managed_session.list_roles)[:2] == (403, "AccessDenied")  # S3 read allows no IAM action
    # EC2 evaluates the role's policies too: ReadOnlyAccess describes, but creates nothing
    ec2 = api.client("ec2", keys_of(sts.assume_role(RoleArn=arn, RoleSessionName="ee")), region="us-west-2")
    assert ec2.describe_vpcs()["Vpcs"] == []  # allowed (this API-only backend has no default VPC)
    assert refused(ec2.create_vpc, CidrBlock="10.7.0.0/16")[:2] == (403, "UnauthorizedOperation")
    assert refused(sts.assume_role, RoleArn=arn, RoleSessionName="pp", Policy="{nope")[:2] == (
        400, "MalformedPolicyDocument")
    drop_role(iam, "reader")


def test_a_service_assumes_a_role_that_trusts_it(api: LoopbackApi, iam, account: str) -> None:
    """What an instance profile's credentials are made with: ec2.amazonaws.com assumes the role."""
    make_role(iam, "for-ec2", trust({"Service": "ec2.amazonaws.com"}))
    make_role(iam, "not-ec2", trust({"AWS": account}))
    issued = assume.for_service(api.backend, "for-ec2", "ec2.amazonaws.com", "i-0123456789abcdef0", 3600,
                                owner="i-0123456789abcdef0")
    as_instance = api.client("sts", {"aws_access_key_id": issued.access_key_id,
                                     "aws_secret_access_key": issued.secret_access_key,
                                     "aws_session_token": issued.token})
    assert as_instance.get_caller_identity()["Arn"] == \
        f"arn:aws:sts::{account}:assumed-role/for-ec2/i-0123456789abcdef0"
    with pytest.raises(errors.AccessDenied):
        assume.for_service(api.backend, "not-ec2", "ec2.amazonaws.com", "i-0123456789abcdef0", 3600)
    assert sessions.revoke(api.backend.store, owner="i-0123456789abcdef0") == 1
    assert refused(as_instance.get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    drop_role(iam, "for-ec2")
    drop_role(iam, "not-ec2")
