"""The EC2 Query API server: one aiohttp route, SigV4, spec-driven parse, dispatch, serialize.

Pipeline of a request: read parameters (query string and form body) -> verify SigV4 (the region
comes from the credential scope) -> parse with botocore's model -> DryRun -> handler -> XML.
Every failure becomes an EC2 error envelope; nothing unauthenticated reaches a handler.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import web

from orchestrator.api import errors, handlers, sigv4
from orchestrator.api.context import RequestContext
from orchestrator.api.protocol import QueryParser, XmlSerializer
from orchestrator.api.registry import HANDLERS, call
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import StoreUnavailable

log = logging.getLogger("ec2d.api")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

BACKEND_KEY = web.AppKey("backend", Backend)
MAX_BODY = 16 * 1024 * 1024

handlers.load_all()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class Ec2Api:
    def __init__(self, backend: Backend, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.backend = backend
        self.parser = QueryParser()
        self.serializer = XmlSerializer()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    async def handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        request_id_var.set(request_id)
        started = time.perf_counter()
        action = "-"
        try:
            body = await request.read()
            params = dict(parse_qsl(request.query_string, keep_blank_values=True))
            if request.method == "POST" and body:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            auth = self._authenticate(request, body)
            action = params.get("Action", "")
            if not action:
                raise errors.Ec2Error("The request must contain the parameter Action", code="MissingAction")
            op, args = self.parser.parse(action, params)
            region = auth.region
            if region not in self.backend.regions:
                raise errors.AuthFailure(f"The region '{region}' is not served by this endpoint.")
            handler = HANDLERS.get(action)
            if handler is None:
                raise errors.Ec2Error(
                    f"The action {action} is not supported by ec2d yet.", code="UnsupportedOperation"
                )
            if args.get("DryRun"):
                raise errors.DryRunOperation()
            ctx = RequestContext(
                request_id=request_id,
                action=action,
                region=region,
                account_id=self.backend.account_id,
                access_key_id=auth.access_key_id,
                backend=self.backend,
            )
            result = await call(handler, ctx, args)
            payload = self.serializer.response(op, result, request_id)
            status = 200
        except errors.Ec2Error as err:
            payload = self.serializer.error(err, request_id)
            status = err.status
            log.info("%s -> %s: %s", action, err.code, err.message)
        except StoreUnavailable as exc:
            log.warning("%s: %s", action, exc)
            err = errors.ServiceUnavailable(
                "The request has failed due to a temporary failure of the server: ec2d's state store "
                f"cannot be written ({exc.reason}). Nothing was changed; retry once the condition is cleared"
                + (" (free space on the data dir's filesystem)." if exc.reason == "full" else "."))
            payload = self.serializer.error(err, request_id)
            status = err.status
        except Exception:
            log.exception("%s failed", action)
            err = errors.InternalError()
            payload = self.serializer.error(err, request_id)
            status = err.status
        log.info("%s %s %d %.1fms", request.method, action, status, (time.perf_counter() - started) * 1000)
        return web.Response(
            body=payload,
            status=status,
            content_type="text/xml",
            charset="UTF-8",
            headers={"x-amzn-RequestId": request_id},
        )

    def _authenticate(self, request: web.Request, body: bytes) -> sigv4.AuthContext:
        signed = sigv4.SignedRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query_string=request.query_string,
            headers=request.headers,
            body=body,
        )
        try:
            return sigv4.verify(signed, self.backend.lookup_secret, self.clock())
        except sigv4.SigV4Error as e:
            raise errors.Ec2Error(e.message, code=e.code, status=e.status) from None


def make_app(backend: Backend, clock: Callable[[], dt.datetime] | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    api = Ec2Api(backend, clock)
    app[BACKEND_KEY] = backend
    app.router.add_route("GET", "/", api.handle)
    app.router.add_route("POST", "/", api.handle)
    return app
