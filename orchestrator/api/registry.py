"""Action registry: one typed function per EC2 action, looked up by its name.

A handler takes the request context and the parsed input (the same dict a boto3 caller passes)
and returns the output dict; it raises :class:`orchestrator.domain.errors.Ec2Error` subclasses.

Handlers run on the event loop (it also serves every VPC's metadata), so they must be quick. The
one input-driven cost is filter matching: a read-only ``Describe*`` call with a lot of wildcard
pattern to match runs on a worker thread instead (the store is thread-safe, see ``store.sqlite``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from orchestrator.api import filters
from orchestrator.api.protocol import service_model

Handler = Callable[..., dict[str, Any] | None | Awaitable[dict[str, Any] | None]]
HANDLERS: dict[str, Handler] = {}


def action(name: str) -> Callable[[Handler], Handler]:
    if name not in service_model().operation_names:
        raise ValueError(f"{name} is not an EC2 action in botocore's model")

    def register(fn: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError(f"{name} registered twice")
        HANDLERS[name] = fn
        return fn

    return register


def off_loop(action_name: str, handler: Handler, args: dict[str, Any]) -> bool:
    """Whether this call should run on a worker thread (a read-only call with heavy filters)."""
    return (action_name.startswith("Describe") and not inspect.iscoroutinefunction(handler)
            and filters.filter_work(args.get("Filters")) > filters.HEAVY_FILTER_WORK)


async def call(handler: Handler, ctx: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    filters.check_limits(args.get("Filters"))
    if off_loop(getattr(ctx, "action", ""), handler, args):
        return await asyncio.to_thread(handler, ctx, args)  # type: ignore[return-value]
    result = handler(ctx, args)
    if inspect.isawaitable(result):
        result = await result
    return result
