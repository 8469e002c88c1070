"""The API server: one aiohttp route for every service, SigV4, protocol-driven parse, dispatch, serialize.

Pipeline of a request: read the body (at most ``MAX_BODY`` bytes, else ``413``) -> verify SigV4
over the raw query string and the body's hash -> the service is the one the credential scope names
(``.../us-east-1/sts/aws4_request``; the region too comes from the scope) -> only then its protocol
reads the action (``Action=`` or ``X-Amz-Target``) and parameters -> :func:`dispatch.dispatch`
(permission, parse with botocore's model, DryRun, handler) -> the protocol's response. Every failure
becomes the error envelope of the protocol the request speaks (judged from its scope before the
signature is checked, so even a refused signature is answered in a shape its client parses);
nothing unauthenticated is parsed, nothing unauthorized reaches a handler.

``MAX_BODY`` is 1 MiB. EC2 documents no request-size limit of its own, so the cap is sized from the
largest requests EC2 does accept, with a wide margin: RunInstances with 16 KiB of user data is
21,848 base64 characters, at most ~64 KiB form-encoded; a CreateTags of 1,000 resources with 50
tags of 128/256 characters (4-byte UTF-8, percent-encoded) stays under 300 KiB; 1,000 ids in a
Describe or Terminate call are ~40 KiB. A bigger body is refused with ``413`` before it is read.
A client that sends ``Expect: 100-continue`` gets the 413 instead of "100 Continue", so it never
uploads. Hashing a body of up to 1 MiB for the signature takes a few milliseconds and stays on the
event loop; bodies above ``protocols.base.PARSE_INLINE`` are split into parameters in a worker thread, so even a
1 MiB body of tiny pairs (~0.5 s of ``parse_qsl``) does not stall the loop the metadata service
shares. Figures: ``bench/edge.py``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_urldispatcher import _default_expect_handler

from orchestrator.api import handlers, protocols, registry, sigv4
from orchestrator.api.context import RequestContext
from orchestrator.api.dispatch import dispatch
from orchestrator.api.protocols import Protocol, WireRequest
from orchestrator.api.protocols.base import parse_form
from orchestrator.api.s3.front import S3Front
from orchestrator.domain import errors
from orchestrator.drivers.compute.driver import HypervisorUnavailable
from orchestrator.drivers.objectstore.driver import ObjectStoreEngine
from orchestrator.services.backend import Backend
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import StoreUnavailable

log = logging.getLogger("ec2d.api")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

BACKEND_KEY = web.AppKey("backend", Backend)
S3_KEY = web.AppKey("s3", S3Front)
MAX_BODY = 1024 * 1024  # see the module docstring

handlers.load_all()


class MalformedHttpFilter(logging.Filter):
    """aiohttp answers a request its HTTP parser refuses with 400 and then logs the parser's full
    traceback at ERROR: a hostile client could fill the log with them. Keep one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and (exc.code or 500) < 500:
            record.msg, record.args = "%s: malformed HTTP (%d %s)", (
                record.getMessage(), exc.code, exc.__class__.__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_MALFORMED_HTTP = MalformedHttpFilter()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class Api:
    def __init__(self, backend: Backend, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.backend = backend
        self.ec2 = registry.get_service("ec2")
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    async def handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        request_id_var.set(request_id)
        started = time.perf_counter()
        action = "-"
        protocol = self.ec2.protocol  # until the credential scope names another service
        try:
            protocol = self._speaks(request)
            body = await self._read_body(request)
            signed = sigv4.SignedRequest(method=request.method, path=request.raw_path.split("?", 1)[0],
                                         query_string=request.query_string, headers=request.headers, body=body)
            auth, caller = self._authenticate(signed)
            svc = registry.by_scope(auth.service)
            if svc is None:
                raise protocol.unknown_service(auth.service, registry.served())
            protocol = svc.protocol
            wire = WireRequest(request.method, request.query_string, request.headers, body,
                               form=lambda b: _parse_form(b))  # looked up per call: tests spy on it
            call = await svc.protocol.read(wire)
            action = call.action if svc is self.ec2 else f"{svc.scope}:{call.action}"
            # IAM (global) and STS's global endpoint are signed for us-east-1 whatever ec2d serves
            if auth.region not in self.backend.regions and svc.name not in registry.GLOBAL_SERVICES:
                raise errors.AuthFailure(f"The region '{auth.region}' is not served by this endpoint.")
            ctx = RequestContext(request_id=request_id, action=call.action, region=auth.region,
                                 account_id=self.backend.account_id, access_key_id=auth.access_key_id,
                                 backend=self.backend, caller=caller, source_ip=request.remote,
                                 secure=request.secure)
            op, result = await dispatch(svc, call, ctx)
            payload = protocol.response(op, result, request_id)
            status = 200
        except errors.ApiError as err:
            err = protocol.translate(err, sigv4.DEFAULT_MESSAGES)
            payload, status = protocol.error(err, request_id), err.status
            log.info("%s -> %s: %s", action, err.code, err.message)
        except StoreUnavailable as exc:
            log.warning("%s: %s", action, exc)
            err = errors.ServiceUnavailable(
                "The request has failed due to a temporary failure of the server: ec2d's state store "
                f"cannot be written ({exc.reason}). Nothing was changed; retry once the condition is cleared"
                + (" (free space on the data dir's filesystem)." if exc.reason == "full" else "."))
            payload, status = protocol.error(err, request_id), err.status
        except HypervisorUnavailable as exc:  # libvirtd restarting: retryable, never a hang or a 500
            log.warning("%s: %s", action, exc)
            err = errors.ServiceUnavailable(
                "The request has failed due to a temporary failure of the server: the hypervisor is "
                "unreachable. Nothing was changed; retry shortly.")
            payload, status = protocol.error(err, request_id), err.status
        except Exception:
            log.exception("%s failed", action)
            err = errors.InternalError()
            payload, status = protocol.error(err, request_id), err.status
        log.info("%s %s %d %.1fms", request.method, action, status, (time.perf_counter() - started) * 1000)
        return web.Response(body=payload, status=status, content_type=protocol.content_type,
                            charset=protocol.charset, headers=protocol.headers(request_id))

    def _speaks(self, request: web.Request) -> Protocol:
        """The protocol to answer in, from the credential scope (not yet verified): the named
        service's; a guess from the request for a service ec2d does not serve; else EC2's."""
        scope = sigv4.scope_service(request.headers, request.query_string)
        if scope is None:
            return self.ec2.protocol
        svc = registry.by_scope(scope)
        return svc.protocol if svc is not None else protocols.fallback(request.headers)

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse an oversized body before the client sends it."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            response = await self.handle(request)
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()  # sent; the body will not come, so no lingering read for it
            return response
        return await _default_expect_handler(request)

    @staticmethod
    async def _read_body(request: web.Request) -> bytes:
        """The body, or ``413`` when it is over ``MAX_BODY`` (by Content-Length before reading any)."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise errors.RequestEntityTooLarge(MAX_BODY)
        try:
            return await request.read()  # chunked bodies: aiohttp stops at client_max_size
        except web.HTTPRequestEntityTooLarge:
            raise errors.RequestEntityTooLarge(MAX_BODY) from None

    def _authenticate(self, signed: sigv4.SignedRequest) -> tuple[sigv4.AuthContext, Caller]:
        resolved: list[Caller] = []

        def lookup_secret(access_key_id: str, session_token: str | None) -> str | None:
            found = self.backend.resolve_key(access_key_id, session_token)
            if found is None:
                return None
            resolved.append(found.caller)
            return found.secret

        try:
            auth = sigv4.verify(signed, lookup_secret, self.clock(), service=None)
        except sigv4.SigV4Error as e:
            raise errors.ApiError(e.message, code=e.code, status=e.status) from None
        return auth, resolved[-1]


async def _parse_form(body: bytes) -> list[tuple[str, str]]:
    """The form body's parameters (large bodies split in a worker thread, see ``parse_form``)."""
    return await parse_form(body)


class Front:
    """One route for everything: S3 requests (any method and path, see :meth:`S3Front.claims`) go to
    the S3 front, which streams them; the other services take ``GET``/``POST /`` only."""

    def __init__(self, api: Api, s3: S3Front) -> None:
        self.api = api
        self.s3 = s3

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.s3.claims(request):
            return await self.s3.handle(request)
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        if request.raw_path.split("?", 1)[0] != "/":
            raise web.HTTPNotFound()
        return await self.api.handle(request)

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        if self.s3.claims(request):  # S3 bodies are streamed, whatever their size: checked, then sent
            return await self.s3.expect(request)
        return await self.api.expect(request)


def make_app(backend: Backend, clock: Callable[[], dt.datetime] | None = None,
             s3_engine: ObjectStoreEngine | None = None,
             vpc_of: Callable[[web.BaseRequest], str | None] | None = None) -> web.Application:
    """The application; ``s3_engine`` serves S3 (without one, S3 requests answer 503); ``vpc_of``
    tells the VPC a request came from through the in-VPC listeners (S3's endpoint policies)."""
    logging.getLogger("aiohttp.server").addFilter(_MALFORMED_HTTP)  # a set: adding twice is a no-op
    app = web.Application(client_max_size=MAX_BODY)  # read() only: S3's streamed bodies are not capped
    api = Api(backend, clock)
    s3 = S3Front(backend, s3_engine, clock, endpoint_hosts=(backend.config.host,), vpc_of=vpc_of)
    app[BACKEND_KEY] = backend
    app[S3_KEY] = s3

    async def close_s3(_app: web.Application) -> None:
        await s3.close()

    app.on_cleanup.append(close_s3)
    front = Front(api, s3)
    app.router.add_route("*", "/{tail:.*}", front.handle, expect_handler=front.expect)
    return app
