"""AWS Signature Version 4 verification for every service behind the endpoint.

Pure functions (no HTTP framework import): the server turns what it received into a
:class:`SignedRequest`, calls :func:`verify`, and gets an :class:`AuthContext` back or a
:class:`SigV4Error` carrying the AWS error code, message and HTTP status to send.

Both ways of signing are accepted:

* header form: ``Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/ec2/aws4_request,
  SignedHeaders=host;x-amz-date, Signature=<64 hex>`` plus ``X-Amz-Date`` (and optionally
  ``X-Amz-Security-Token``, ``X-Amz-Content-Sha256``);
* presigned query form: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``,
  ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` (and optionally ``X-Amz-Security-Token``) in the
  query string.

The canonical request is built as the SigV4 specification defines it ("Create a canonical request
for Signature Version 4", IAM User Guide) and exactly as botocore's ``SigV4Auth``/``SigV4QueryAuth``
build it for non-S3 services: the path has dot segments and repeated slashes removed and is
URI-encoded again (so an already percent-encoded path is double encoded), query names and values are
URI-encoded with only ``A-Za-z0-9-_.~`` left alone and sorted by name then value, signed header values
are trimmed with runs of spaces collapsed, and the payload hash is ``X-Amz-Content-Sha256`` when the
client sent one (checked against the body) or the SHA-256 of the body.  ``UNSIGNED-PAYLOAD`` is only
accepted when the body is empty, so a signature always covers the EC2 parameters.

Error codes, messages and HTTP statuses (what EC2 answers, as seen on the wire):

=============================  ======  ==================================================================
code                           status  when
=============================  ======  ==================================================================
MissingAuthenticationToken     401     no Authorization header and no X-Amz-Algorithm query parameter
IncompleteSignature            400     a signature is present but malformed or incomplete
AuthFailure                    401     unknown access key id (or session token not valid for it)
SignatureDoesNotMatch          403     the signature (or a scope / payload-hash check) does not match
RequestExpired                 400     X-Amz-Date more than 15 minutes away from now, or a presigned URL
                                       past its X-Amz-Expires
=============================  ======  ==================================================================

Sources: "Error codes for the Amazon EC2 API" (EC2 API Reference, common client errors) lists
AuthFailure, IncompleteSignature, MissingAuthenticationToken, RequestExpired, SignatureDoesNotMatch
for all EC2 actions; the "Common Errors" page gives RequestExpired's 15 minute rule and the 400 status
of IncompleteSignature/RequestExpired.  EC2 itself answers an unknown key with ``401 AuthFailure`` "AWS
was not able to validate the provided access credentials", a bad signature with ``403
SignatureDoesNotMatch`` (not AuthFailure) and a skewed clock with ``400 RequestExpired`` "Request has
expired." (EC2 responses quoted in public reports: a 401 AuthFailure body in a GitHub gist,
aws-cli#134 and mitchellh/vagrant-aws#138 for 403 SignatureDoesNotMatch, aws-sdk-java#1443 for 400
RequestExpired).  The status for MissingAuthenticationToken is 403 on the generic AWS "Common Errors"
page; ec2d uses 401 like AuthFailure (a choice: no EC2 response for an unsigned request was found --
botocore parses EC2 errors from the XML body whatever the status).  Messages for IncompleteSignature
and for the scope checks follow the wording AWS services use ("Authorization header requires
'Credential' parameter.", "Credential should be scoped to correct service: 'ec2'. ", "Date in
Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ...").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from orchestrator.domain.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # 604800 seconds, the SigV4 maximum for X-Amz-Expires
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MSG_MISSING = "The request must contain either a valid (registered) AWS access key ID or X.509 certificate."
MSG_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"
MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_EXPIRED = "Request has expired."
# sigv4's stock messages: a protocol with its own wording for a code replaces only these
DEFAULT_MESSAGES = frozenset({MSG_MISSING, MSG_AUTH_FAILURE, MSG_SIGNATURE, MSG_EXPIRED})

_STATUS = {
    "MissingAuthenticationToken": 401,
    "AuthFailure": 401,
    "SignatureDoesNotMatch": 403,
    "IncompleteSignature": 400,
    "RequestExpired": 400,
}

# ASCII digits only: ``\d`` and str.isdigit() also take "²" or "٣", which int() rejects or misreads
_AMZ_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SCOPE_DATE_RE = re.compile(r"[0-9]{8}")
_EXPIRES_RE = re.compile(r"[0-9]{1,10}")
_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")

LookupSecret = Callable[[str, str | None], str | None]
"""``lookup_secret(access_key_id, session_token) -> secret_access_key | None``.

Called with the session token the request carried (``X-Amz-Security-Token``) or None; returns the
secret to verify against, or None when the key (or the key/token pair) is unknown or not valid.
"""


class SigV4Error(ApiError):
    """A request that failed authentication; ``code``/``message``/``status`` go to the client as is."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message, code=code, status=status if status is not None else _STATUS.get(code, 400))

    def __repr__(self) -> str:
        return f"SigV4Error({self.code!r}, {self.message!r}, status={self.status})"


@dataclass(frozen=True)
class SignedRequest:
    """What the server received, unparsed.

    ``path`` and ``query_string`` are raw (percent-encoded as on the wire, without ``?``).
    ``headers`` is any mapping; lookups are case-insensitive.  If it has ``getall`` (aiohttp's
    CIMultiDict) repeated headers are joined with commas as the specification says.
    """

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class AuthContext:
    """Who signed the request, and for which region (taken from the credential scope)."""

    access_key_id: str
    region: str
    service: str
    signed_at: datetime
    session_token: str | None = None
    presigned: bool = False


@dataclass(frozen=True)
class _Parsed:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    session_token: str | None
    expires: int | None  # presigned only
    query_pairs: list[tuple[str, str]]  # decoded, X-Amz-Signature removed for presigned


def _error(code: str, message: str | None = None) -> SigV4Error:
    default = {
        "MissingAuthenticationToken": MSG_MISSING,
        "AuthFailure": MSG_AUTH_FAILURE,
        "SignatureDoesNotMatch": MSG_SIGNATURE,
        "RequestExpired": MSG_EXPIRED,
    }
    return SigV4Error(code, message or default.get(code, code))


# --------------------------------------------------------------------------------------------- helpers


def _utf8(value: str) -> bytes:
    """UTF-8, never raising: aiohttp hands over undecodable header and path bytes as lone surrogates
    (a request carrying them can then only fail the signature check, never crash it). Bytes aiohttp
    decoded with ``surrogateescape`` are hashed as received; any other lone surrogate is passed through."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _uri_encode(value: str) -> str:
    """URI-encode as SigV4 defines: everything except unreserved ``A-Za-z0-9-_.~``, UTF-8, upper hex."""
    return quote(_utf8(value), safe="-_.~")


def _parse_query(query_string: str) -> list[tuple[str, str]]:
    """Split a raw query string into decoded (name, value) pairs; ``+`` is kept literally."""
    pairs: list[tuple[str, str]] = []
    if not query_string:
        return pairs
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def canonical_query_string(pairs: list[tuple[str, str]]) -> str:
    """Encode each name and value, sort by encoded name then value, join with ``&``."""
    encoded = sorted((_uri_encode(k), _uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _raw_query_string(query_string: str, drop: str | None) -> str:
    """Sorted raw pairs, not re-encoded: what botocore signs when the query came in a URL it was given."""
    pairs = []
    for part in query_string.split("&") if query_string else []:
        if not part:
            continue
        name, _, value = part.partition("=")
        if drop is not None and unquote(name) == drop:
            continue
        pairs.append((name, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal plus collapsing of repeated slashes (as AWS does for non-S3)."""
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a non-S3 request: normalized raw path, URI-encoded once more."""
    return quote(_utf8(_remove_dot_segments(raw_path or "/")), safe="/~")


def _trimall(value: str) -> str:
    return " ".join(value.split())


class _Headers:
    """Case-insensitive view over whatever mapping the server had."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._values: dict[str, list[str]] = {}
        getall = getattr(headers, "getall", None)
        if getall is not None:  # a multidict: keys repeat, getall gives every value once per key
            for name in headers:
                key = name.lower()
                if key not in self._values:
                    self._values[key] = [str(v) for v in getall(name)]
        else:  # a plain mapping may hold the same header under two spellings
            for name, value in headers.items():
                self._values.setdefault(name.lower(), []).append(str(value))

    def get(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])


def canonical_headers(headers: _Headers, signed: list[str]) -> str:
    lines = []
    for name in signed:
        value = ",".join(_trimall(v) for v in headers.all(name))
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(_utf8(f"AWS4{secret}"), _utf8(date), hashlib.sha256).digest()
    k = hmac.new(k, _utf8(region), hashlib.sha256).digest()
    k = hmac.new(k, _utf8(service), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(_utf8(canonical_request)).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# --------------------------------------------------------------------------------------------- parsing


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts) or not (credential.isascii() and credential.isprintable()):
        raise _error(
            "IncompleteSignature",
            f"Credential should have exactly 5 slash-separated components "
            f"(<key>/<date>/<region>/<service>/aws4_request), got '{credential}'.",
        )
    akid, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise _error(
            "SignatureDoesNotMatch",
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.",
        )
    if not _SCOPE_DATE_RE.fullmatch(date):
        raise _error("IncompleteSignature", f"Credential should have a date in yyyyMMdd format, got '{date}'.")
    return akid, date, region, service


def _parse_signed_headers(value: str) -> list[str]:
    names = [n.strip().lower() for n in value.split(";")]
    if not value or any(not n for n in names):
        raise _error("IncompleteSignature", f"Invalid SignedHeaders '{value}'.")
    if ";".join(names) != value:  # signed as given: lower-case, no blanks (the signature covers this list)
        raise _error("IncompleteSignature", "SignedHeaders must be sorted, lower-case and without duplicates.")
    return names


def _parse_authorization_header(auth: str, headers: _Headers, query: list[tuple[str, str]]) -> _Parsed:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _error("IncompleteSignature", f"Unsupported AWS 'algorithm': '{algorithm}'.")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        item = item.strip()
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or key in fields:  # an empty component (",,") too
            raise _error(
                "IncompleteSignature",
                f"Authorization header requires each component to be of the form key=value, got '{item}'.",
            )
        fields[key] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        text = " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
        raise _error("IncompleteSignature", f"{text} Authorization={auth}")
    akid, date, region, service = _parse_credential(fields["Credential"])
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        raise _error(
            "IncompleteSignature",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={auth}",
        )
    return _Parsed(
        access_key_id=akid,
        scope_date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(fields["SignedHeaders"]),
        signature=fields["Signature"],
        amz_date=amz_date.strip(),
        session_token=headers.get("x-amz-security-token"),
        expires=None,
        query_pairs=query,
    )


_PRESIGN_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                     "X-Amz-SignedHeaders", "X-Amz-Signature")


def _parse_presigned(query: list[tuple[str, str]], headers: _Headers) -> _Parsed:
    params: dict[str, str] = {}
    for name, value in query:
        if name.startswith("X-Amz-"):
            if name in params:
                raise _error("IncompleteSignature", f"The query parameter {name} must not be repeated.")
            params[name] = value
    missing = [k for k in _PRESIGN_REQUIRED if k not in params]
    if missing:
        raise _error(
            "IncompleteSignature",
            "AWS query-string parameters must include " + ", ".join(f"'{k}'" for k in missing) + ".",
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _error("IncompleteSignature", f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    akid, date, region, service = _parse_credential(params["X-Amz-Credential"])
    expires_text = params["X-Amz-Expires"]
    if not _EXPIRES_RE.fullmatch(expires_text) or not 0 < int(expires_text) <= MAX_PRESIGN_EXPIRES:
        raise _error(
            "IncompleteSignature",
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES}, got '{expires_text}'.",
        )
    token = params.get("X-Amz-Security-Token") or headers.get("x-amz-security-token")
    return _Parsed(
        access_key_id=akid,
        scope_date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(params["X-Amz-SignedHeaders"]),
        signature=params["X-Amz-Signature"],
        amz_date=params["X-Amz-Date"].strip(),
        session_token=token,
        expires=int(expires_text),
        query_pairs=[(k, v) for k, v in query if k != "X-Amz-Signature"],
    )


def _parse_amz_date(value: str) -> datetime:
    if not _AMZ_DATE_RE.fullmatch(value):
        raise _error(
            "IncompleteSignature",
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601",
        )
    try:
        return datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _error(
            "IncompleteSignature",
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None


def _payload_hashes(req: SignedRequest, headers: _Headers, presigned: bool) -> list[str]:
    """The payload hashes a valid signature may have used (first is the usual one)."""
    body_hash = hashlib.sha256(req.body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared is not None:
        declared = declared.strip()
        if declared == UNSIGNED_PAYLOAD:
            if req.body:
                raise _error(
                    "SignatureDoesNotMatch",
                    "UNSIGNED-PAYLOAD is not accepted for a request with a body; sign the payload.",
                )
        elif declared.lower() != body_hash:
            raise _error(
                "SignatureDoesNotMatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        return [declared]
    if presigned and not req.body:
        # botocore's SigV4QueryAuth hashes the (empty) body; S3-style presigners use UNSIGNED-PAYLOAD.
        return [body_hash, UNSIGNED_PAYLOAD]
    return [body_hash]


def _s3_payload_hash(headers: _Headers, presigned: bool) -> list[str]:
    """S3's payload hash: what the client declared (the S3 front checks the streamed body)."""
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        if presigned:
            return [UNSIGNED_PAYLOAD]
        raise SigV4Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400)
    return [declared.strip()]


# --------------------------------------------------------------------------------------------- verify


def scope_service(headers: Mapping[str, str], query_string: str) -> str | None:
    """The service a request's credential scope names, read from its headers and raw query string
    without verifying anything: the server uses it only to answer in that service's protocol (even
    before the body is read or the signature checked). None when there is no well-formed credential."""
    auth = _Headers(headers).get("authorization")
    credential: str | None = None
    if auth is not None and auth.strip():
        for item in auth.strip().partition(" ")[2].split(","):
            key, _, value = item.strip().partition("=")
            if key.strip() == "Credential":
                credential = value.strip()
                break
    else:
        credential = next((v for k, v in _parse_query(query_string) if k == "X-Amz-Credential"), None)
    parts = credential.split("/") if credential else []
    return parts[3] if len(parts) == 5 and parts[3] else None


def verify(
    req: SignedRequest,
    lookup_secret: LookupSecret,
    now: datetime,
    service: str | None = "ec2",
) -> AuthContext:
    """Verify a SigV4-signed request; return who signed it or raise :class:`SigV4Error`.

    ``service`` None accepts the service the credential scope names (the server then serves the
    request as that service, :attr:`AuthContext.service`): the scope is part of the string to sign
    and of the signing key, so a request signed for one service never verifies as another.

    Checks, in order: that a signature is present (``MissingAuthenticationToken``), well formed
    (``IncompleteSignature``), scoped to ``service`` and to the date of ``X-Amz-Date`` and includes
    ``host`` (and ``x-amz-target`` when the request has one: it names a JSON service's action) in its
    signed headers (``SignatureDoesNotMatch``), fresh: ``X-Amz-Date`` within 15 minutes
    of ``now`` and a presigned URL not past ``X-Amz-Expires`` (``RequestExpired``), made with a known
    key (``AuthFailure``), and finally that the signature matches (``SignatureDoesNotMatch``).
    The credential scope's region is returned as the request's region.

    ``service="s3"`` applies S3's rules (botocore's ``S3SigV4Auth``): the canonical URI is the raw
    path as sent (no normalization, no second encoding) and the payload hash is the request's
    ``x-amz-content-sha256`` as declared (``UNSIGNED-PAYLOAD`` for a presigned URL without it). The
    body is not looked at: the S3 front streams it and checks it against that declaration as it goes.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    headers = _Headers(req.headers)
    query = _parse_query(req.query_string)
    auth = headers.get("authorization")
    presigned = any(name == "X-Amz-Algorithm" for name, _ in query)

    if auth is not None and auth.strip() and presigned:
        raise _error(
            "IncompleteSignature",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the "
            "Authorization header should be specified.",
        )
    if presigned:
        parsed = _parse_presigned(query, headers)
    elif auth is not None and auth.strip():
        parsed = _parse_authorization_header(auth, headers, query)
    else:
        raise _error("MissingAuthenticationToken")

    signed_at = _parse_amz_date(parsed.amz_date)
    _check_scope(parsed, headers, service)
    _check_fresh(parsed, signed_at, now)

    secret = lookup_secret(parsed.access_key_id, parsed.session_token)
    if secret is None:
        raise _error("AuthFailure")

    if not _SIGNATURE_RE.match(parsed.signature):
        raise _error("SignatureDoesNotMatch")
    if not _signature_matches(req, headers, parsed, secret, s3=service == "s3"):
        raise _error("SignatureDoesNotMatch")

    return AuthContext(
        access_key_id=parsed.access_key_id,
        region=parsed.region,
        service=parsed.service,
        signed_at=signed_at,
        session_token=parsed.session_token,
        presigned=parsed.expires is not None,
    )


def _check_scope(parsed: _Parsed, headers: _Headers, service: str | None) -> None:
    """The credential scope's date and service, and the headers the signature must cover."""
    if parsed.scope_date != parsed.amz_date[:8]:
        raise _error(
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{parsed.scope_date}' != '{parsed.amz_date[:8]}', from '{parsed.amz_date}'.",
        )
    if service is not None and parsed.service != service:
        raise _error("SignatureDoesNotMatch", f"Credential should be scoped to correct service: '{service}'. ")
    if "host" not in parsed.signed_headers:
        raise _error("SignatureDoesNotMatch", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if headers.get("x-amz-target") is not None and "x-amz-target" not in parsed.signed_headers:
        raise _error("SignatureDoesNotMatch", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    if parsed.signed_headers != sorted(set(parsed.signed_headers)):
        raise _error("IncompleteSignature", "SignedHeaders must be sorted, lower-case and without duplicates.")


def _check_fresh(parsed: _Parsed, signed_at: datetime, now: datetime) -> None:
    if parsed.expires is not None:
        if now - signed_at > timedelta(seconds=parsed.expires):  # (no date + delta: year 9999 overflows)
            raise _error("RequestExpired")
        if signed_at - now > MAX_SKEW:
            raise _error("RequestExpired")
    elif abs(now - signed_at) > MAX_SKEW:
        raise _error("RequestExpired")


def _signature_matches(req: SignedRequest, headers: _Headers, parsed: _Parsed, secret: str,
                       s3: bool = False) -> bool:
    """Whether the signature matches one of the canonical requests a valid signer may have built."""
    scope = f"{parsed.scope_date}/{parsed.region}/{parsed.service}/aws4_request"
    key = signing_key(secret, parsed.scope_date, parsed.region, parsed.service)
    method = req.method.upper()
    uri = (req.path or "/") if s3 else canonical_uri(req.path)
    canon_headers = canonical_headers(headers, parsed.signed_headers)
    signed_list = ";".join(parsed.signed_headers)
    queries = [canonical_query_string(parsed.query_pairs)]
    raw = _raw_query_string(req.query_string, "X-Amz-Signature" if parsed.expires is not None else None)
    if raw != queries[0]:
        queries.append(raw)

    matched = False
    hashes = _s3_payload_hash(headers, parsed.expires is not None) if s3 else \
        _payload_hashes(req, headers, parsed.expires is not None)
    for payload_hash in hashes:
        for query_text in queries:
            canonical = "\n".join([method, uri, query_text, canon_headers, signed_list, payload_hash])
            sts = string_to_sign(parsed.amz_date, scope, canonical)
            expected = hmac.new(key, _utf8(sts), hashlib.sha256).hexdigest()
            # evaluate every candidate, so timing does not tell which one matched
            matched |= hmac.compare_digest(expected, parsed.signature)
    return matched
