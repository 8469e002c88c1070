"""The one place a parsed request meets a service: permission, input, DryRun, handler.

In this order, so every refusal comes from here and nowhere else:

1. the caller's permission for the action (:func:`orchestrator.services.principals.permitted`),
   refused with the protocol's code (EC2 ``UnauthorizedOperation``, Query ``AccessDenied``,
   JSON ``AccessDeniedException``) before anything of the input is looked at;
2. the action (the protocol's unknown-action error) and its input, checked against the model;
3. a handler for it (else the protocol's not-implemented error);
4. an IAM user's or assumed role's policies, for each resource the request names
   (:func:`orchestrator.services.iam.authorize.check`; IAM and STS evaluate in their services):
   EC2 ``UnauthorizedOperation`` with the encoded authorization message, else the protocol's code;
5. ``DryRun``: a caller that got this far is allowed and sent a valid request, so the answer is
   ``DryRunOperation`` and nothing runs. Services never see DryRun;
6. the handler.
"""

from __future__ import annotations

from typing import Any

from botocore.model import OperationModel

from orchestrator.api.context import RequestContext
from orchestrator.api.protocols import Call
from orchestrator.api.registry import Service, call
from orchestrator.domain import errors
from orchestrator.services import principals
from orchestrator.services.iam import authorize


async def dispatch(svc: Service, request: Call, ctx: RequestContext) -> tuple[OperationModel, dict[str, Any] | None]:
    """Run ``request`` against ``svc`` for ``ctx.caller``; the operation and the handler's output."""
    protocol = svc.protocol
    caller = ctx.caller
    if caller is not None and not principals.permitted(caller, svc.iam_prefix, request.action):
        raise protocol.denied(caller.arn, svc.iam_prefix, request.action)
    op = protocol.operation(request.action)
    args = protocol.parse(op, request.raw)
    handler = svc.handlers.get(op.name)
    if handler is None:
        raise protocol.not_implemented(op.name)
    if caller is not None and svc.iam_prefix not in principals.SELF_EVALUATED:
        env = authorize.Env(region=ctx.region, source_ip=ctx.source_ip, secure=ctx.secure)
        denied = authorize.check(ctx.backend, caller, svc.iam_prefix, op.name, args, env)
        if denied is not None:
            if svc.iam_prefix == "ec2":
                raise errors.UnauthorizedOperation(denied.message)
            raise protocol.denied(caller.arn, svc.iam_prefix, request.action)
    if args.get("DryRun") is True:
        raise errors.DryRunOperation()
    return op, await call(handler, ctx, args, svc.name)
