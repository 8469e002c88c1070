"""explain(): which statements applied; decoded_message(): the JSON STS DecodeAuthorizationMessage
shows for an UnauthorizedOperation."""

from __future__ import annotations

import json

from iam_helpers import ACCOUNT, ALICE, DENY, IMPLICIT, INSTANCE, allow, deny, pol

from orchestrator.domain.iam.explain import decoded_message, explain
from orchestrator.domain.iam.policy import Request

REQUEST = Request("ec2:TerminateInstances", INSTANCE, {"ec2:ResourceTag/env": "prod", "aws:TagKeys": ["env"]})
IDENTITY = [pol(allow("ec2:*")), pol({**deny("ec2:TerminateInstances"), "Sid": "NoProd",
                                      "Condition": {"StringEquals": {"ec2:ResourceTag/env": "prod"}}})]


def test_explain_lists_the_statements_that_applied() -> None:
    why = explain(REQUEST, IDENTITY)
    assert why.decision is DENY
    assert [(m.source, m.index, m.statement.effect) for m in why.matched] == [("identity", 0, "Allow"),
                                                                              ("identity", 1, "Deny")]
    assert [m.statement.sid for m in why.denied_by] == ["NoProd"]


def test_decoded_message_of_an_explicit_deny() -> None:
    why = explain(REQUEST, IDENTITY)
    msg = decoded_message(why, REQUEST, principal_id="AIDAEXAMPLE", principal_name="alice", principal_arn=ALICE)
    json.dumps(msg)  # plain JSON
    assert msg["allowed"] is False and msg["explicitDeny"] is True
    [item] = msg["matchedStatements"]["items"]
    assert item["statementId"] == "NoProd" and item["effect"] == "DENY"
    assert item["actions"] == {"items": [{"value": "ec2:TerminateInstances"}]}
    assert item["conditions"]["items"] == [{"key": "ec2:ResourceTag/env", "values": {"items": [{"value": "prod"}]}}]
    assert msg["context"]["principal"] == {"id": "AIDAEXAMPLE", "name": "alice", "arn": ALICE}
    assert msg["context"]["action"] == "ec2:TerminateInstances" and msg["context"]["resource"] == INSTANCE
    assert {"key": "aws:TagKeys", "values": {"items": [{"value": "env"}]}} in msg["context"]["conditions"]["items"]


def test_decoded_message_of_an_implicit_deny_lists_no_statement() -> None:
    request = Request("ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*")
    why = explain(request, [pol(allow("ec2:Describe*"))])
    assert why.decision is IMPLICIT and why.matched == ()
    msg = decoded_message(why, request, principal_id="AIDAEXAMPLE", principal_name="alice", principal_arn=ALICE)
    assert msg["explicitDeny"] is False and msg["matchedStatements"] == {"items": []}
