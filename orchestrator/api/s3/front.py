"""S3 on ec2d's endpoint: verify, authorize, re-sign, stream to the engine and back.

A request is S3's when its SigV4 credential scope names ``s3`` (``Authorization`` header or a
presigned URL's ``X-Amz-Credential``), or, unsigned, when it addresses a bucket (a path other than
``/`` or a virtual-hosted Host header): ec2d's other services only take ``GET``/``POST /``.

Each S3 request, in order: bucket and key from the path or the Host header
(:mod:`~orchestrator.api.s3.addressing`); the SigV4 signature checked by ec2d with ec2d's own keys
(:meth:`Backend.resolve_key`: whoever the backend knows — root, and IAM users or assumed roles as
they come — and S3's signing rules, expiry of presigned URLs included); the IAM action(s) and
resource(s) it needs (:mod:`orchestrator.domain.s3_actions`), each passed to the authorization hook
:func:`orchestrator.services.s3_access.authorize_s3`; only then is it re-signed as the engine's
admin and streamed to the engine, whose answer (status, headers, body) is streamed back. A request
that fails a check never reaches the engine. Errors are S3's XML (:mod:`~orchestrator.api.s3.errors`).

Bodies are never read whole (no 1 MiB cap here, unlike the other services): see
:mod:`~orchestrator.api.s3.bodies` for how each upload mode is checked while it streams.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from aiohttp.web_urldispatcher import _default_expect_handler
from yarl import URL

from orchestrator.api import sigv4
from orchestrator.api.s3 import addressing, bodies, engine, sigv2
from orchestrator.api.s3.errors import S3Error, access_denied, from_sigv4
from orchestrator.api.s3.errors import body as error_body
from orchestrator.domain import errors, s3_actions
from orchestrator.domain.vpc_endpoints import VpcEndpointData, s3_address
from orchestrator.drivers.objectstore.driver import EngineEndpoint, ObjectStoreEngine
from orchestrator.services.backend import Backend
from orchestrator.services.principals import Caller
from orchestrator.services.s3_access import authorize_s3, endpoint_through
from orchestrator.store.sqlite import Record

log = logging.getLogger("ec2d.s3")


@dataclass(frozen=True)
class _Admitted:
    """A request whose signature and authorization passed."""

    caller: Caller
    auth: sigv4.AuthContext
    secret: str
    raw_query: str


_ADMITTED = web.RequestKey("s3_admitted", _Admitted)
PIECE = 256 * 1024
_SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")


class S3Front:
    def __init__(self, backend: Backend, engine_: ObjectStoreEngine | None,
                 clock: Callable[[], dt.datetime] | None = None, endpoint_hosts: Iterable[str] = (),
                 vpc_of: Callable[[web.BaseRequest], str | None] | None = None) -> None:
        self.backend = backend
        self.vpc_of = vpc_of  # the VPC a request came from through the in-VPC listeners
        self.engine = engine_
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.endpoint_hosts = tuple({"localhost", *endpoint_hosts})
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------------------------ routing

    def claims(self, request: web.Request) -> bool:
        """Whether ``request`` is an S3 request (see the module docstring)."""
        scope = sigv4.scope_service(request.headers, _raw_query(request))
        if scope is not None:
            return scope == "s3"
        if request.raw_path.split("?", 1)[0] not in ("/", ""):
            return True
        return request.method not in ("GET", "POST") or \
            addressing.virtual_bucket(request.host, self.endpoint_hosts) is not None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                auto_decompress=False, read_bufsize=PIECE * 4,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600),
                connector=aiohttp.TCPConnector(limit=256))
        return self._session

    # ------------------------------------------------------------------------------------ handling

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = secrets.token_hex(8).upper()
        started = time.perf_counter()
        raw_path = request.raw_path.split("?", 1)[0]
        target = addressing.target(request.host, raw_path, self.endpoint_hosts)
        try:
            response = await self._serve(request, target, request_id)
        except S3Error as err:
            response = self._error(err, target, request_id)
        except errors.AccessDenied:
            response = self._error(access_denied(), target, request_id)
        except Exception:
            log.exception("S3 %s %s failed", request.method, target.resource)
            response = self._error(S3Error("InternalError", "We encountered an internal error. Please try again.",
                                           500), target, request_id)
        log.info("S3 %s %s %d %.1fms", request.method, target.resource, response.status,
                 (time.perf_counter() - started) * 1000)
        return response

    def _error(self, err: errors.ApiError, target: addressing.Target, request_id: str) -> web.Response:
        if err.status != 403 or err.code not in ("AccessDenied",):
            log.info("S3 -> %s: %s", err.code, err.message)
        return web.Response(body=error_body(err, target.resource, request_id), status=err.status,
                            content_type="application/xml", headers={"x-amz-request-id": request_id})

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: the request is checked (signature, authorization) before the
        client is told to send its body, so a refused upload is never sent."""
        target = addressing.target(request.host, request.raw_path.split("?", 1)[0], self.endpoint_hosts)
        try:
            request[_ADMITTED] = self._admit(request, target)
        except (S3Error, errors.AccessDenied) as err:
            response = self._error(err if isinstance(err, S3Error) else access_denied(), target,
                                   secrets.token_hex(8).upper())
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()  # the body will not come
            return response
        return await _default_expect_handler(request)

    def _admit(self, request: web.Request, target: addressing.Target) -> _Admitted:
        """Who is asking and whether they may: everything checked before the body is read."""
        raw_query = _raw_query(request)
        caller, auth, secret = self._authenticate(request, target, raw_query)
        if auth.region not in self.backend.regions and auth.region != "us-east-1":
            raise S3Error("AuthorizationHeaderMalformed", f"The authorization header is malformed; the region "
                          f"'{auth.region}' is wrong; expecting 'us-east-1'", 400, Region="us-east-1")
        names = {part.partition("=")[0] for part in raw_query.split("&") if part}
        try:
            needed = s3_actions.required(request.method, target.bucket, target.key, names,
                                         request.headers.get("x-amz-copy-source"))
        except s3_actions.UnknownS3Request:
            raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.",
                          405, Method=request.method, ResourceType="OBJECT" if target.key else "BUCKET") from None
        context = self._context(request, caller, auth, raw_query)
        endpoint = self._endpoint(request, context)
        for action, resource in needed:
            authorize_s3(self.backend, caller, action, resource, context, endpoint)
        return _Admitted(caller, auth, secret, raw_query)

    async def _serve(self, request: web.Request, target: addressing.Target, request_id: str) -> web.StreamResponse:
        admitted = request.get(_ADMITTED) or self._admit(request, target)
        auth = admitted.auth
        endpoint = self.engine.endpoint if self.engine is not None else None
        if endpoint is None:
            raise S3Error("ServiceUnavailable", "S3 is not running on this ec2d (started with --no-s3, or its "
                          "engine failed: see the log).", 503)
        body = bodies.engine_body(request.content, request.headers.get("x-amz-content-sha256", "").strip()
                                  if not auth.presigned else sigv4.UNSIGNED_PAYLOAD,
                                  request.content_length, _chunked(request),
                                  request.headers.get("x-amz-decoded-content-length"),
                                  self._chunk_signing(request, auth, admitted.secret))
        return await self._forward(request, target, admitted.raw_query, body, endpoint)

    def _authenticate(self, request: web.Request, target: addressing.Target,
                      raw_query: str) -> tuple[Caller, sigv4.AuthContext, str]:
        found: list[tuple[Caller, str]] = []

        def lookup(access_key_id: str, session_token: str | None) -> str | None:
            resolved = self.backend.resolve_key(access_key_id, session_token)
            if resolved is None:
                return None
            found.append((resolved.caller, resolved.secret))
            return resolved.secret

        path = request.raw_path.split("?", 1)[0]
        signed = sigv4.SignedRequest(method=request.method, path=path, query_string=raw_query,
                                     headers=request.headers)
        try:
            if sigv2.is_sigv2_query(raw_query):
                auth = sigv2.verify(request.method, target.auth_path, raw_query, request.headers, lookup, self.clock())
            else:
                auth = sigv4.verify(signed, lookup, self.clock(), service="s3")
        except sigv4.SigV4Error as err:
            presigned = "X-Amz-Algorithm=" in raw_query or sigv2.is_sigv2_query(raw_query)
            token = "x-amz-security-token" in request.headers or "X-Amz-Security-Token=" in raw_query
            raise from_sigv4(err, presigned, token) from None
        caller, secret = found[-1]
        return caller, auth, secret

    def _endpoint(self, request: web.Request, context: dict[str, str]) -> Record[VpcEndpointData] | None:
        """The gateway endpoint the request came through (its policy applies), with
        ``aws:SourceVpc``/``aws:SourceVpce`` added to ``context``; None: not through one."""
        vpc_id = self.vpc_of(request) if self.vpc_of is not None else None
        if vpc_id is None or request.transport is None:
            return None
        context["aws:SourceVpc"] = vpc_id
        local = request.transport.get_extra_info("sockname")
        address = local[0] if local else ""
        if address not in {s3_address(r) for r in self.backend.config.regions}:
            # S3 is reached at its own address, as the route tables allow; 169.254.169.250 serves the rest
            raise S3Error("AccessDenied", "In a VPC, S3 answers at its own address (s3.REGION.amazonaws.com), "
                          "reachable through a gateway endpoint or the internet.", 403)
        endpoint = endpoint_through(self.backend, vpc_id, request.remote or "", address)
        if endpoint is not None:
            context["aws:SourceVpce"] = endpoint.id
        return endpoint

    def _chunk_signing(self, request: web.Request, auth: sigv4.AuthContext, secret: str) -> bodies.ChunkSigning | None:
        if request.headers.get("x-amz-content-sha256", "").strip() != bodies.SIGNED_CHUNKS:
            return None
        match = _SIGNATURE.search(request.headers.get("Authorization", ""))
        if match is None:
            return None
        date = auth.signed_at.strftime("%Y%m%d")
        return bodies.ChunkSigning(key=sigv4.signing_key(secret, date, auth.region, "s3"),
                                   amz_date=auth.signed_at.strftime(sigv4.AMZ_DATE_FORMAT),
                                   scope=f"{date}/{auth.region}/s3/aws4_request", seed=match.group(1))

    def _context(self, request: web.Request, caller: Caller, auth: sigv4.AuthContext,
                 raw_query: str) -> dict[str, str]:
        """Condition keys for the authorization hook."""
        now = self.clock()
        ctx = {
            "aws:SourceIp": request.remote or "",
            "aws:SecureTransport": "true" if request.secure else "false",
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
            "aws:PrincipalArn": caller.arn,
            "aws:PrincipalAccount": caller.account_id,
            "aws:RequestedRegion": auth.region,
            "aws:UserAgent": request.headers.get("User-Agent", ""),
            "s3:authType": "REST-QUERY-STRING" if auth.presigned else "REST-HEADER",
            "s3:signatureversion": "AWS4-HMAC-SHA256",
        }
        for name, value in (part.partition("=")[::2] for part in raw_query.split("&") if part):
            if name in ("prefix", "delimiter", "max-keys"):
                ctx[f"s3:{name}"] = unquote(value)
        for header in ("x-amz-acl", "x-amz-copy-source", "x-amz-content-sha256", "x-amz-server-side-encryption",
                       "x-amz-storage-class", "x-amz-metadata-directive"):
            if header in request.headers:
                ctx[f"s3:{header}"] = request.headers[header]
        return ctx

    # ------------------------------------------------------------------------------------ proxying

    async def _forward(self, request: web.Request, target: addressing.Target, raw_query: str,
                       body: bodies.EngineBody, endpoint: EngineEndpoint) -> web.StreamResponse:
        query = engine.engine_query(raw_query, sigv2.is_sigv2_query(raw_query))
        path = target.engine_path
        encoding = None if body.content_encoding is None else engine.without_aws_chunked(
            request.headers.get("Content-Encoding"))
        headers = engine.request_headers(request.headers, body.drop_headers, encoding)
        headers.update(engine.sign(endpoint, request.method, path, query, body.content_sha256, self.clock(), headers))
        if body.length is not None and (body.data is not None or request.method in ("PUT", "POST")):
            headers["Content-Length"] = str(body.length)
        failure: list[BaseException] = []
        data = _tracking(body.data, failure) if body.data is not None else None
        url = URL(f"{endpoint.url}{path}" + (f"?{query}" if query else ""), encoded=True)
        try:
            async with self._client().request(request.method, url, headers=headers, data=data,
                                              allow_redirects=False, skip_auto_headers=("User-Agent", "Accept",
                                              "Accept-Encoding", "Content-Type")) as upstream:
                return await self._relay(request, upstream)
        except (aiohttp.ClientError, TimeoutError, OSError, bodies.BodyCheckFailed) as exc:
            raise _body_error(failure) or _engine_unreachable(exc) from None

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in engine.DROP_RESPONSE:
                response.headers.add(name, value)
        length = upstream.headers.get("Content-Length")
        if length is not None and length.isdigit():
            response.content_length = int(length)
        await response.prepare(request)
        try:
            if request.method != "HEAD":
                async for piece in upstream.content.iter_chunked(PIECE):
                    await response.write(piece)
            await response.write_eof()
        except (aiohttp.ClientError, TimeoutError) as exc:  # the engine broke off mid-body: so must we
            log.warning("S3 engine response broke off: %r", exc)
            if request.transport is not None:
                request.transport.close()
        return response


def _raw_query(request: web.Request) -> str:
    return request.raw_path.partition("?")[2]


def _chunked(request: web.Request) -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


async def _tracking(source: AsyncIterator[bytes], failure: list[BaseException]) -> AsyncIterator[bytes]:
    """``source``, remembering what made it fail (the client then gets that, not a transport error)."""
    try:
        async for piece in source:
            yield piece
    except BaseException as exc:
        failure.append(exc)
        raise


def _body_error(failure: list[BaseException]) -> S3Error | None:
    if not failure:
        return None
    exc = failure[0]
    if isinstance(exc, bodies.BodyCheckFailed):
        return exc.error
    return S3Error("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length "
                   "HTTP header.", 400)


def _engine_unreachable(exc: BaseException) -> S3Error:
    log.warning("S3 engine request failed: %r", exc)
    return S3Error("ServiceUnavailable", "Please reduce your request rate.", 503)
