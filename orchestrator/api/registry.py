"""The services ec2d serves and their actions: one typed function per action, looked up by
(service, action).

A service is its botocore model (which says its protocol, its credential-scope name and, for JSON,
its ``X-Amz-Target`` prefix) plus the handlers registered for it with :func:`action`; the first
handler registers the service. So serving a new service is: write ``handlers/<service>.py`` with
``@action("Operation", service="<botocore name>")`` functions. Nothing in the protocol layer changes.

A handler takes the request context and the parsed input (the same dict a boto3 caller passes)
and returns the output dict; it raises :class:`orchestrator.domain.errors.ApiError` subclasses.

Handlers run on the event loop (it also serves every VPC's metadata), so they must be quick. The
one input-driven cost is filter matching: a read-only ``Describe*`` call with a lot of wildcard
pattern to match runs on a worker thread instead (the store is thread-safe, see ``store.sqlite``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api import filters, protocols
from orchestrator.api.protocols import Protocol

Handler = Callable[..., dict[str, Any] | None | Awaitable[dict[str, Any] | None]]


@dataclass
class Service:
    """One AWS service behind the endpoint."""

    name: str  # botocore's name: "ec2", "sts", "pricing"
    protocol: Protocol
    scope: str  # the service in a SigV4 credential scope (the model's signingName): "ec2", "sts", "pricing"
    iam_prefix: str  # the prefix of its IAM actions ("sts:GetCallerIdentity")
    handlers: dict[str, Handler] = field(default_factory=dict)


SERVICES: dict[str, Service] = {}
# served whatever region a request is signed for: IAM is global; STS has a global endpoint
# (sts.amazonaws.com, signed for us-east-1) besides its regional ones
GLOBAL_SERVICES = frozenset({"iam", "sts"})


def get_service(name: str) -> Service:
    """The service ``name`` (botocore's name), registered on first use from botocore's model."""
    found = SERVICES.get(name)
    if found is None:
        model = protocols.load_model(name)
        found = Service(name=name, protocol=protocols.for_model(model), scope=model.signing_name,
                        iam_prefix=model.signing_name)
        if any(s.scope == found.scope for s in SERVICES.values()):
            raise ValueError(f"two services signed as {found.scope}")
        SERVICES[name] = found
    return found


def by_scope(scope: str) -> Service | None:
    """The service a SigV4 credential scope names, or None when ec2d does not serve it."""
    return next((s for s in SERVICES.values() if s.scope == scope), None)


def served() -> list[str]:
    return sorted(s.scope for s in SERVICES.values())


def action(name: str, service: str = "ec2") -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``service``'s operation ``name``."""
    svc = get_service(service)
    model = svc.protocol.model
    if model is None or name not in model.operation_names:
        raise ValueError(f"{name} is not an action of {service} in botocore's model")

    def register(fn: Handler) -> Handler:
        if name in svc.handlers:
            raise ValueError(f"{service}:{name} registered twice")
        svc.handlers[name] = fn
        return fn

    return register


HANDLERS: dict[str, Handler] = get_service("ec2").handlers  # EC2's actions (tests and the fuzzer use them)


def off_loop(action_name: str, handler: Handler, args: dict[str, Any]) -> bool:
    """Whether this call should run on a worker thread (a read-only call with heavy filters)."""
    return (action_name.startswith("Describe") and not inspect.iscoroutinefunction(handler)
            and filters.filter_work(args.get("Filters")) > filters.HEAVY_FILTER_WORK)


async def call(handler: Handler, ctx: Any, args: dict[str, Any], service: str = "ec2") -> dict[str, Any] | None:
    """Run ``handler``; EC2's ``Filters`` get EC2's limits first (and heavy ones a worker thread)."""
    if service == "ec2":
        filters.check_limits(args.get("Filters"))
    if service == "ec2" and off_loop(getattr(ctx, "action", ""), handler, args):
        return await asyncio.to_thread(handler, ctx, args)  # type: ignore[return-value]
    result = handler(ctx, args)
    if inspect.isawaitable(result):
        result = await result
    return result
