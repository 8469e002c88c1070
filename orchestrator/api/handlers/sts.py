"""STS actions (query protocol): GetCallerIdentity, AssumeRole."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services import principals, sts
from orchestrator.services.iam import assume, authorize


@action("GetCallerIdentity", service="sts")
def get_caller_identity(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    # in-process calls carry no caller: they act as the account's root, as the API's own tools do
    caller = ctx.caller or principals.root(ctx.account_id, ctx.access_key_id)
    who = sts.caller_identity(caller)
    return {"UserId": who.user_id, "Account": who.account, "Arn": who.arn}


@action("AssumeRole", service="sts")
def assume_role(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return assume.assume_role(ctx.backend, ctx.caller, req)


@action("DecodeAuthorizationMessage", service="sts")
def decode_authorization_message(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"DecodedMessage": authorize.decode_message(ctx.backend, ctx.caller, req["EncodedMessage"])}
