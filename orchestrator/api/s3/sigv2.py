"""S3's older query-string signature (Signature Version 2: ``AWSAccessKeyId``, ``Expires``,
``Signature``), checked by ec2d like SigV4.

boto3's ``generate_presigned_url`` for S3 makes these by default (botocore presigns S3 with
``s3-query`` unless the client is configured with ``signature_version="s3v4"``), so a URL a user
makes with boto3 would otherwise be refused. The string to sign is S3's ("Signing and authenticating
REST requests", Amazon S3 developer guide, as botocore's ``HmacV1QueryAuth`` builds it)::

    METHOD \\n Content-MD5 \\n Content-Type \\n Expires \\n [x-amz-*:value \\n ...] /bucket/key[?sub-resources]

where Content-MD5, Content-Type and ``x-amz-*`` were moved into the query string by the signer,
and the signature is base64(HMAC-SHA1(secret, string)).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from orchestrator.api import sigv4

# the query parameters that are part of the resource (botocore's HmacV1Auth.QSAOfInterest)
SUB_RESOURCES = frozenset({
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
    "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select",
    "select-type", "object-lock",
})


def is_sigv2_query(raw_query: str) -> bool:
    names = {part.partition("=")[0] for part in raw_query.split("&") if part}
    return "AWSAccessKeyId" in names and "Signature" in names


def _resource(auth_path: str, raw_query: str) -> str:
    subs = []
    for part in raw_query.split("&") if raw_query else []:
        name, eq, value = part.partition("=")
        if name in SUB_RESOURCES:
            subs.append((name, f"{name}={unquote(value)}" if eq else name))
    subs.sort(key=lambda item: item[0])
    return auth_path + ("?" + "&".join(text for _, text in subs) if subs else "")


def verify(method: str, auth_path: str, raw_query: str, headers: Mapping[str, str],
           lookup_secret: sigv4.LookupSecret, now: dt.datetime) -> sigv4.AuthContext:
    """Verify a SigV2 presigned request (``auth_path``: ``/bucket/key`` as signed, raw)."""
    params: dict[str, str] = {}
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        params.setdefault(unquote(name), unquote(value))
    akid, signature, expires = params.get("AWSAccessKeyId", ""), params.get("Signature", ""), params.get("Expires", "")
    if not expires.isdigit() or not akid or not signature:
        raise sigv4.SigV4Error("IncompleteSignature", "Query-string authentication requires the Signature, "
                               "Expires and AWSAccessKeyId parameters", 400)
    if now.timestamp() > int(expires):
        raise sigv4.SigV4Error("RequestExpired", sigv4.MSG_EXPIRED, 403)
    token = params.get("x-amz-security-token") or _header(headers, "x-amz-security-token")
    secret = lookup_secret(akid, token)
    if secret is None:
        raise sigv4.SigV4Error("AuthFailure", sigv4.MSG_AUTH_FAILURE)
    amz = {k.lower(): v.strip() for k, v in params.items() if k.lower().startswith("x-amz-")}
    for name in headers:
        if name.lower().startswith("x-amz-") and name.lower() not in amz:
            amz[name.lower()] = ",".join(v.strip() for v in _all(headers, name))
    lines = [method.upper(), params.get("content-md5", _header(headers, "content-md5") or "").strip(),
             params.get("content-type", _header(headers, "content-type") or "").strip(), expires]
    lines += [f"{k}:{amz[k]}" for k in sorted(amz)]
    to_sign = "\n".join(lines) + "\n" + _resource(auth_path, raw_query)
    expected = base64.b64encode(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise sigv4.SigV4Error("SignatureDoesNotMatch", sigv4.MSG_SIGNATURE)
    return sigv4.AuthContext(access_key_id=akid, region="us-east-1", service="s3", signed_at=now,
                             session_token=token, presigned=True)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _all(headers: Mapping[str, str], name: str) -> list[str]:
    getall: Callable[[str], list[str]] | None = getattr(headers, "getall", None)
    return list(getall(name)) if getall is not None else [headers[name]]
