"""Action registry: one typed function per EC2 action, looked up by its name.

A handler takes the request context and the parsed input (the same dict a boto3 caller passes)
and returns the output dict; it raises :class:`orchestrator.api.errors.Ec2Error` subclasses.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

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


async def call(handler: Handler, *args: Any) -> dict[str, Any] | None:
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
