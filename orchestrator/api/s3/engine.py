"""Requests to the engine: path-style, the client's headers less its authentication, re-signed
with the engine's admin identity (SigV4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.api import sigv4
from orchestrator.drivers.objectstore.driver import EngineEndpoint

# never forwarded: the client's authentication (replaced), hop-by-hop headers, and Host
DROP_REQUEST = frozenset({
    "host", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "content-length",
    "transfer-encoding", "connection", "keep-alive", "expect", "te", "trailer", "upgrade",
    "proxy-authorization", "proxy-connection",
})
DROP_RESPONSE = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length", "server", "date"})
PRESIGN_PARAMS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                            "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"})


PRESIGN_V2_PARAMS = frozenset({"AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token"})


def engine_query(raw_query: str, sigv2: bool = False) -> str:
    """The client's raw query string less a presigned URL's authentication parameters."""
    drop = PRESIGN_V2_PARAMS if sigv2 else PRESIGN_PARAMS
    kept = [part for part in raw_query.split("&") if part and unquote(part.partition("=")[0]) not in drop]
    return "&".join(kept)


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return sigv4.canonical_query_string(pairs)


def sign(endpoint: EngineEndpoint, method: str, path: str, raw_query: str, content_sha256: str,
         now: dt.datetime, headers: CIMultiDict[str] | None = None) -> dict[str, str]:
    """The headers that sign this request for the engine as its admin. Every ``x-amz-*`` header
    forwarded (and Content-MD5/-Type/-Encoding) is signed too: the engine, like S3, refuses
    ``x-amz-*`` headers a signature does not cover."""
    amz_date = now.strftime(sigv4.AMZ_DATE_FORMAT)
    date = amz_date[:8]
    scope = f"{date}/{endpoint.region}/s3/aws4_request"
    values: dict[str, list[str]] = {"host": [endpoint.host], "x-amz-content-sha256": [content_sha256],
                                    "x-amz-date": [amz_date]}
    for name, value in (headers or CIMultiDict()).items():
        lower = name.lower()
        if lower.startswith("x-amz-") or lower in _SIGNED_TOO:
            values.setdefault(lower, []).append(" ".join(value.split()))
    names = sorted(values)
    signed = ";".join(names)
    canonical_headers = "".join(f"{n}:{','.join(values[n])}\n" for n in names)
    canonical = "\n".join([method.upper(), path, _canonical_query(raw_query), canonical_headers, signed,
                           content_sha256])
    to_sign = sigv4.string_to_sign(amz_date, scope, canonical)
    key = sigv4.signing_key(endpoint.secret_access_key, date, endpoint.region, "s3")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": endpoint.host,
        "X-Amz-Date": amz_date,
        "X-Amz-Content-SHA256": content_sha256,
        "Authorization": f"{sigv4.ALGORITHM} Credential={endpoint.access_key_id}/{scope}, "
                         f"SignedHeaders={signed}, Signature={signature}",
    }


_SIGNED_TOO = frozenset({"content-md5", "content-type", "content-encoding"})


def request_headers(client: CIMultiDictProxy[str] | CIMultiDict[str], drop: frozenset[str],
                    content_encoding: str | None) -> CIMultiDict[str]:
    """The client's headers the engine gets (before signing)."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in client.items():
        lower = name.lower()
        if lower in DROP_REQUEST or lower in drop or (lower == "content-encoding" and content_encoding is not None):
            continue
        out.add(name, value)
    if content_encoding:
        out["Content-Encoding"] = content_encoding
    return out


def without_aws_chunked(value: str | None) -> str:
    """A Content-Encoding with ``aws-chunked`` removed (the engine gets the decoded body)."""
    if not value:
        return ""
    return ",".join(p.strip() for p in value.split(",") if p.strip() and p.strip().lower() != "aws-chunked")
