"""Cost Explorer and Price List obey IAM (on "*", AccessDeniedException), and launching with an
instance profile needs iam:PassRole on its role (ec2:PassedToService = ec2.amazonaws.com)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from enforced_api import EnforcedApi, refused

from orchestrator.domain import errors
from orchestrator.services import principals
from orchestrator.services.iam import authorize

_TODAY = dt.datetime.now(dt.UTC).date()
DAY = {"Start": str(_TODAY - dt.timedelta(days=1)), "End": str(_TODAY)}
TRUST_EC2 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def test_cost_explorer_needs_ce_permissions(api: EnforcedApi) -> None:
    nobody = api.user("no-billing", managed=("arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",))
    status, code, message = refused(api.client("ce", nobody).get_cost_and_usage, TimePeriod=DAY,
                                    Granularity="DAILY", Metrics=["UnblendedCost"])
    assert (status, code) == (400, "AccessDeniedException") and "ce:GetCostAndUsage" in message
    assert refused(api.client("pricing", nobody).describe_services)[1] == "AccessDeniedException"
    billing = api.user("billing", managed=("arn:aws:iam::aws:policy/AWSBillingReadOnlyAccess",))
    answer = api.client("ce", billing).get_cost_and_usage(TimePeriod=DAY, Granularity="DAILY",
                                                         Metrics=["UnblendedCost"])
    assert answer["ResultsByTime"][0]["TimePeriod"] == DAY
    # AWSBillingReadOnlyAccess has no ce:GetCostForecast: refused
    assert refused(api.client("ce", billing).get_cost_forecast, TimePeriod={"Start": "2099-01-01", "End": "2099-02-01"},
                   Metric="UNBLENDED_COST", Granularity="MONTHLY")[1] == "AccessDeniedException"
    pricing = api.user("pricing", inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "pricing:*", "Resource": "*"}]})
    assert api.client("pricing", pricing).describe_services(ServiceCode="AmazonEC2")["Services"]


def _profile(api: EnforcedApi, name: str) -> str:
    iam = api.client("iam")
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_EC2))["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return str(role_arn)


def _launcher(api: EnforcedApi, name: str, *extra: dict[str, Any]) -> Any:
    return api.client("ec2", api.user(name, inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}, *extra]}))


def test_launching_with_a_role_needs_pass_role(api: EnforcedApi, image_id: str) -> None:
    role_arn = _profile(api, "web")
    account = api.backend.account_id
    without = _launcher(api, "no-pass")
    launch = {"ImageId": image_id, "MinCount": 1, "MaxCount": 1, "DryRun": True}
    for profile in ({"Name": "web"}, {"Arn": f"arn:aws:iam::{account}:instance-profile/web"}):
        status, code, message = refused(without.run_instances, IamInstanceProfile=profile, **launch)
        assert (status, code) == (403, "UnauthorizedOperation")
        assert f"is not authorized to perform: iam:PassRole on resource: {role_arn} because" in message
    assert refused(without.run_instances, **launch)[1] == "DryRunOperation"  # no role: no PassRole needed
    other = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}
    assert refused(_launcher(api, "pass-to-lambda", other).run_instances, IamInstanceProfile={"Name": "web"},
                   **launch)[1] == "UnauthorizedOperation"
    passes = {**other, "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}
    with_pass = _launcher(api, "passer", passes)
    assert refused(with_pass.run_instances, IamInstanceProfile={"Name": "web"}, **launch)[1] == "DryRunOperation"


def test_require_pass_role_directly(api: EnforcedApi) -> None:
    """The function the launch path calls: root passes anything, a user needs iam:PassRole."""
    role_arn = _profile(api, "batch")
    backend = api.backend
    authorize.require_pass_role(backend, None, role_arn)
    authorize.require_pass_role(backend, principals.root(backend.account_id, "AKIAROOT"), role_arn)
    iam = api.client("iam")
    iam.create_user(UserName="direct")
    user = iam.get_user(UserName="direct")["User"]
    caller = principals.iam_user(backend.account_id, "AKIAEXAMPLE", user["Arn"], "direct", user["UserId"])
    with pytest.raises(errors.UnauthorizedOperation) as info:
        authorize.require_pass_role(backend, caller, role_arn)
    assert f"iam:PassRole on resource: {role_arn}" in info.value.message
    iam.put_user_policy(UserName="direct", PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn}]}))
    authorize.require_pass_role(backend, caller, role_arn)


def test_pass_role_on_launch_and_association(api: EnforcedApi, ec2, image_id: str) -> None:
    """With instance profiles on instances (i12-roles): the launch and the association paths."""
    role_arn = _profile(api, "worker")
    passer = _launcher(api, "worker-passer", {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn})
    made = passer.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": "worker"})
    iid = made["Instances"][0]["InstanceId"]
    assert made["Instances"][0]["IamInstanceProfile"]["Arn"].endswith(":instance-profile/worker")
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    no_pass = _launcher(api, "worker-no-pass")
    plain = no_pass.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[plain], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    status, code, message = refused(no_pass.associate_iam_instance_profile, InstanceId=plain,
                                    IamInstanceProfile={"Name": "worker"})
    assert (status, code) == (403, "UnauthorizedOperation") and f"iam:PassRole on resource: {role_arn}" in message
    assert passer.associate_iam_instance_profile(InstanceId=plain, IamInstanceProfile={"Name": "worker"})[
        "IamInstanceProfileAssociation"]["InstanceId"] == plain
    ec2.terminate_instances(InstanceIds=[iid, plain])
