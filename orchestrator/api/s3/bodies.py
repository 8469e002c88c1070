"""Upload bodies, streamed from the client to the engine and checked on the way.

S3 clients declare in ``x-amz-content-sha256`` (a signed header) how the body is protected, and
ec2d, which verified the header signature, holds the body to that declaration:

* a hex SHA-256: hashed as it streams; a mismatch is ``400 XAmzContentSHA256Mismatch``;
* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (signed ``aws-chunked``): every chunk's signature checked
  (each chained to the previous one, from the header's signature), the decoded bytes forwarded;
* ``UNSIGNED-PAYLOAD`` and ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (botocore over HTTPS: ``aws-chunked``
  with an ``x-amz-checksum-*`` trailer): nothing is signed, so the bytes go to the engine as they
  came, which decodes them and checks the trailing checksum (as it checks ``x-amz-checksum-*`` and
  ``Content-MD5`` headers).

Nothing is buffered whole: pieces go to the engine as they arrive, except the last one, which is
held until every check passed. When one fails the upload to the engine is aborted short of its
length, so the engine never stores a body that failed a check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import StreamReader

from orchestrator.api import sigv4
from orchestrator.api.s3.errors import S3Error

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
PIECE = 256 * 1024
MAX_CHUNK_LINE = 4096
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK_LINE = re.compile(rb"^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$")


class BodyCheckFailed(Exception):
    """A streamed body failed its check; ``error`` is what the client gets."""

    def __init__(self, error: S3Error) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class ChunkSigning:
    """What a signed aws-chunked body's chunk signatures are computed from."""

    key: bytes  # the caller's SigV4 signing key for the request's scope
    amz_date: str
    scope: str
    seed: str  # the request's own signature


@dataclass
class EngineBody:
    """The body to send to the engine and the headers that describe it."""

    data: AsyncIterator[bytes] | None
    content_sha256: str  # the engine's x-amz-content-sha256
    length: int | None  # the engine's Content-Length (None: chunked transfer)
    drop_headers: frozenset[str] = frozenset()
    content_encoding: str | None = None  # not None: the client's Content-Encoding less aws-chunked


def _mismatch() -> S3Error:
    return S3Error("XAmzContentSHA256Mismatch",
                   "The provided 'x-amz-content-sha256' header does not match what was computed.", 400)


async def _hold_last(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield ``source``'s pieces one behind, so the last one goes out only once ``source`` ended
    without raising (its checks passed)."""
    held: bytes | None = None
    async for piece in source:
        if held:
            yield held
        held = piece
    if held:
        yield held


async def _raw(content: StreamReader) -> AsyncIterator[bytes]:
    async for piece in content.iter_chunked(PIECE):
        yield piece


async def _hashed(content: StreamReader, expected: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    async for piece in content.iter_chunked(PIECE):
        digest.update(piece)
        yield piece
    if digest.hexdigest() != expected:
        raise BodyCheckFailed(_mismatch())


async def _signed_chunks(content: StreamReader, signing: ChunkSigning, decoded_length: int) -> AsyncIterator[bytes]:
    previous, total = signing.seed, 0
    while True:
        line = await content.readline()
        if not line.endswith(b"\r\n") or len(line) > MAX_CHUNK_LINE:
            raise BodyCheckFailed(S3Error("IncompleteBody", "The request body terminated unexpectedly", 400))
        match = _CHUNK_LINE.match(line[:-2])
        if match is None:
            raise BodyCheckFailed(S3Error("InvalidChunkSizeError", "Only the last chunk is allowed to have a "
                                          "size less than 8192 bytes", 400))
        size, signature = int(match.group(1), 16), match.group(2).decode()
        digest, left = hashlib.sha256(), size
        while left:
            piece = await content.read(min(left, PIECE))
            if not piece:
                raise BodyCheckFailed(S3Error("IncompleteBody", "The request body terminated unexpectedly", 400))
            digest.update(piece)
            left -= len(piece)
            total += len(piece)
            if total > decoded_length:
                raise BodyCheckFailed(S3Error("IncompleteBody", "The body is longer than x-amz-decoded-content-length",
                                              400))
            yield piece
        if await content.readexactly(2) != b"\r\n":
            raise BodyCheckFailed(S3Error("IncompleteBody", "The request body terminated unexpectedly", 400))
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signing.amz_date, signing.scope, previous,
                             sigv4.EMPTY_SHA256, digest.hexdigest()])
        expected = hmac.new(signing.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BodyCheckFailed(S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does not "
                                          "match the signature you provided.", 403))
        previous = signature
        if size == 0:
            break
    if total != decoded_length:
        raise BodyCheckFailed(S3Error("IncompleteBody", "The request body terminated unexpectedly", 400))


def engine_body(content: StreamReader, declared: str, length: int | None, chunked: bool,
                decoded_length: str | None, signing: ChunkSigning | None) -> EngineBody:
    """How to stream this request's body to the engine (``declared``: its x-amz-content-sha256)."""
    has_body = chunked or bool(length)
    if declared == SIGNED_CHUNKS:
        if signing is None or decoded_length is None or not decoded_length.isdigit():
            raise S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
        size = int(decoded_length)
        return EngineBody(_hold_last(_signed_chunks(content, signing, size)), sigv4.UNSIGNED_PAYLOAD, size,
                          drop_headers=frozenset({"x-amz-decoded-content-length"}), content_encoding="")
    if declared == UNSIGNED_TRAILER:
        # aws-chunked is how this body travels, not how the object is encoded: S3 does not store it
        # (the engine would, and hand it back on GET), so the engine is told only the other encodings
        return EngineBody(_raw(content), UNSIGNED_TRAILER, None if chunked else length, content_encoding="")
    if declared == sigv4.UNSIGNED_PAYLOAD:
        return EngineBody(_raw(content) if has_body else None, sigv4.UNSIGNED_PAYLOAD, None if chunked else length)
    if _HEX64.match(declared):
        if not has_body:
            if declared != sigv4.EMPTY_SHA256:
                raise _mismatch()
            return EngineBody(None, sigv4.UNSIGNED_PAYLOAD, length)
        return EngineBody(_hold_last(_hashed(content, declared)), sigv4.UNSIGNED_PAYLOAD, None if chunked else length)
    if declared.startswith("STREAMING-"):
        raise S3Error("NotImplemented", f"ec2d does not accept x-amz-content-sha256 {declared} yet; use "
                      f"{SIGNED_CHUNKS}, {UNSIGNED_TRAILER} or a SHA-256 of the payload.", 501)
    raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                  "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.",
                  400, ArgumentName="x-amz-content-sha256", ArgumentValue=declared)
