"""Single-byte tampering of SigV4-signed requests, sent as raw bytes to a real ec2d.

Shared by ``tests/auth/test_tamper.py`` (a sample) and ``bench/sigv4_tamper.py`` (1,000 requests).

A request is signed with botocore (``SigV4Auth`` for form POSTs, ``SigV4QueryAuth`` for presigned
GETs) and written out as HTTP/1.1 bytes whose parts are labelled: method, path, query, signed
header (names and values), body, date and signature. Each labelled byte is then replaced by
another byte and the request sent on a fresh connection. Nothing may be accepted: the answer must
be an authentication error (``SignatureDoesNotMatch``, ``IncompleteSignature``, ``AuthFailure``,
``RequestExpired``, ``MissingAuthenticationToken``) or an HTTP-level rejection of a request that
is no longer well-formed HTTP (4xx without an EC2 body, or the connection closed), never a 200,
never another EC2 error (which would mean the tampered request got past authentication), never
a 5xx.

Byte changes that leave the request the same request under SigV4's canonical form are not
tampering and are skipped: a header name's letter case, one whitespace character for another in
a header value (values are trimmed and runs of blanks collapsed), and the letter case of a
percent-escape's hex digits in the query.
"""

from __future__ import annotations

import random
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from unittest import mock
from urllib.parse import urlencode

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_CODES = frozenset({"SignatureDoesNotMatch", "IncompleteSignature", "AuthFailure", "RequestExpired",
                        "MissingAuthenticationToken"})
CODE_RE = re.compile(rb"<Code>(.*?)</Code>", re.DOTALL)
PARTS = ("method", "path", "query", "signed-header", "body", "date", "signature")
HEX = b"0123456789abcdefABCDEF"

VALUES = ["web", "db 1", "ünïcødé", "a+b=c&d", "100%", "/slash/", "~tilde.", "日本語", "sp  ace", "*", "?"]
ACTIONS = ["DescribeRegions", "DescribeVpcs", "DescribeTags", "DescribeKeyPairs", "DescribeSecurityGroups",
           "DescribeAvailabilityZones", "DescribeImages"]


@dataclass
class Signed:
    """One signed request as raw bytes, with the spans of each part: (start, end, part)."""

    raw: bytes
    spans: list[tuple[int, int, str]]
    presigned: bool

    def positions(self) -> Iterator[tuple[int, str]]:
        for start, end, part in self.spans:
            for i in range(start, end):
                yield i, part


def params(rng: random.Random) -> list[tuple[str, str]]:
    out = [("Action", rng.choice(ACTIONS)), ("Version", "2016-11-15")]
    if out[0][1] in ("DescribeVpcs", "DescribeTags", "DescribeSecurityGroups", "DescribeImages"):
        for i in range(1, rng.randint(1, 3) + 1):
            names = ["key", "value"] if out[0][1] == "DescribeTags" else ["tag:Name", "tag-key", "tag-value"]
            out.append((f"Filter.{i}.Name", rng.choice(names)))
            out.append((f"Filter.{i}.Value.1", rng.choice(VALUES)))
    return out


def sign(endpoint: str, creds: Credentials, rng: random.Random, *, presigned: bool | None = None,
         region: str = "us-east-1", expires: int = 300, signed_at: datetime | None = None) -> Signed:
    """A signed request (presigned GET or header-signed POST), signed now or at ``signed_at``."""
    if signed_at is not None:
        with mock.patch("botocore.auth.get_current_datetime", lambda: signed_at.replace(tzinfo=None)):
            return sign(endpoint, creds, rng, presigned=presigned, region=region, expires=expires)
    presigned = rng.random() < 0.4 if presigned is None else presigned
    host = endpoint.split("://", 1)[1].rstrip("/")
    query = urlencode(params(rng))
    if presigned:
        request = AWSRequest(method="GET", url=f"{endpoint}/?{query}", headers={"Host": host})
        SigV4QueryAuth(creds, "ec2", region, expires=expires).add_auth(request)
    else:
        request = AWSRequest(method="POST", url=f"{endpoint}/", data=query.encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                      "Host": host})
        SigV4Auth(creds, "ec2", region).add_auth(request)
    prepared = request.prepare()
    return _raw(prepared, presigned)


def _raw(prepared, presigned: bool) -> Signed:
    spans: list[tuple[int, int, str]] = []
    out = bytearray()

    def put(data: bytes, part: str | None = None) -> None:
        if part is not None and data:
            spans.append((len(out), len(out) + len(data), part))
        out.extend(data)

    target = prepared.url.split("://", 1)[1]
    target = target[target.index("/"):]
    path, _, query = target.partition("?")
    put(prepared.method.encode(), "method")
    put(b" ")
    put(path.encode(), "path")
    if query:
        put(b"?")
        for i, pair in enumerate(query.split("&")):
            if i:
                put(b"&", "query")
            name, _, value = pair.partition("=")
            kind = "signature" if name == "X-Amz-Signature" else "date" if name == "X-Amz-Date" else "query"
            put(name.encode(), "query" if kind != "query" else kind)
            put(b"=", "query")
            put(value.encode(), kind)
    put(b" HTTP/1.1\r\n")
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    signed = _signed_header_names(prepared.headers, presigned, query)
    headers = dict(prepared.headers)
    headers.setdefault("Content-Length", str(len(body)))
    for name, value in headers.items():
        lname = name.lower()
        if lname == "authorization":
            put(name.encode())
            put(b": ")
            head, _, sig = value.rpartition("Signature=")
            put(head.encode(), "signature")  # credential scope and SignedHeaders: part of the signature
            put(b"Signature=")
            put(sig.encode(), "signature")
        else:
            part = "date" if lname == "x-amz-date" else "signed-header" if lname in signed else None
            put(name.encode(), "signed-header" if lname in signed else None)
            put(b": ")
            put(value.encode(), part)
        put(b"\r\n")
    put(b"\r\n")
    put(body, "body")
    return Signed(bytes(out), spans, presigned)


def _signed_header_names(headers, presigned: bool, query: str) -> set[str]:
    if presigned:
        m = re.search(r"X-Amz-SignedHeaders=([^&]*)", query)
        return set((m.group(1) if m else "").replace("%3B", ";").split(";"))
    m = re.search(r"SignedHeaders=([^,]*)", headers.get("Authorization", ""))
    return set((m.group(1) if m else "").split(";"))


def equivalent(raw: bytes, i: int, new: int, part: str) -> bool:
    """Whether replacing ``raw[i]`` by ``new`` leaves the same request under SigV4 (see module doc)."""
    old = raw[i]
    if part == "signed-header":
        line_start = raw.rfind(b"\r\n", 0, i) + 2
        colon = raw.find(b":", line_start)
        if i < colon:  # in the header name: only the case of a letter is free
            return bytes([old]).lower() == bytes([new]).lower()
    if part in ("signed-header", "signature") and old in b" \t" and new in b" \t":
        return True
    if part in ("query", "date", "signature") and old in HEX and new in HEX and \
            bytes([old]).lower() == bytes([new]).lower():
        return b"%" in raw[max(0, i - 2):i]  # the hex digits of %XX
    return False


def mutations(signed: Signed, rng: random.Random, per_position: int = 1) -> Iterator[tuple[bytes, str, int]]:
    """Raw requests with one byte replaced, ``per_position`` random replacements per labelled byte."""
    raw = signed.raw
    for i, part in signed.positions():
        tried: set[int] = set()
        while len(tried) < per_position:
            new = rng.randrange(256)
            if new == raw[i] or new in tried:
                continue
            tried.add(new)
            if equivalent(raw, i, new, part):
                continue
            yield raw[:i] + bytes([new]) + raw[i + 1:], part, i


def send_raw(host: str, port: int, data: bytes, timeout: float = 30) -> tuple[int | None, bytes]:
    """Send one request on a fresh connection; (status, body), or (None, b"") if it was closed unanswered."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        response = b""
        while True:
            head_end = response.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", response[:head_end])
                if m and len(response) >= head_end + 4 + int(m.group(1)):
                    break
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            response += chunk
    if not response.startswith(b"HTTP/"):
        return None, b""
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@dataclass
class Tally:
    requests: int = 0
    mutated: int = 0
    by_part: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # auth code / "http 4xx" / "closed" / bad ones
    accepted: list[str] = field(default_factory=list)  # tampered requests that were not rejected
    server_errors: list[str] = field(default_factory=list)
    baseline_failures: list[str] = field(default_factory=list)

    def classify(self, status: int | None, body: bytes, where: str) -> None:
        self.mutated += 1
        if status is None:
            self.outcomes["closed without answer"] += 1
            return
        if status >= 500:
            self.server_errors.append(f"{where}: {status} {body[:200]!r}")
            self.outcomes[f"HTTP {status}"] += 1
            return
        if status < 400:
            self.accepted.append(f"{where}: {status}")
            self.outcomes[f"ACCEPTED {status}"] += 1
            return
        m = CODE_RE.search(body)
        if m is None:
            self.outcomes[f"HTTP {status} (not EC2)"] += 1
            return
        code = m.group(1).decode(errors="replace")
        if code in AUTH_CODES:
            self.outcomes[code] += 1
        else:
            self.accepted.append(f"{where}: {status} {code} (got past authentication)")
            self.outcomes[f"PAST AUTH {code}"] += 1


def tamper_all(host: str, port: int, signed: Signed, rng: random.Random, tally: Tally, pool) -> None:
    """Send every mutation of ``signed`` (through ``pool``, a thread pool) and classify the answers."""
    jobs = [(part, i, raw[max(0, i - 24):i + 24], pool.submit(send_raw, host, port, raw))
            for raw, part, i in mutations(signed, rng)]
    for part, i, context, job in jobs:
        status, body = job.result()
        tally.by_part[part] += 1
        tally.classify(status, body, f"{part}@{i} {context!r}")
