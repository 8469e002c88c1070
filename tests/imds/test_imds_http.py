"""HTTP semantics of the metadata service (imds.md §1, §2) through aiohttp's test client and
IMDSServer on loopback listeners."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from imds_testlib import (
    SERVERS,
    fetch,
    imds_client,
    loopback_listener,
    loopback_server,
    run,
    sample,
    with_role,
)

from orchestrator.imds.model import InstanceMetadata, MetadataOptions
from orchestrator.imds.server import IMDSServer, StaticResolver, current_listener_key
from orchestrator.imds.tokens import TokenStore

TOKEN = "X-aws-ec2-metadata-token"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TTL_RESPONSE = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"


def opts(**kw: object) -> MetadataOptions:
    return MetadataOptions(**kw)  # type: ignore[arg-type]


async def get_token(client: object, ttl: str = "21600") -> str:
    resp = await client.put("/latest/api/token", headers={TTL: ttl})  # type: ignore[attr-defined]
    assert resp.status == 200
    return await resp.text()


# --- token PUT -----------------------------------------------------------------------------


def test_token_put_success() -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            resp = await client.put("/latest/api/token", headers={TTL: "21600"})
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert resp.headers[TTL_RESPONSE] == "21600"
            assert resp.headers["Connection"].lower() == "close"
            token = await resp.text()
            assert token and "\n" not in token and len(token) >= 40
            # usable at once
            resp = await client.get("/latest/meta-data/instance-id", headers={TOKEN: token})
            assert (resp.status, await resp.text()) == (200, "i-0123456789abcdef0")

    run(body())


@pytest.mark.parametrize("ttl", [None, "", "abc", "1.5", "-1", "0", "21601", "99999999999", "+5"])
def test_token_put_bad_ttl_400(ttl: str | None) -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            headers = {} if ttl is None else {TTL: ttl}
            resp = await client.put("/latest/api/token", headers=headers)
            assert resp.status == 400

    run(body())


@pytest.mark.parametrize("ttl", ["1", "21600", " 60 "])
def test_token_put_ttl_bounds_ok(ttl: str) -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            resp = await client.put("/latest/api/token", headers={TTL: ttl})
            assert resp.status == 200
            assert resp.headers[TTL_RESPONSE] == ttl.strip()

    run(body())


def test_token_put_check_order() -> None:
    async def body() -> None:
        # 1. endpoint disabled beats X-Forwarded-For and a bad TTL: 403, empty body
        async with imds_client(sample(options=opts(http_endpoint="disabled"))) as client:
            resp = await client.put("/latest/api/token", headers={"X-Forwarded-For": "1.2.3.4"})
            assert resp.status == 403
            assert await resp.read() == b""
        async with imds_client(sample()) as client:
            # 2. X-Forwarded-For beats a bad TTL
            resp = await client.put("/latest/api/token", headers={"X-Forwarded-For": "10.0.0.9"})
            assert resp.status == 403
            resp = await client.put("/latest/api/token", headers={"X-Forwarded-For": "10.0.0.9", TTL: "60"})
            assert resp.status == 403
            # 3. then the TTL
            resp = await client.put("/latest/api/token", headers={TTL: "0"})
            assert resp.status == 400

    run(body())


def test_token_path_methods() -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            for method in ("GET", "HEAD", "POST", "DELETE"):
                resp = await client.request(method, "/latest/api/token", headers={TTL: "60"})
                assert resp.status == 405, method
                assert resp.headers["Allow"] == "OPTIONS, PUT"
            resp = await client.options("/latest/api/token")
            assert resp.status == 200
            assert resp.headers["Allow"] == "OPTIONS, PUT"
            # a dated token path is forbidden
            resp = await client.put("/2021-03-23/api/token", headers={TTL: "60"})
            assert resp.status == 403

    run(body())


# --- GET/HEAD authorisation table ------------------------------------------------------------


def test_endpoint_disabled_403() -> None:
    async def body() -> None:
        async with imds_client(sample(options=opts(http_endpoint="disabled"))) as client:
            for path in ("/", "/latest/meta-data/instance-id", "/latest/user-data"):
                resp = await client.get(path)
                assert resp.status == 403
                assert await resp.read() == b""

    run(body())


def test_imdsv1_allowed_when_optional() -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            resp = await client.get("/latest/meta-data/instance-id")
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert await resp.text() == "i-0123456789abcdef0"

    run(body())


def test_http_tokens_required_tokenless_401() -> None:
    async def body() -> None:
        async with imds_client(sample(options=opts(http_tokens="required"))) as client:
            resp = await client.get("/latest/meta-data/instance-id")
            assert resp.status == 401
            text = await resp.text()
            assert "<title>401 - Unauthorized</title>" in text
            assert text.startswith("<?xml")
            token = await get_token(client)
            resp = await client.get("/latest/meta-data/instance-id", headers={TOKEN: token})
            assert resp.status == 200

    run(body())


def test_invalid_token_401_even_when_optional() -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            for bad in ("nope", ""):
                resp = await client.get("/latest/meta-data/instance-id", headers={TOKEN: bad})
                assert resp.status == 401

    run(body())


def test_expired_token_401() -> None:
    now = [1000.0]
    tokens = TokenStore(clock=lambda: now[0])

    async def body() -> None:
        async with imds_client(sample(), tokens=tokens) as client:
            token = await get_token(client, "10")
            now[0] += 9.5
            resp = await client.get("/latest/meta-data/instance-id", headers={TOKEN: token})
            assert resp.status == 200
            now[0] += 0.5
            resp = await client.get("/latest/meta-data/instance-id", headers={TOKEN: token})
            assert resp.status == 401
            assert len(tokens) == 0  # dropped when presented expired

    run(body())


def test_head_and_other_methods() -> None:
    async def body() -> None:
        async with imds_client(sample()) as client:
            resp = await client.head("/latest/meta-data/instance-id")
            assert resp.status == 200
            assert resp.headers["Content-Length"] == str(len("i-0123456789abcdef0"))
            assert await resp.read() == b""
            resp = await client.head("/latest/meta-data/nope")
            assert resp.status == 404
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                resp = await client.request(method, "/latest/meta-data/instance-id")
                assert resp.status == 405, method
                assert resp.headers["Allow"] == "GET, HEAD"

    run(body())


def test_paths_content_types_and_404() -> None:
    async def body() -> None:
        md = sample(user_data=b"#cloud-config\n\xffraw")
        async with imds_client(md) as client:
            resp = await client.get("/")
            assert (await resp.text()).split("\n")[-1] == "latest"
            resp = await client.get("/latest/user-data")
            assert resp.headers["Content-Type"] == "application/octet-stream"
            assert await resp.read() == b"#cloud-config\n\xffraw"
            resp = await client.get("/latest/meta-data/placement/availability-zone/")
            assert await resp.text() == "us-east-1a"
            resp = await client.get("/latest/dynamic/instance-identity")
            assert await resp.text() == "document"
            resp = await client.get("/latest/meta-data/does-not-exist")
            assert resp.status == 404
            assert "404 - Not Found" in await resp.text()
            resp = await client.get("/latest/meta-data/instance-id?x=1")
            assert resp.status == 200
            assert resp.headers["Server"] == "EC2ws"
        async with imds_client(sample()) as client:
            resp = await client.get("/latest/user-data")
            assert resp.status == 404

    run(body())


def test_tags_served_only_when_enabled() -> None:
    async def body() -> None:
        md = sample(tags={"Name": "web-1"})
        async with imds_client(md) as client:
            assert (await client.get("/latest/meta-data/tags/instance/Name")).status == 404
        enabled = replace(md, options=opts(instance_metadata_tags="enabled"))
        async with imds_client(enabled) as client:
            resp = await client.get("/latest/meta-data/tags/instance/Name")
            assert (resp.status, await resp.text()) == (200, "web-1")

    run(body())


def test_cloud_init_style_session() -> None:
    """Token PUT, instance-id under the newest version it knows, user-data, crawl, identity."""

    async def body() -> None:
        md = with_role(sample(user_data=b"#cloud-config\n", public_ip="203.0.113.25"))
        md = replace(md, options=opts(http_tokens="required"))
        async with imds_client(md) as client:
            token = await get_token(client)
            h = {TOKEN: token}
            resp = await client.get("/2021-03-23/meta-data/instance-id", headers=h)
            assert await resp.text() == md.instance_id
            resp = await client.get("/2021-03-23/user-data", headers=h)
            assert await resp.read() == b"#cloud-config\n"

            async def crawl(prefix: str) -> dict[str, str]:
                out: dict[str, str] = {}
                resp = await client.get(prefix, headers=h)
                assert resp.status == 200, prefix
                for entry in (await resp.text()).split("\n"):
                    if entry.endswith("/"):
                        out.update(await crawl(prefix + entry))
                    elif "=" in entry:
                        key = entry.split("=", 1)[0]
                        r = await client.get(f"{prefix}{key}/openssh-key", headers=h)
                        assert r.status == 200
                        out[entry] = await r.text()
                    else:
                        r = await client.get(prefix + entry, headers=h)
                        assert r.status == 200, prefix + entry
                        out[prefix + entry] = await r.text()
                return out

            leaves = await crawl("/2021-03-23/meta-data/")
            assert leaves["/2021-03-23/meta-data/local-ipv4"] == "10.0.1.23"
            resp = await client.get("/2021-03-23/dynamic/instance-identity", headers=h)
            assert await resp.text() == "document"
            resp = await client.get("/2021-03-23/dynamic/instance-identity/document", headers=h)
            assert json.loads(await resp.text())["instanceId"] == md.instance_id

    run(body())


# --- listeners, instances and tokens across instances -------------------------------------------


@pytest.mark.parametrize("kind", SERVERS)
def test_token_of_instance_a_rejected_for_instance_b(kind: type[IMDSServer]) -> None:
    a = sample("i-aaaaaaaaaaaaaaaaa", "127.0.0.1")
    b = sample("i-bbbbbbbbbbbbbbbbb", "127.0.0.1")

    async def body() -> None:
        # Two VPC listeners, the same peer IP on each: the listener key tells them apart.
        async with loopback_server({"vpc-a": {"127.0.0.1": a}, "vpc-b": {"127.0.0.1": b}}, kind=kind) as (
            _server,
            urls,
        ):
            async with aiohttp.ClientSession() as session:
                status, _, token_a = await fetch(
                    session, "PUT", urls["vpc-a"] + "/latest/api/token", headers={TTL: "60"}
                )
                assert status == 200
                h = {TOKEN: token_a.decode()}
                status, _, body_a = await fetch(
                    session, "GET", urls["vpc-a"] + "/latest/meta-data/instance-id", headers=h
                )
                assert (status, body_a) == (200, b"i-aaaaaaaaaaaaaaaaa")
                status, _, _ = await fetch(
                    session, "GET", urls["vpc-b"] + "/latest/meta-data/instance-id", headers=h
                )
                assert status == 401
                status, _, body_b = await fetch(
                    session, "GET", urls["vpc-b"] + "/latest/meta-data/instance-id"
                )
                assert (status, body_b) == (200, b"i-bbbbbbbbbbbbbbbbb")

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_unknown_requester_connection_closed(kind: type[IMDSServer]) -> None:
    async def body() -> None:
        async with loopback_server({"vpc-a": {"10.0.0.9": sample()}}, kind=kind) as (server, urls):
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientError):
                    await fetch(session, "GET", urls["vpc-a"] + "/latest/meta-data/instance-id")
                with pytest.raises(aiohttp.ClientError):
                    await fetch(session, "PUT", urls["vpc-a"] + "/latest/api/token", headers={TTL: "60"})
                # registering the instance makes the same requester known
                server.set_instances("vpc-a", {"127.0.0.1": sample()})
                status, _, text = await fetch(session, "GET", urls["vpc-a"] + "/latest/meta-data/instance-id")
                assert (status, text) == (200, b"i-0123456789abcdef0")

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_set_instances_replaces_and_forgets_tokens(kind: type[IMDSServer]) -> None:
    async def body() -> None:
        md = sample()
        async with loopback_server({"vpc-a": {"127.0.0.1": md}}, kind=kind) as (server, urls):
            async with aiohttp.ClientSession() as session:
                _, _, token = await fetch(
                    session, "PUT", urls["vpc-a"] + "/latest/api/token", headers={TTL: "60"}
                )
                assert len(server.tokens) == 1
                updated = replace(md, instance_type="t3.large")
                server.set_instances("vpc-a", {"127.0.0.1": updated})
                assert len(server.tokens) == 1  # same instance, token kept
                _, _, text = await fetch(
                    session,
                    "GET",
                    urls["vpc-a"] + "/latest/meta-data/instance-type",
                    headers={TOKEN: token.decode()},
                )
                assert text == b"t3.large"
                server.set_instances("vpc-a", {})
                assert len(server.tokens) == 0
                assert server.lookup("vpc-a", "127.0.0.1") is None

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_remove_listener_stops_accepting(kind: type[IMDSServer]) -> None:
    async def body() -> None:
        async with loopback_server({"vpc-a": {"127.0.0.1": sample()}}, kind=kind) as (server, urls):
            assert server.listeners == ["vpc-a"]
            port = int(urls["vpc-a"].rsplit(":", 1)[1])
            with pytest.raises(ValueError):
                await server.add_listener("vpc-a", socket.socket())
            await server.remove_listener("vpc-a")
            assert server.listeners == []
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_custom_resolver_sees_listener_key(kind: type[IMDSServer]) -> None:
    seen: list[str | None] = []
    md = sample()

    def resolver(request: object) -> InstanceMetadata | None:
        seen.append(current_listener_key())
        return md

    async def body() -> None:
        async with kind(resolver) as server:
            socks = {key: loopback_listener() for key in ("k1", "k2")}
            for key, sock in socks.items():
                await server.add_listener(key, sock)
            async with aiohttp.ClientSession() as session:
                for key in ("k2", "k1", "k2"):
                    port = server.listener_address(key)[1]
                    await fetch(session, "GET", f"http://127.0.0.1:{port}/latest/meta-data/")
        assert seen == ["k2", "k1", "k2"]

    run(body())


def test_static_resolver_with_test_server() -> None:
    async def body() -> None:
        resolver = StaticResolver({(None, "127.0.0.1"): sample()})
        async with imds_client(resolver) as client:
            assert (await client.get("/latest/meta-data/instance-id")).status == 200

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_botocore_fetches_role_credentials(monkeypatch: pytest.MonkeyPatch, kind: type[IMDSServer]) -> None:
    """botocore's own IMDS client (v2 token, role listing, credentials) against the server."""
    import imds_testlib
    from botocore.utils import InstanceMetadataFetcher

    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    # botocore treats credentials near or past expiry as stale, so they must expire in the future
    future = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    monkeypatch.setattr(imds_testlib, "EXPIRATION", future)
    md = replace(with_role(sample("i-0ccccccccccccccc0", "127.0.0.1")), options=opts(http_tokens="required"))

    async def body() -> dict[str, object]:
        async with loopback_server({"vpc-a": {"127.0.0.1": md}}, kind=kind) as (_server, urls):
            fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=urls["vpc-a"] + "/")
            return await asyncio.to_thread(fetcher.retrieve_iam_role_credentials)

    creds = run(body())
    assert creds["role_name"] == "app-role"
    assert creds["access_key"] == "ASIAEC2DTESTKEY00001"
    assert creds["secret_key"] == "secret/key+material"
    assert creds["token"] == "session-token"
    assert creds["expiry_time"] == future.strftime("%Y-%m-%dT%H:%M:%SZ")
