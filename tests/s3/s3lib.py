"""Helpers for the S3 tests: an API-only ec2d with its S3 engine, boto3 clients, raw signed requests."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from ec2d_server import RunningEc2d, start_ec2d


def start_with_s3(data_dir: Path) -> RunningEc2d:
    """An API-only ec2d (no guests, no host objects) serving S3 from its own engine."""
    return start_ec2d(data_dir, instances=False, build_images=False, s3=True)


def s3_client(server: RunningEc2d, **config: Any) -> Any:
    creds = server.credentials
    return boto3.client("s3", region_name="us-east-1", endpoint_url=server.config.endpoint_url,
                        config=BotoConfig(retries={"max_attempts": 1}, **config), **creds)


def credentials(server: RunningEc2d) -> Credentials:
    c = server.credentials
    return Credentials(c["aws_access_key_id"], c["aws_secret_access_key"])


def raw(server: RunningEc2d, method: str, path: str, host: str | None = None, body: bytes = b"",
        headers: dict[str, str] | None = None, sign: Credentials | None = None,
        signer: type[S3SigV4Auth] = S3SigV4Auth) -> tuple[int, dict[str, str], bytes]:
    """Send one request to ec2d over plain HTTP (Host header as given), SigV4-signed for S3 by
    botocore's own signer when ``sign`` is given."""
    url = server.config.endpoint_url + path
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if host is not None:
        request.headers["Host"] = host
    if sign is not None:
        signer(sign, "s3", "us-east-1").add_auth(request)
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.items():
            conn.putheader(name, value)
        if "Host" not in request.headers:
            conn.putheader("Host", split.netloc)
        if body and "Content-Length" not in request.headers:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.02)
    return value


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def engine_pid(data_dir: Path) -> int:
    import json

    return int(json.loads((data_dir / "s3" / "weed.pid").read_text())["pid"])


def weed_processes_for(data_dir: Path) -> list[int]:
    """Every live weed process whose command line names this data dir."""
    found = []
    needle = f"-dir={data_dir / 's3' / 'data'}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if needle in argv and pid_alive(int(entry)):
                found.append(int(entry))
    return found
