"""S3 bodies stream through ec2d: a refused upload with ``Expect: 100-continue`` is answered before
the body is sent, and a large upload and download do not grow ec2d's memory by their size."""

from __future__ import annotations

import hashlib
import http.client
import resource
import socket
from typing import Any
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from ec2d_server import RunningEc2d
from s3lib import credentials, s3_client

MiB = 1024 * 1024


def _signed_headers(s3d: RunningEc2d, path: str, payload: str, extra: dict[str, str],
                    secret: str | None = None) -> dict[str, str]:
    creds = credentials(s3d)
    if secret is not None:
        creds = type(creds)(creds.access_key, secret)
    request = AWSRequest(method="PUT", url=s3d.config.endpoint_url + path, headers={
        "X-Amz-Content-SHA256": payload, **extra})

    class Fixed(S3SigV4Auth):
        def payload(self, request: Any) -> str:
            return payload

    Fixed(creds, "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_refused_upload_is_answered_before_its_body(s3d: RunningEc2d) -> None:
    s3_client(s3d).create_bucket(Bucket="expect-bkt")
    headers = _signed_headers(s3d, "/expect-bkt/big", "UNSIGNED-PAYLOAD",
                              {"Content-Length": str(512 * MiB), "Expect": "100-continue"}, secret="z" * 40)
    with socket.create_connection(("127.0.0.1", s3d.config.port), timeout=30) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"PUT /expect-bkt/big HTTP/1.1\r\nHost: 127.0.0.1:{s3d.config.port}\r\n{head}\r\n".encode())
        answer = b""
        while b"</Error>" not in answer:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"403" and b"100 Continue" not in answer
    assert ElementTree.fromstring(rest.partition(b"\r\n\r\n")[2]).findtext("Code") == "SignatureDoesNotMatch"


def test_large_bodies_stream_without_buffering(s3d: RunningEc2d) -> None:
    """256 MiB up (UNSIGNED-PAYLOAD, sent from a generator) and down: this process (the client and
    the in-process ec2d) never holds the object; its peak RSS grows by far less than the size."""
    s3 = s3_client(s3d)
    s3.create_bucket(Bucket="stream-bkt")
    size, block = 256 * MiB, bytes(range(256)) * 4096  # 1 MiB pattern
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    headers = _signed_headers(s3d, "/stream-bkt/huge", "UNSIGNED-PAYLOAD", {"Content-Length": str(size)})
    conn = http.client.HTTPConnection("127.0.0.1", s3d.config.port, timeout=120)
    digest = hashlib.sha256()

    def body() -> Any:
        for _ in range(size // len(block)):
            digest.update(block)
            yield block

    conn.request("PUT", "/stream-bkt/huge", body=body(), headers=headers)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    response.read()
    got = s3.get_object(Bucket="stream-bkt", Key="huge")
    assert got["ContentLength"] == size
    down = hashlib.sha256()
    for piece in got["Body"].iter_chunks(MiB):
        down.update(piece)
    assert down.digest() == digest.digest()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert grown < 96 * MiB, f"peak RSS grew by {grown / MiB:.0f} MiB for a {size // MiB} MiB object"
