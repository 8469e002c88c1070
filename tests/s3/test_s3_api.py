"""S3 through ec2d's endpoint, backed by a real SeaweedFS engine: boto3 as the judge.

Every request here goes to ec2d (the same host:port as EC2/STS), which verifies the signature with
ec2d's root key, authorizes it and re-signs it to the engine; the engine's answers come back as is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import urllib.error
import urllib.request
import zlib
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d
from s3lib import s3_client

MiB = 1024 * 1024


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def s3(s3d: RunningEc2d) -> Any:
    return s3_client(s3d)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="ec2d-test")
    return "ec2d-test"


def sent_headers(client: Any, operation: str) -> list[dict[str, str]]:
    """Records the headers of every ``operation`` request the client sends."""
    seen: list[dict[str, str]] = []
    def record(request: Any, **_: Any) -> None:
        seen.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    client.meta.events.register(f"before-send.s3.{operation}", record)
    return seen


def test_bucket_and_object_lifecycle(s3: Any) -> None:
    s3.create_bucket(Bucket="life-cycle")
    assert "life-cycle" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket="life-cycle", Key="dir/a b+c.txt", Body=b"hello", ContentType="text/plain",
                  Metadata={"who": "ec2d"})
    got = s3.get_object(Bucket="life-cycle", Key="dir/a b+c.txt")
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"who": "ec2d"}
    head = s3.head_object(Bucket="life-cycle", Key="dir/a b+c.txt")
    assert head["ContentLength"] == 5
    assert s3.get_object(Bucket="life-cycle", Key="dir/a b+c.txt", Range="bytes=1-3")["Body"].read() == b"ell"
    listed = s3.list_objects_v2(Bucket="life-cycle", Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a b+c.txt"]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="life-cycle")
    assert code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket="life-cycle", Key="dir/a b+c.txt")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="life-cycle", Key="dir/a b+c.txt")
    assert code(exc) == "NoSuchKey"
    s3.delete_bucket(Bucket="life-cycle")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="life-cycle", Key="x", Body=b"x")
    assert code(exc) == "NoSuchBucket"
    assert "life-cycle" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_multipart_upload_of_8_mib(s3: Any, bucket: str) -> None:
    data = os.urandom(8 * MiB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin",
                      Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-2")  # two parts
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()


def test_explicit_multipart_calls_and_abort(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts")["UploadId"]
    part1 = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"a" * (5 * MiB))
    part2 = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=2, Body=b"tail")
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload)["Parts"]] == [1, 2]
    s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part1["ETag"]}, {"PartNumber": 2, "ETag": part2["ETag"]}]})
    assert s3.head_object(Bucket=bucket, Key="parts")["ContentLength"] == 5 * MiB + 4
    dropped = s3.create_multipart_upload(Bucket=bucket, Key="dropped")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="dropped", UploadId=dropped)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dropped")


def test_aws_chunked_upload_with_trailing_checksum(s3d: RunningEc2d, bucket: str) -> None:
    """botocore's HTTPS mode (``aws-chunked``, ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, the CRC32 in a
    trailer), forced over HTTP."""
    client = s3_client(s3d)

    def as_over_https(params: dict[str, Any], **_: Any) -> None:
        params["context"]["checksum"]["request_algorithm"]["in"] = "trailer"

    client.meta.events.register("before-call.s3.PutObject", as_over_https)
    seen = sent_headers(client, "PutObject")
    data = os.urandom(3 * MiB + 17)
    result = client.put_object(Bucket=bucket, Key="chunked", Body=io.BytesIO(data))
    assert seen[-1]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in seen[-1]["content-encoding"] and seen[-1]["x-amz-trailer"] == "x-amz-checksum-crc32"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert result["ChecksumCRC32"] == crc
    got = client.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get("ContentEncoding", "") in ("", None)  # aws-chunked is a transfer detail, not stored


def test_checksum_header_upload_over_http(s3: Any, bucket: str) -> None:
    seen = sent_headers(s3, "PutObject")
    s3.put_object(Bucket=bucket, Key="summed", Body=b"checked body")
    assert "x-amz-checksum-crc32" in seen[-1] and len(seen[-1]["x-amz-content-sha256"]) == 64
    assert s3.get_object(Bucket=bucket, Key="summed")["Body"].read() == b"checked body"
    with pytest.raises(ClientError) as exc:  # a checksum that does not match is refused, nothing stored
        s3.put_object(Bucket=bucket, Key="bad-sum", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-sum")


def test_copy_object_and_delete_objects(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"
    gone = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"}, {"Key": "dst"}]})
    assert sorted(d["Key"] for d in gone["Deleted"]) == ["dst", "src"]


def test_presigned_urls_v4_get_and_put(s3d: RunningEc2d, bucket: str) -> None:
    v4 = s3_client(s3d, signature_version="s3v4")
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url
    request = urllib.request.Request(put_url, data=b"uploaded by URL", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    get_url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    with urllib.request.urlopen(get_url, timeout=30) as response:
        assert response.read() == b"uploaded by URL"


def test_presigned_url_boto3_default_sigv2(s3: Any, bucket: str) -> None:
    """boto3's default for S3 presigned URLs is the older query signature (AWSAccessKeyId/Signature)."""
    s3.put_object(Bucket=bucket, Key="v2", Body=b"old style")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2",
                                                          "ResponseContentType": "text/x-ec2d"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"old style"
        assert response.headers["Content-Type"] == "text/x-ec2d"
    tampered = url.replace("Key=v2", "Key=v3") if "Key=v2" in url else url.replace("/v2?", "/v3?")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(tampered, timeout=30)
    assert exc.value.code == 403 and b"SignatureDoesNotMatch" in exc.value.read()


def test_the_engine_refuses_whoever_bypasses_ec2d(s3d: RunningEc2d, s3: Any, bucket: str) -> None:
    """The engine's ports are on 127.0.0.1, reachable by any local process: its filer and volume
    HTTP APIs want JWTs signed with the keys of its security.toml, its gRPC servers a client
    certificate from its own CA (both fresh at each start, 0600 in the data dir)."""
    import json
    import socket
    import ssl

    s3.put_object(Bucket=bucket, Key="private", Body=b"not for the filer")
    ports = json.loads((s3d.config.data_dir / "s3" / "weed.pid").read_text())["ports"]
    for path in (f"/buckets/{bucket}/private", f"/buckets/{bucket}/", "/buckets/"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{ports['filer']}{path}", timeout=10)
        assert exc.value.code == 401
    assert oct((s3d.config.data_dir / "s3" / "security.toml").stat().st_mode & 0o777) == "0o600"
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['master']}/dir/assign", timeout=10) as response:
        assigned = json.loads(response.read())
    assert "auth" not in assigned  # no write token for an outsider
    upload = urllib.request.Request(f"http://{assigned['url']}/{assigned['fid']}", method="POST",
                                    data=b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
                                         b"x\r\n--b--\r\n",
                                    headers={"Content-Type": "multipart/form-data; boundary=b"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(upload, timeout=10)
    assert exc.value.code == 401
    for name in ("master.port.grpc", "volume.port.grpc", "filer.port.grpc", "s3.port.grpc"):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", ports[name]), timeout=10) as raw_sock:
            with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
                with context.wrap_socket(raw_sock) as tls:
                    tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                    tls.recv(100)
