"""SigV4 verification against requests signed by botocore itself (and AWS's published vectors)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from orchestrator.api.sigv4 import AuthContext, SignedRequest, SigV4Error, verify

AKID = "AKIDEC2DTEST0000001"
SECRET = "sEcReT/K7MDENG+bPxRfiCYEXAMPLEKEY0000001"
TEMP_AKID = "ASIAEC2DTEST0000002"
TEMP_SECRET = "tempSecret/abcdefghijklmnopqrstuvwxyz01"
TOKEN = "FwoGZXIvYXdzEExampleSessionToken+/=="
ENDPOINT = "http://127.0.0.1:8773/"
FORM = {"Action": "DescribeRegions", "Version": "2016-11-15"}


def lookup(access_key_id: str, session_token: str | None) -> str | None:
    if access_key_id == AKID and session_token is None:
        return SECRET
    if access_key_id == TEMP_AKID and session_token == TOKEN:
        return TEMP_SECRET
    return None


def to_signed(request: AWSRequest) -> SignedRequest:
    """What the server would see for a request botocore signed and an HTTP client then sent."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("Host", parts.netloc)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return SignedRequest(prepared.method, parts.path or "/", parts.query, headers, body)


def sign_post(
    creds: Credentials | None = None,
    region: str = "us-east-1",
    service: str = "ec2",
    data: dict[str, str] | None = None,
) -> SignedRequest:
    req = AWSRequest(
        method="POST",
        url=ENDPOINT,
        data=data or FORM,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(creds or Credentials(AKID, SECRET), service, region).add_auth(req)
    return to_signed(req)


def sign_get(query: str = "Action=DescribeRegions&Version=2016-11-15", creds: Credentials | None = None) -> SignedRequest:
    req = AWSRequest(method="GET", url=f"{ENDPOINT}?{query}")
    SigV4Auth(creds or Credentials(AKID, SECRET), "ec2", "eu-west-1").add_auth(req)
    return to_signed(req)


def presign(expires: int = 300, creds: Credentials | None = None) -> SignedRequest:
    req = AWSRequest(method="GET", url=ENDPOINT, params=FORM)
    SigV4QueryAuth(creds or Credentials(AKID, SECRET), "ec2", "us-west-2", expires=expires).add_auth(req)
    return to_signed(req)


def now() -> datetime:
    return datetime.now(UTC)


def replace(req: SignedRequest, **changes: object) -> SignedRequest:
    fields = {"method": req.method, "path": req.path, "query_string": req.query_string,
              "headers": dict(req.headers), "body": req.body}
    fields.update(changes)
    return SignedRequest(**fields)  # type: ignore[arg-type]


def expect(code: str, status: int, call: Callable[[], object]) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        call()
    assert info.value.code == code, info.value.message
    assert info.value.status == status
    return info.value


# ----------------------------------------------------------------------------------------- success


def test_post_form_body_like_the_ec2_query_api() -> None:
    req = sign_post(region="us-east-1")
    ctx = verify(req, lookup, now())
    assert isinstance(ctx, AuthContext)
    assert (ctx.access_key_id, ctx.region, ctx.service) == (AKID, "us-east-1", "ec2")
    assert ctx.session_token is None and not ctx.presigned
    assert abs(ctx.signed_at - now()) < timedelta(minutes=1)


def test_region_comes_from_the_credential_scope() -> None:
    assert verify(sign_post(region="ap-southeast-2"), lookup, now()).region == "ap-southeast-2"


def test_get_with_query_string() -> None:
    ctx = verify(sign_get(), lookup, now())
    assert ctx.region == "eu-west-1"


def test_get_with_query_needing_encoding() -> None:
    req = sign_get("Action=DescribeTags&Filter.1.Name=key&Filter.1.Value.1=a%20b%2Fc~d%2A")
    assert verify(req, lookup, now()).access_key_id == AKID


def test_headers_are_case_insensitive_and_values_trimmed() -> None:
    req = sign_post()
    headers = {k.upper(): v for k, v in req.headers.items()}
    headers["CONTENT-TYPE"] = "  application/x-www-form-urlencoded;   charset=utf-8 "
    assert verify(replace(req, headers=headers), lookup, now()).region == "us-east-1"


def test_presigned_url() -> None:
    ctx = verify(presign(), lookup, now())
    assert ctx.presigned and ctx.region == "us-west-2" and ctx.access_key_id == AKID


def test_boto3_client_request_verifies() -> None:
    """The exact request a real boto3 EC2 client sends (captured before it leaves the process)."""
    client = boto3.client(
        "ec2", region_name="eu-central-1", endpoint_url=ENDPOINT,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
    )
    captured: list[SignedRequest] = []

    class Captured(Exception):
        pass

    def before_send(request: AWSRequest, **_: object) -> None:
        parts = urlsplit(request.url)
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        headers.setdefault("Host", parts.netloc)
        body = request.body or b""
        captured.append(SignedRequest(request.method, parts.path or "/", parts.query, headers,
                                      body.encode() if isinstance(body, str) else body))
        raise Captured()

    client.meta.events.register("before-send.ec2.DescribeRegions", before_send)
    with pytest.raises(Captured):
        client.describe_regions(RegionNames=["eu-central-1", "us-east-1"])
    ctx = verify(captured[0], lookup, now())
    assert ctx.region == "eu-central-1"
    assert b"Action=DescribeRegions" in captured[0].body


def test_boto3_generate_presigned_url_verifies() -> None:
    client = boto3.client(
        "ec2", region_name="us-east-2", endpoint_url=ENDPOINT,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
    )
    # EC2's model says POST; without HttpMethod the URL is signed for POST (as on real AWS).
    url = client.generate_presigned_url("describe_regions", Params={}, ExpiresIn=120, HttpMethod="GET")
    parts = urlsplit(url)
    req = SignedRequest("GET", parts.path or "/", parts.query, {"Host": parts.netloc}, b"")
    ctx = verify(req, lookup, now())
    assert ctx.presigned and ctx.region == "us-east-2"


def test_session_token_header_form() -> None:
    seen: list[tuple[str, str | None]] = []

    def recording_lookup(akid: str, token: str | None) -> str | None:
        seen.append((akid, token))
        return lookup(akid, token)

    req = sign_post(Credentials(TEMP_AKID, TEMP_SECRET, TOKEN))
    ctx = verify(req, recording_lookup, now())
    assert seen == [(TEMP_AKID, TOKEN)]
    assert ctx.session_token == TOKEN


def test_session_token_presigned() -> None:
    ctx = verify(presign(creds=Credentials(TEMP_AKID, TEMP_SECRET, TOKEN)), lookup, now())
    assert ctx.session_token == TOKEN


def test_wrong_session_token_is_auth_failure() -> None:
    req = sign_post(Credentials(TEMP_AKID, TEMP_SECRET, "not-the-token"))
    expect("AuthFailure", 401, lambda: verify(req, lookup, now()))


def test_session_token_removed_is_auth_failure() -> None:
    req = sign_post(Credentials(TEMP_AKID, TEMP_SECRET, TOKEN))
    headers = {k: v for k, v in req.headers.items() if k.lower() != "x-amz-security-token"}
    expect("AuthFailure", 401, lambda: verify(replace(req, headers=headers), lookup, now()))


# ----------------------------------------------------------------------------------------- failures


def test_wrong_secret() -> None:
    req = sign_post(Credentials(AKID, "not-the-secret"))
    err = expect("SignatureDoesNotMatch", 403, lambda: verify(req, lookup, now()))
    assert err.message.startswith("The request signature we calculated does not match")


def test_unknown_access_key() -> None:
    req = sign_post(Credentials("AKIDUNKNOWN", SECRET))
    err = expect("AuthFailure", 401, lambda: verify(req, lookup, now()))
    assert err.message == "AWS was not able to validate the provided access credentials"


def test_tampered_body() -> None:
    req = sign_post()
    tampered = replace(req, body=req.body.replace(b"DescribeRegions", b"TerminateInstances"))
    expect("SignatureDoesNotMatch", 403, lambda: verify(tampered, lookup, now()))


def test_tampered_signed_header() -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["Content-Type"] = "text/plain"
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_tampered_host() -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["Host"] = "127.0.0.1:9999"
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_tampered_query_and_path_and_method() -> None:
    req = sign_get()
    for bad in (
        replace(req, query_string=req.query_string.replace("DescribeRegions", "DescribeVpcs")),
        replace(req, path="/other"),
        replace(req, method="POST"),
    ):
        expect("SignatureDoesNotMatch", 403, lambda bad=bad: verify(bad, lookup, now()))


def test_content_sha256_header_must_match_body() -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["X-Amz-Content-Sha256"] = "0" * 64
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_unsigned_payload_with_body_refused() -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD"
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew_over_15_minutes(minutes: int) -> None:
    req = sign_post()
    err = expect("RequestExpired", 400, lambda: verify(req, lookup, now() + timedelta(minutes=minutes)))
    assert err.message == "Request has expired."


def test_clock_skew_under_15_minutes_accepted() -> None:
    req = sign_post()
    assert verify(req, lookup, now() + timedelta(minutes=14)).region == "us-east-1"
    assert verify(req, lookup, now() - timedelta(minutes=14)).region == "us-east-1"


def test_presign_expired() -> None:
    req = presign(expires=60)
    assert verify(req, lookup, now() + timedelta(seconds=30)).presigned
    expect("RequestExpired", 400, lambda: verify(req, lookup, now() + timedelta(seconds=90)))


def test_presign_tampered_param() -> None:
    req = presign()
    tampered = replace(req, query_string=req.query_string.replace("DescribeRegions", "DescribeVpcs"))
    expect("SignatureDoesNotMatch", 403, lambda: verify(tampered, lookup, now()))


def test_presign_with_body_not_covered() -> None:
    req = presign()
    expect("SignatureDoesNotMatch", 403,
           lambda: verify(replace(req, method="GET", body=b"Action=TerminateInstances"), lookup, now()))


def test_presign_missing_parameter() -> None:
    req = presign()
    query = "&".join(p for p in req.query_string.split("&") if not p.startswith("X-Amz-Expires="))
    expect("IncompleteSignature", 400, lambda: verify(replace(req, query_string=query), lookup, now()))


def test_missing_authorization() -> None:
    req = sign_post()
    headers = {k: v for k, v in req.headers.items() if k.lower() != "authorization"}
    err = expect("MissingAuthenticationToken", 401, lambda: verify(replace(req, headers=headers), lookup, now()))
    assert "access key ID" in err.message


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/ec2/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/ec2/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/2026-11-26/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 garbage",
        "AWS AKID:c2lnbmF0dXJl",
        "AWS4-HMAC-SHA512 Credential=AKID/20261126/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab",
    ],
)
def test_malformed_authorization(authorization: str) -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["Authorization"] = authorization
    expect("IncompleteSignature", 400, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_missing_x_amz_date() -> None:
    req = sign_post()
    headers = {k: v for k, v in req.headers.items() if k.lower() != "x-amz-date"}
    expect("IncompleteSignature", 400, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_malformed_x_amz_date() -> None:
    req = sign_post()
    headers = dict(req.headers)
    headers["X-Amz-Date"] = "2026-11-26T10:00:00Z"
    expect("IncompleteSignature", 400, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_wrong_service_in_scope() -> None:
    req = sign_post(service="s3")
    err = expect("SignatureDoesNotMatch", 403, lambda: verify(req, lookup, now()))
    assert "correct service: 'ec2'" in err.message


def test_scope_date_must_match_x_amz_date() -> None:
    req = sign_post()
    headers = dict(req.headers)
    amz_date = headers["X-Amz-Date"]
    day = datetime.strptime(amz_date[:8], "%Y%m%d") - timedelta(days=1)
    headers["Authorization"] = headers["Authorization"].replace(f"/{amz_date[:8]}/", f"/{day:%Y%m%d}/")
    err = expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))
    assert "Date in Credential scope does not match" in err.message


def test_host_must_be_signed() -> None:
    req = sign_post()
    headers = dict(req.headers)
    auth = headers["Authorization"]
    headers["Authorization"] = auth.replace("host;", "")
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_both_header_and_query_auth_refused() -> None:
    req = presign()
    headers = dict(req.headers)
    headers["Authorization"] = sign_post().headers["Authorization"]
    expect("IncompleteSignature", 400, lambda: verify(replace(req, headers=headers), lookup, now()))


def test_error_is_an_ec2_error() -> None:
    from orchestrator.domain.errors import ApiError

    assert issubclass(SigV4Error, ApiError)


# ------------------------------------------------------------------ AWS SigV4 test-suite vectors

SUITE_AKID = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "query", "signature"),
    [
        ("/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
        # get-vanilla-query-order-key-case
        ("/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        ("/\u1234", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),  # get-utf8
    ],
)
def test_aws_sigv4_suite_vectors(path: str, query: str, signature: str) -> None:
    req = SignedRequest(
        "GET", path, query,
        {
            "Host": "example.amazonaws.com",
            "X-Amz-Date": "20150830T123600Z",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={SUITE_AKID}/20150830/us-east-1/service/aws4_request, "
                f"SignedHeaders=host;x-amz-date, Signature={signature}"
            ),
        },
        b"",
    )

    def suite_lookup(akid: str, token: str | None) -> str | None:
        return SUITE_SECRET if akid == SUITE_AKID else None

    ctx = verify(req, suite_lookup, SUITE_TIME, service="service")
    assert ctx.signed_at == SUITE_TIME and ctx.region == "us-east-1"


def test_repeated_headers_from_a_multidict() -> None:
    """aiohttp hands over a CIMultiDict; repeated signed headers are joined with commas as botocore does."""
    from multidict import CIMultiDict

    req = AWSRequest(method="POST", url=ENDPOINT, data=FORM,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    req.headers["X-Amz-Meta-Tag"] = "one"
    req.headers["X-Amz-Meta-Tag"] = "  two   words "  # HTTPHeaders appends: the header is repeated
    SigV4Auth(Credentials(AKID, SECRET), "ec2", "us-east-1").add_auth(req)
    assert "x-amz-meta-tag" in req.headers["Authorization"]
    prepared = req.prepare()  # (its header dict keeps only the last of repeated headers)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in req.headers.items():
        headers.add(name, value)
    headers.add("Host", urlsplit(prepared.url).netloc)
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    signed = SignedRequest("POST", "/", "", headers, body)
    assert verify(signed, lookup, now()).region == "us-east-1"
    # dropping one of the repeated values breaks the signature
    fewer: CIMultiDict[str] = CIMultiDict((k, v) for k, v in headers.items() if v != "one")
    expect("SignatureDoesNotMatch", 403, lambda: verify(replace(signed, headers=fewer), lookup, now()))
