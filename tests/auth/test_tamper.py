"""SigV4 tampering against the real HTTP server: every single-byte change of a signed request is
rejected, and presigned URLs replayed past their expiry are refused.

A sample of what ``bench/sigv4_tamper.py`` runs on 1,000 requests (see tests/auth/tamper.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tamper
from botocore.credentials import Credentials
from ec2d_server import RunningEc2d, start_ec2d

SEED = 20261130
REQUESTS = 8  # each yields several hundred tampered requests


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(Path(tmp_path_factory.mktemp("tamper-data")), instances=False, build_images=False)
    yield server
    server.stop()


def creds(server: RunningEc2d) -> Credentials:
    c = server.credentials
    return Credentials(c["aws_access_key_id"], c["aws_secret_access_key"])


def test_every_single_byte_change_is_rejected(api_only: RunningEc2d) -> None:
    rng = random.Random(SEED)
    host, port = api_only.config.host, api_only.config.port
    tally = tamper.Tally()
    with ThreadPoolExecutor(4) as pool:
        for n in range(REQUESTS):
            signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), rng, presigned=n % 2 == 0)
            status, body = tamper.send_raw(host, port, signed.raw)
            assert status == 200, body  # the untouched request is accepted
            tally.requests += 1
            tamper.tamper_all(host, port, signed, rng, tally, pool)
    assert set(tally.by_part) == set(tamper.PARTS)  # every part of a request was tampered with
    assert tally.mutated > REQUESTS * 200
    assert tally.accepted == []
    assert tally.server_errors == []
    assert tally.outcomes["SignatureDoesNotMatch"] > tally.mutated // 4  # mostly refused by the signature


def test_signed_header_names_must_be_lower_case(api_only: RunningEc2d) -> None:
    """Found by the tamper run: ``SignedHeaders=content-tyPe;...`` was accepted (names were lowered)."""
    signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), random.Random(1), presigned=False)
    raw = signed.raw.replace(b"SignedHeaders=content-type", b"SignedHeaders=Content-type")
    status, body = tamper.send_raw(api_only.config.host, api_only.config.port, raw)
    assert status == 400 and b"<Code>IncompleteSignature</Code>" in body


def test_non_utf8_header_bytes_are_a_signature_mismatch_not_a_500(api_only: RunningEc2d) -> None:
    signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), random.Random(2), presigned=False)
    for raw in (signed.raw.replace(b"Host: 127", b"Host: \xf827", 1),
                signed.raw.replace(b"/us-east-1/", b"/us-\x85ast-1/", 1)):
        status, body = tamper.send_raw(api_only.config.host, api_only.config.port, raw)
        assert status in (400, 403) and re_code(body) in tamper.AUTH_CODES, body


def re_code(body: bytes) -> str:
    m = tamper.CODE_RE.search(body)
    return m.group(1).decode() if m else ""


@pytest.mark.parametrize("expires,age,expected", [
    (1, timedelta(seconds=10), "RequestExpired"),
    (300, timedelta(minutes=6), "RequestExpired"),
    (60, timedelta(hours=2), "RequestExpired"),
    (300, -timedelta(minutes=20), "RequestExpired"),  # signed in the future beyond the clock skew
    (300, timedelta(minutes=1), None),  # still valid: replays are answered
])
def test_presigned_urls_replayed_past_expiry_are_rejected(api_only: RunningEc2d, expires: int, age: timedelta,
                                                          expected: str | None) -> None:
    signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), random.Random(3), presigned=True,
                         expires=expires, signed_at=datetime.now(UTC) - age)
    for _ in range(3):  # replayed
        status, body = tamper.send_raw(api_only.config.host, api_only.config.port, signed.raw)
        if expected is None:
            assert status == 200, body
        else:
            assert (status, re_code(body)) == (400, expected), body


def test_header_signed_request_older_than_the_skew_is_rejected(api_only: RunningEc2d) -> None:
    signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), random.Random(4), presigned=False,
                         signed_at=datetime.now(UTC) - timedelta(minutes=16))
    status, body = tamper.send_raw(api_only.config.host, api_only.config.port, signed.raw)
    assert (status, re_code(body)) == (400, "RequestExpired")


def test_empty_authorization_components_are_rejected(api_only: RunningEc2d) -> None:
    """Found by the 1,000-request bench: ``aws4_request,,SignedHeaders=`` (a blank turned into a comma)
    was accepted because empty components were skipped."""
    signed = tamper.sign(api_only.config.endpoint_url, creds(api_only), random.Random(5), presigned=False)
    for raw in (signed.raw.replace(b"aws4_request, SignedHeaders", b"aws4_request,,SignedHeaders"),
                signed.raw.replace(b"x-amz-date, Signature", b"x-amz-date,,Signature")):
        assert raw != signed.raw
        status, body = tamper.send_raw(api_only.config.host, api_only.config.port, raw)
        assert (status, re_code(body)) == (400, "IncompleteSignature"), body
