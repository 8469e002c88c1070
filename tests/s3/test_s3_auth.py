"""ec2d checks every S3 request itself before the engine sees it: signatures (header, presigned
SigV4 and SigV2, aws-chunked chunk signatures), expiry, payload hashes; and answers in S3's XML.

"Never reaching the engine" is shown by requests that the engine would accept if they got there
(ec2d re-signs with the engine's admin key): a refused CreateBucket leaves no bucket behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d
from s3lib import credentials, raw, s3_client


@pytest.fixture(scope="module")
def s3(s3d: RunningEc2d) -> Any:
    client = s3_client(s3d)
    client.create_bucket(Bucket="auth-bkt")
    client.put_object(Bucket="auth-bkt", Key="obj", Body=b"secret stuff")
    return client


def error_code(body: bytes) -> str:
    return ElementTree.fromstring(body).findtext("Code") or ""


def buckets(s3: Any) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_wrong_secret_is_refused_by_ec2d(s3d: RunningEc2d, s3: Any) -> None:
    creds = s3d.credentials
    bad = boto3.client("s3", region_name="us-east-1", endpoint_url=s3d.config.endpoint_url,
                       aws_access_key_id=creds["aws_access_key_id"], aws_secret_access_key="x" * 40,
                       config=BotoConfig(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        bad.create_bucket(Bucket="never-made")
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "never-made" not in buckets(s3)


def test_unknown_key_is_invalid_access_key_id(s3d: RunningEc2d, s3: Any) -> None:
    bad = boto3.client("s3", region_name="us-east-1", endpoint_url=s3d.config.endpoint_url,
                       aws_access_key_id="AKIAEXAMPLEEXAMPLE00", aws_secret_access_key="y" * 40,
                       config=BotoConfig(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        bad.get_object(Bucket="auth-bkt", Key="obj")
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_unsigned_request_is_access_denied(s3d: RunningEc2d, s3: Any) -> None:
    status, _, body = raw(s3d, "GET", "/auth-bkt/obj")
    assert (status, error_code(body)) == (403, "AccessDenied")
    status, _, body = raw(s3d, "PUT", "/anon-bucket")
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert "anon-bucket" not in buckets(s3)


def test_tampered_request_never_reaches_the_engine(s3d: RunningEc2d, s3: Any) -> None:
    request = AWSRequest(method="PUT", url=f"{s3d.config.endpoint_url}/tampered-a")
    S3SigV4Auth(credentials(s3d), "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    status, _, body = raw(s3d, "PUT", "/tampered-b", headers=headers)  # signed for another bucket
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    assert "tampered-b" not in buckets(s3) and "tampered-a" not in buckets(s3)


def test_payload_hash_mismatch_stores_nothing(s3d: RunningEc2d, s3: Any) -> None:
    status, _, body = raw(s3d, "PUT", "/auth-bkt/hashed", body=b"the real body", sign=credentials(s3d))
    assert status == 200, body
    request = AWSRequest(method="PUT", url=f"{s3d.config.endpoint_url}/auth-bkt/forged", data=b"signed body")
    S3SigV4Auth(credentials(s3d), "s3", "us-east-1").add_auth(request)
    status, _, body = raw(s3d, "PUT", "/auth-bkt/forged", body=b"other body!", headers=dict(request.headers.items()))
    assert (status, error_code(body)) == (400, "XAmzContentSHA256Mismatch")
    with pytest.raises(ClientError):
        s3.head_object(Bucket="auth-bkt", Key="forged")


def test_expired_presigned_urls_are_refused(s3d: RunningEc2d, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
    request = AWSRequest(method="GET", url=f"{s3d.config.endpoint_url}/auth-bkt/obj")
    S3SigV4QueryAuth(credentials(s3d), "s3", "us-east-1", expires=60).add_auth(request)
    monkeypatch.undo()
    status, _, body = raw(s3d, "GET", request.url.split(s3d.config.endpoint_url, 1)[1])
    assert (status, error_code(body)) == (403, "AccessDenied") and b"expired" in body

    v2 = AWSRequest(method="GET", url=f"{s3d.config.endpoint_url}/auth-bkt/obj")
    HmacV1QueryAuth(credentials(s3d), expires=-5).add_auth(v2)
    status, _, body = raw(s3d, "GET", v2.url.split(s3d.config.endpoint_url, 1)[1])
    assert (status, error_code(body)) == (403, "AccessDenied") and b"expired" in body

    fresh = AWSRequest(method="GET", url=f"{s3d.config.endpoint_url}/auth-bkt/obj")
    S3SigV4QueryAuth(credentials(s3d), "s3", "us-east-1", expires=60).add_auth(fresh)
    status, _, body = raw(s3d, "GET", fresh.url.split(s3d.config.endpoint_url, 1)[1])
    assert (status, body) == (200, b"secret stuff")


@pytest.mark.parametrize("host", ["auth-bkt.s3.amazonaws.com", "auth-bkt.s3.us-east-1.amazonaws.com",
                                  "auth-bkt.localhost"])
def test_virtual_hosted_style(s3d: RunningEc2d, s3: Any, host: str) -> None:
    status, _, body = raw(s3d, "GET", "/obj", host=f"{host}:{s3d.config.port}", sign=credentials(s3d))
    assert (status, body) == (200, b"secret stuff")
    status, _, body = raw(s3d, "GET", "/?list-type=2", host=host, sign=credentials(s3d))
    assert status == 200 and b"<Key>obj</Key>" in body


class _SignedChunks(S3SigV4Auth):
    def payload(self, request: Any) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _chunked_body(creds: Credentials, request: AWSRequest, chunks: list[bytes], corrupt: int | None) -> bytes:
    auth = request.headers["Authorization"]
    seed = auth.rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = hmac.new(f"AWS4{creds.secret_key}".encode(), amz_date[:8].encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    out, previous = b"", seed
    for i, chunk in enumerate([*chunks, b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
                             hashlib.sha256(b"").hexdigest(), hashlib.sha256(chunk).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = signature
        if corrupt == i:
            chunk = chunk[:-1] + bytes([chunk[-1] ^ 1])
        out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
    return out


@pytest.mark.parametrize("corrupt", [None, 1])
def test_signed_aws_chunked_upload(s3d: RunningEc2d, s3: Any, corrupt: int | None) -> None:
    chunks = [b"a" * 65536, b"b" * 65536, b"tail"]
    key = f"signed-chunks-{corrupt}"
    request = AWSRequest(method="PUT", url=f"{s3d.config.endpoint_url}/auth-bkt/{key}", headers={
        "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(sum(map(len, chunks)))})
    creds = credentials(s3d)
    _SignedChunks(creds, "s3", "us-east-1").add_auth(request)
    body = _chunked_body(creds, request, chunks, corrupt)
    status, _, answer = raw(s3d, "PUT", f"/auth-bkt/{key}", body=body, headers=dict(request.headers.items()))
    if corrupt is None:
        assert status == 200, answer
        got = s3.get_object(Bucket="auth-bkt", Key=key)
        assert got["Body"].read() == b"".join(chunks) and got.get("ContentEncoding", "") == ""
    else:
        assert (status, error_code(answer)) == (403, "SignatureDoesNotMatch")
        with pytest.raises(ClientError):
            s3.head_object(Bucket="auth-bkt", Key=key)


def test_other_services_keep_their_body_cap(s3d: RunningEc2d) -> None:
    ec2 = s3d.client("ec2")
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["vpc-12345678"], Tags=[{"Key": "k", "Value": "v" * 250}] * 5000)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert s3d.client("sts").get_caller_identity()["Arn"].endswith(":root")
