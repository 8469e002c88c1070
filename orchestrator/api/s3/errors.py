"""S3's error shape (``<Error><Code/><Message/><Resource/><RequestId/></Error>``, REST XML) and the
mapping from ec2d's authentication errors to the codes S3 answers with.

S3 names: ``InvalidAccessKeyId`` (403) for an unknown key, ``SignatureDoesNotMatch`` (403),
``AccessDenied`` (403, "Access Denied") for an unsigned request or a refused one, ``AccessDenied``
"Request has expired" for a presigned URL past its expiry, ``RequestTimeTooSkewed`` (403) for a
header-signed request more than 15 minutes off, ``AuthorizationHeaderMalformed`` /
``AuthorizationQueryParametersError`` (400) for a malformed signature, ``InvalidToken`` (400) for a
session token ec2d does not know ("Error Responses", Amazon S3 API Reference).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from orchestrator.api import sigv4
from orchestrator.domain import errors


class S3Error(errors.ApiError):
    """An error answered in S3's XML shape."""

    def __init__(self, code: str, message: str, status: int, **extra: str) -> None:
        super().__init__(message, code=code, status=status)
        self.extra = extra


def access_denied() -> S3Error:
    return S3Error("AccessDenied", "Access Denied", 403)


def from_sigv4(err: sigv4.SigV4Error, presigned: bool, token: bool) -> S3Error:
    code = err.code
    if code == "MissingAuthenticationToken":
        return access_denied()
    if code == "AuthFailure":
        if token:
            return S3Error("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        return S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403)
    if code == "SignatureDoesNotMatch":
        message = err.message if err.message not in sigv4.DEFAULT_MESSAGES else (
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.")
        return S3Error("SignatureDoesNotMatch", message, 403)
    if code == "RequestExpired":
        if presigned:
            return S3Error("AccessDenied", "Request has expired", 403)
        return S3Error("RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too large.", 403)
    if code == "IncompleteSignature":
        return S3Error("AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed",
                       err.message, 400)
    return S3Error(code, err.message, err.status)


def body(err: errors.ApiError, resource: str, request_id: str) -> bytes:
    extra = getattr(err, "extra", {})
    parts = [f"<Code>{escape(err.code)}</Code>", f"<Message>{escape(err.message)}</Message>"]
    parts += [f"<{k}>{escape(v)}</{k}>" for k, v in extra.items()]
    parts += [f"<Resource>{escape(resource)}</Resource>", f"<RequestId>{escape(request_id)}</RequestId>"]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()
