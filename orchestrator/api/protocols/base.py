"""What every wire protocol does, and what the server hands it.

A :class:`Protocol` is one botocore protocol (``ec2``, ``query``, ``json``) bound to one service's
botocore model: it finds the action a request names, turns the request's parameters into the
operation's input dict, and the handler's output dict (or an error) into the response body.
Nothing in it is specific to a service: a service is its model plus its handlers
(:mod:`orchestrator.api.registry`).
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import botocore.session
from botocore.model import OperationModel, ServiceModel

from orchestrator.domain import errors

PARSE_INLINE = 64 * 1024  # form bodies above this are split into parameters in a worker thread
FormParser = Callable[[bytes], Awaitable[list[tuple[str, str]]]]


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def load_model(name: str) -> ServiceModel:
    """botocore's model of the service ``name`` (``ec2``, ``sts``, ``pricing``, ...), loaded once."""
    return _session().get_service_model(name)


async def parse_form(body: bytes) -> list[tuple[str, str]]:
    """A form body's parameters; large bodies are split in a worker thread, off the event loop (a
    1 MiB body of tiny pairs is ~0.5 s of ``parse_qsl``, and the loop also serves the metadata)."""

    def parse() -> list[tuple[str, str]]:
        return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)

    if len(body) <= PARSE_INLINE:
        return parse()
    return await asyncio.to_thread(parse)


@dataclass(frozen=True)
class WireRequest:
    """What the server received, after the signature was checked (``form`` splits a form body)."""

    method: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    form: FormParser = field(default=parse_form)


@dataclass(frozen=True)
class Call:
    """The action a request names and its parameters as the protocol carries them (flat Query
    parameters, or a JSON object), not yet checked against the operation's input shape."""

    action: str
    raw: Any


# Signature errors as sigv4 raises them (EC2's codes) -> (code, status, message or None to keep
# sigv4's). EC2 keeps them as they are; the other protocols' services answer with their own codes.
AuthCodes = Mapping[str, tuple[str, int, str | None]]


class Protocol(ABC):
    """One protocol bound to one service's model (``model`` None: only errors, for a request naming
    a service ec2d does not serve)."""

    content_type = "text/xml"
    charset: str | None = "UTF-8"
    auth_codes: AuthCodes = {}

    def __init__(self, model: ServiceModel | None) -> None:
        self.model = model

    @abstractmethod
    async def read(self, request: WireRequest) -> Call:
        """The action and raw parameters of ``request`` (errors: the protocol's missing action)."""

    @abstractmethod
    def operation(self, action: str) -> OperationModel:
        """The operation ``action`` names, or the protocol's unknown-action error."""

    @abstractmethod
    def parse(self, op: OperationModel, raw: Any) -> dict[str, Any]:
        """The operation's input dict, validated against its input shape."""

    @abstractmethod
    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        """The body of a successful response."""

    @abstractmethod
    def error(self, err: errors.ApiError, request_id: str) -> bytes:
        """The body of an error response (its status is ``err.status``)."""

    @abstractmethod
    def not_implemented(self, action: str) -> errors.ApiError:
        """An action of the model ec2d has no handler for."""

    @abstractmethod
    def unknown_service(self, service: str, served: list[str]) -> errors.ApiError:
        """A credential scope naming a service ec2d does not serve."""

    @abstractmethod
    def denied(self, caller_arn: str, prefix: str, action: str) -> errors.ApiError:
        """The caller may not call ``action`` (``prefix`` is the service's IAM prefix)."""

    def headers(self, request_id: str) -> dict[str, str]:
        return {"x-amzn-RequestId": request_id}

    def translate(self, err: errors.ApiError, default_messages: frozenset[str]) -> errors.ApiError:
        """``err`` with this protocol's code for a signature error; ``default_messages`` are
        sigv4's stock messages, replaced by the protocol's own when it has one."""
        found = self.auth_codes.get(err.code)
        if found is None:
            return err
        code, status, message = found
        text = message if message is not None and err.message in default_messages else err.message
        return errors.ApiError(text, code=code, status=status)


async def query_params(request: WireRequest) -> dict[str, str]:
    """The parameters of a Query request: its query string, then its form body."""
    params = dict(parse_qsl(request.query_string, keep_blank_values=True))
    if request.method == "POST" and request.body:
        params.update(await request.form(request.body))
    return params


def query_action(params: Mapping[str, str]) -> str:
    action = params.get("Action", "")
    if not action:
        raise errors.ApiError("The request must contain the parameter Action", code="MissingAction")
    return action
