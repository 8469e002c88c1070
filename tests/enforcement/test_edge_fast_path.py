"""The API edge's fast path (`compiled.PolicySet` on a context of only the keys the caller's policies
look at) refuses and allows exactly what the engine does on the whole context: `authorize.check`
with the prepared set and without it (the engine's path) agree over users whose policies read
tags, the instance type, global keys (``aws:SourceIp``, ``aws:username`` in a variable) and none."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from enforced_api import EnforcedApi, refused

from orchestrator.services.iam import authorize, effective
from orchestrator.services.principals import Caller

STOP = "arn:aws:ec2:*:*:instance/*"
POLICIES: dict[str, dict[str, Any]] = {
    "fp-tags": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:CreateTags"], "Resource": STOP,
         "Condition": {"StringEquals": {"ec2:ResourceTag/team": "a"}}},
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]},
    "a": {"Version": "2012-10-17", "Statement": [  # a user named as the team whose instances it may stop
        {"Effect": "Allow", "Action": "ec2:*", "Resource": STOP,
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:username}"}}}]},
    "fp-ip": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ec2:StopInstances", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]},
    "fp-type": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "ec2:TerminateInstances", "NotResource": "arn:aws:ec2:*:*:volume/*",
         "Condition": {"StringLikeIfExists": {"ec2:InstanceType": "t3.*"}}}]},
    "fp-none": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:StartInstances"], "Resource": "*"}]},
}


def _requests(teams: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    a, b = teams["a"], teams["b"]
    return [
        ("StopInstances", {"InstanceIds": [a], "DryRun": True}),
        ("StopInstances", {"InstanceIds": [b], "DryRun": True}),
        ("StopInstances", {"InstanceIds": [a, b], "DryRun": True}),
        ("StartInstances", {"InstanceIds": [a]}),
        ("TerminateInstances", {"InstanceIds": [a]}),
        ("DescribeInstances", {}),
        ("CreateTags", {"Resources": [a], "Tags": [{"Key": "env", "Value": "x"}]}),
        ("CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1,
                          "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "a"}]}]}),
        ("DeleteVolume", {"VolumeId": "vol-0123456789abcdef0"}),
    ]


def _callers(api: EnforcedApi) -> dict[str, Caller]:
    out = {}
    for name, doc in POLICIES.items():
        key = api.user(name, inline=doc)["aws_access_key_id"]
        found = api.backend.resolve_key(key)
        assert found is not None
        out[name] = found.caller
    return out


def test_the_fast_path_decides_as_the_engine(api: EnforcedApi, team_instances: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    backend = api.backend
    callers = _callers(api)
    env = authorize.Env(region="us-east-1", source_ip="127.0.0.1", secure=False)
    fast: dict[tuple[str, str, int], str | None] = {}
    for who, caller in callers.items():
        assert effective.of(backend, caller).prepared is not None
        for i, (action, args) in enumerate(_requests(team_instances)):
            denied = authorize.check(backend, caller, "ec2", action, args, env)
            fast[who, action, i] = None if denied is None else denied.resource
    original = effective.of
    monkeypatch.setattr(effective, "of", lambda *a, **k: dataclasses.replace(original(*a, **k), prepared=None))
    slow = {}
    for who, caller in callers.items():
        for i, (action, args) in enumerate(_requests(team_instances)):
            denied = authorize.check(backend, caller, "ec2", action, args, env)
            slow[who, action, i] = None if denied is None else denied.resource
    assert fast == slow
    # and the set is varied: each user is allowed something and refused something
    for who in callers:
        outcomes = {v is None for k, v in fast.items() if k[0] == who}
        assert outcomes == {True, False}, who


def test_global_keys_reach_the_fast_path(api: EnforcedApi, team_instances: dict[str, str]) -> None:
    ip_user = api.client("ec2", api.user("fp-ip-e2e", inline=POLICIES["fp-ip"]))
    a, b = team_instances["a"], team_instances["b"]
    assert refused(ip_user.stop_instances, InstanceIds=[a], DryRun=True)[1] == "UnauthorizedOperation"
    assert refused(ip_user.start_instances, InstanceIds=[a], DryRun=True)[1] == "DryRunOperation"
    named = api.client("ec2", api.user("b", inline=POLICIES["a"]))  # user "b": team b's instances only
    assert refused(named.stop_instances, InstanceIds=[b], DryRun=True)[1] == "DryRunOperation"
    assert refused(named.stop_instances, InstanceIds=[a], DryRun=True)[1] == "UnauthorizedOperation"
