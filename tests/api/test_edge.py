"""The HTTP edge: bodies are capped (413 in EC2's envelope, never 500), nothing is parsed before the
signature is checked, and malformed SigV4 fields (unicode digits, impossible dates, huge or repeated
values, undecodable bytes) get their SigV4 error, never a traceback. Timing figures: bench/edge.py."""

from __future__ import annotations

import http.client
import logging
import socket
import time
from urllib.parse import quote, urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser

from orchestrator.api import app as api_app
from orchestrator.api.app import MAX_BODY

PARSER = create_parser("ec2")
FORM = "application/x-www-form-urlencoded; charset=utf-8"
MIB = 1024 * 1024


def raw(ec2d, method: str, target: str, headers: list[tuple[str, str | bytes]], body=None,
        chunked: bool = False) -> tuple[int, dict]:
    """One request with exactly these headers (bytes values go on the wire as they are)."""
    url = urlsplit(ec2d.config.endpoint_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k, _ in headers}
        if "host" not in names:
            conn.putheader("Host", url.netloc)
        for k, v in headers:
            conn.putheader(k, v)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for piece in body:
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            if body is not None and "content-length" not in names:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, PARSER.parse({"body": data, "headers": {}, "status_code": resp.status}, None)
    finally:
        conn.close()


def code(parsed: dict) -> str:
    return parsed["Error"]["Code"]


def root(ec2d) -> Credentials:
    c = ec2d.credentials
    return Credentials(c["aws_access_key_id"], c["aws_secret_access_key"])


def signed_post(ec2d, body: bytes, creds: Credentials | None = None) -> tuple[str, list[tuple[str, str]]]:
    """Headers SigV4Auth puts on a POST of ``body`` (botocore's own signer)."""
    request = AWSRequest(method="POST", url=ec2d.config.endpoint_url + "/", data=body,
                         headers={"Content-Type": FORM})
    SigV4Auth(creds or root(ec2d), "ec2", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return "/", [(k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()
                 if k.lower() != "content-length"]


@pytest.fixture()
def body_parses(monkeypatch) -> list[int]:
    """Sizes of the form bodies the server split into parameters (the server runs in this process)."""
    seen: list[int] = []
    real = api_app._parse_form

    async def spy(body: bytes):
        seen.append(len(body))
        return await real(body)

    monkeypatch.setattr(api_app, "_parse_form", spy)
    return seen


# ------------------------------------------------------------------------------------------ body cap


def test_over_the_cap_is_413_in_ec2s_envelope(ec2d, body_parses) -> None:
    big = b"Action=DescribeRegions&Version=2016-11-15&Pad=" + b"x" * (17 * MIB)
    status, parsed = raw(ec2d, "POST", "/", [("Content-Type", FORM)], big)  # unsigned, 17 MiB
    assert (status, code(parsed)) == (413, "RequestEntityTooLarge")
    assert parsed["Error"]["Message"] == f"Request must be smaller than {MAX_BODY} bytes."
    assert parsed["ResponseMetadata"]["RequestId"]
    two = b"Action=DescribeRegions&Version=2016-11-15&Pad=" + b"x" * (2 * MIB)
    target, headers = signed_post(ec2d, two)  # correctly signed, still too big
    status, parsed = raw(ec2d, "POST", target, headers, two)
    assert (status, code(parsed)) == (413, "RequestEntityTooLarge")
    # chunked, so no Content-Length to refuse it by: aiohttp stops reading at the cap
    status, parsed = raw(ec2d, "POST", target, headers, [two[i:i + 65536] for i in range(0, len(two), 65536)],
                         chunked=True)
    assert (status, code(parsed)) == (413, "RequestEntityTooLarge")
    assert body_parses == []
    # the daemon still answers, and a body of exactly the cap is read (then refused for its signature)
    status, parsed = raw(ec2d, "POST", "/", [("Content-Type", FORM)], b"x" * MAX_BODY)
    assert (status, code(parsed)) == (401, "MissingAuthenticationToken")


def test_expect_100_continue_is_refused_before_the_body_is_sent(ec2d) -> None:
    url = urlsplit(ec2d.config.endpoint_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {FORM}\r\n"
                     f"Content-Length: {17 * MIB}\r\nExpect: 100-continue\r\n\r\n".encode())
        resp = http.client.HTTPResponse(sock)
        resp.begin()  # no body sent: the answer comes instead of "100 Continue"
        assert resp.status == 413
        parsed = PARSER.parse({"body": resp.read(), "headers": {}, "status_code": 413}, None)
    assert code(parsed) == "RequestEntityTooLarge"
    small = b"Action=DescribeRegions&Version=2016-11-15"
    target, headers = signed_post(ec2d, small)
    status, _ = raw(ec2d, "POST", target, [*headers, ("Expect", "100-continue")], small)
    assert status == 200  # (http.client sends the body without waiting; the server copes)


def test_a_large_legitimate_body_under_the_cap_works(ec2d, body_parses) -> None:
    # 15,000 instance ids (filters are capped at 200 values, as on EC2): parsed off the loop and
    # answered by the handler itself (these instances do not exist), not refused at the edge.
    ids = [f"i-{n:017x}" for n in range(15000)]
    form = {"Action": "DescribeInstances", "Version": "2016-11-15"}
    form.update({f"InstanceId.{n + 1}": iid for n, iid in enumerate(ids)})
    body = urlencode(form).encode()
    assert 512 * 1024 < len(body) < MAX_BODY
    target, headers = signed_post(ec2d, body)
    status, parsed = raw(ec2d, "POST", target, headers, body)
    assert status == 400 and code(parsed) == "InvalidInstanceID.NotFound", parsed
    assert body_parses == [len(body)]


def test_nothing_is_parsed_before_the_signature_is_checked(ec2d, body_parses) -> None:
    body = (b"Action=DescribeRegions&Version=2016-11-15&" + b"a=b&" * (MAX_BODY // 4))[:MAX_BODY]
    status, parsed = raw(ec2d, "POST", "/", [("Content-Type", FORM)], body)
    assert (status, code(parsed)) == (401, "MissingAuthenticationToken")
    target, headers = signed_post(ec2d, body, Credentials(root(ec2d).access_key, "not-the-secret" * 3))
    status, parsed = raw(ec2d, "POST", target, headers, body)
    assert (status, code(parsed)) == (403, "SignatureDoesNotMatch")
    target, headers = signed_post(ec2d, body, Credentials("AKIANOTAREALKEY00000", "y" * 40))
    status, parsed = raw(ec2d, "POST", target, headers, body)
    assert (status, code(parsed)) == (401, "AuthFailure")
    assert body_parses == []  # three 1 MiB bodies refused, none split into parameters
    small = b"Action=DescribeRegions&Version=2016-11-15"
    target, headers = signed_post(ec2d, small)
    assert raw(ec2d, "POST", target, headers, small)[0] == 200
    assert body_parses == [len(small)]


# ------------------------------------------------------------------------------- SigV4 field checks


def presigned(ec2d) -> list[tuple[str, str]]:
    request = AWSRequest(method="GET", url=ec2d.config.endpoint_url + "/?Action=DescribeRegions&Version=2016-11-15")
    SigV4QueryAuth(root(ec2d), "ec2", "us-east-1", expires=60).add_auth(request)
    query = urlsplit(request.prepare().url).query
    return [tuple(p.split("=", 1)) for p in query.split("&")]  # type: ignore[misc]


def with_fields(pairs: list[tuple[str, str]], changes: dict[str, str | None], extra=()) -> str:
    out = []
    for k, v in pairs:
        if k in changes:
            if changes[k] is None:
                continue
            v = changes[k]
        out.append(f"{k}={v}")
    out += [f"{k}={v}" for k, v in extra]
    return "/?" + "&".join(out)


def credential(pairs, date: str) -> str:
    cred = dict(pairs)["X-Amz-Credential"]
    akid, _, rest = cred.partition("%2F")
    return f"{akid}%2F{date}%2F{rest.partition('%2F')[2]}"


FULLWIDTH_DATE = quote("２０２６１１３０") + "T000000Z"


@pytest.mark.parametrize("name,changes,extra,status,expected", [
    ("expires superscript two", {"X-Amz-Expires": "%C2%B2"}, (), 400, "IncompleteSignature"),
    ("expires arabic-indic three", {"X-Amz-Expires": "%D9%A3"}, (), 400, "IncompleteSignature"),
    ("expires fullwidth 60", {"X-Amz-Expires": quote("６０")}, (), 400, "IncompleteSignature"),
    ("expires 5000 digits", {"X-Amz-Expires": "9" * 5000}, (), 400, "IncompleteSignature"),
    ("expires zero", {"X-Amz-Expires": "0"}, (), 400, "IncompleteSignature"),
    ("expires over 7 days", {"X-Amz-Expires": "604801"}, (), 400, "IncompleteSignature"),
    ("expires signed", {"X-Amz-Expires": "%2B60"}, (), 400, "IncompleteSignature"),
    ("expires empty", {"X-Amz-Expires": ""}, (), 400, "IncompleteSignature"),
    ("expires changed", {"X-Amz-Expires": "120"}, (), 403, "SignatureDoesNotMatch"),
    ("expires repeated", {}, (("X-Amz-Expires", "60"),), 400, "IncompleteSignature"),
    ("date repeated", {}, (("X-Amz-Date", "20261130T000000Z"),), 400, "IncompleteSignature"),
    ("date fullwidth digits", {"X-Amz-Date": FULLWIDTH_DATE}, (), 400, "IncompleteSignature"),
    ("date with newline", {"X-Amz-Date": "{date}%0A"}, (), 403, "SignatureDoesNotMatch"),  # trimmed, not signed
    ("date hour 25", {"X-Amz-Date": "{day}T250000Z"}, (), 400, "IncompleteSignature"),
    ("date year 9999", {"X-Amz-Date": "99991231T235959Z", "X-Amz-Credential": "{cred:99991231}"}, (), 400,
     "RequestExpired"),
    ("date year 0001", {"X-Amz-Date": "00010101T000000Z", "X-Amz-Credential": "{cred:00010101}"}, (), 400,
     "RequestExpired"),
    ("date long ago", {"X-Amz-Date": "20200101T000000Z", "X-Amz-Credential": "{cred:20200101}"}, (), 400,
     "RequestExpired"),
    ("scope date unicode", {"X-Amz-Credential": "{cred:" + quote("２０２６１１３０") + "}"}, (), 400,
     "IncompleteSignature"),
    ("credential short", {"X-Amz-Credential": "AKIA%2F20261130"}, (), 400, "IncompleteSignature"),
    ("algorithm", {"X-Amz-Algorithm": "AWS4-HMAC-SHA512"}, (), 400, "IncompleteSignature"),
    ("signature not hex", {"X-Amz-Signature": "zz"}, (), 403, "SignatureDoesNotMatch"),
    ("signature unicode", {"X-Amz-Signature": "%C2%B2" * 32}, (), 403, "SignatureDoesNotMatch"),
    ("token on a root key", {}, (("X-Amz-Security-Token", "%C2%B2"),), 401, "AuthFailure"),
    ("signed headers without host", {"X-Amz-SignedHeaders": "x-amz-date"}, (), 403, "SignatureDoesNotMatch"),
    ("signed headers empty", {"X-Amz-SignedHeaders": ""}, (), 400, "IncompleteSignature"),
    ("signed headers unsorted", {"X-Amz-SignedHeaders": "host%3Bcontent-type"}, (), 400, "IncompleteSignature"),
])
def test_presigned_fields(ec2d, name, changes, extra, status, expected) -> None:
    pairs = presigned(ec2d)
    date = dict(pairs)["X-Amz-Date"]
    filled = {}
    for k, v in changes.items():
        if v.startswith("{cred:"):
            v = credential(pairs, v[6:-1])
        filled[k] = v.replace("{date}", date).replace("{day}", date[:8])
    got_status, parsed = raw(ec2d, "GET", with_fields(pairs, filled, extra), [])
    assert (got_status, code(parsed)) == (status, expected), parsed["Error"]


def header_auth(ec2d) -> dict[str, str]:
    request = AWSRequest(method="POST", url=ec2d.config.endpoint_url + "/", data=b"Action=DescribeRegions",
                         headers={"Content-Type": FORM})
    SigV4Auth(root(ec2d), "ec2", "us-east-1").add_auth(request)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}


def test_header_fields(ec2d) -> None:
    body = b"Action=DescribeRegions"
    base = header_auth(ec2d)
    akid = root(ec2d).access_key
    date = base["X-Amz-Date"]
    auth = base["Authorization"]
    sig = auth.rsplit("Signature=", 1)[1]

    def send(authorization: str | bytes, amz_date: str | bytes = date, more=()) -> tuple[int, str]:
        status, parsed = raw(ec2d, "POST", "/", [("Content-Type", FORM), ("X-Amz-Date", amz_date),
                                                 ("Authorization", authorization), *more], body)
        return status, parsed.get("Error", {}).get("Code", "")

    def authz(cred: str = f"{akid}/{date[:8]}/us-east-1/ec2/aws4_request", signed: str = "content-type;host;x-amz-date",
              signature: str = sig) -> str:
        return f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature={signature}"

    assert send(auth) == send(authz()) == (200, "")
    assert send(authz() + f", Credential={akid}/{date[:8]}/us-east-1/ec2/aws4_request") == (400, "IncompleteSignature")
    assert send(authz(cred=f"{akid}/99991231/us-east-1/ec2/aws4_request"), "99991231T235959Z") == (400, "RequestExpired")
    assert send(authz(), "２０２６１１３０T000000Z".encode()) == (400, "IncompleteSignature")
    assert send(authz(), date + " x") == (400, "IncompleteSignature")
    # undecodable bytes in the scope's region, in a signed header, in the signature and the token
    assert send(authz(cred=f"{akid}/{date[:8]}/us-east-1\xff/ec2/aws4_request").encode("latin-1")) == \
        (400, "IncompleteSignature")  # a credential scope is ASCII
    assert send(authz(signed="content-type;host;x-amz-date;x-junk"), more=[("X-Junk", b"\xff\xfe")]) == \
        (403, "SignatureDoesNotMatch")
    assert send(authz(signature="\xb2" * 64).encode("latin-1")) == (403, "SignatureDoesNotMatch")
    assert send(authz(), more=[("X-Amz-Security-Token", b"\xff")]) == (401, "AuthFailure")
    assert send(authz(cred=f"ASIA{'A' * 16}/{date[:8]}/us-east-1/ec2/aws4_request"),
                more=[("X-Amz-Security-Token", b"\xed\xa0\x80\xff")]) == (401, "AuthFailure")


def test_server_still_answers(ec2) -> None:
    assert ec2.describe_regions()["Regions"]


def test_malformed_http_is_one_line_not_a_traceback(ec2d, caplog) -> None:
    url = urlsplit(ec2d.config.endpoint_url)
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
            sock.sendall(f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nBad Header\r\n\r\n".encode())
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            assert resp.status == 400
        deadline = time.monotonic() + 30  # the record is written by the server thread
        while not [r for r in caplog.records if r.name == "aiohttp.server"] and time.monotonic() < deadline:
            time.sleep(0.05)
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records, "aiohttp logged nothing for a malformed request"
    assert all(r.exc_info is None and r.levelno <= logging.INFO for r in records), records
    assert "malformed HTTP (400 BadHttpMessage)" in records[0].getMessage()
