"""The daemon's metadata service on a thread of its own (``imds/threaded.py``): it answers while the
caller's event loop is blocked, and the tables and tokens the daemon changes from its own thread
never break a request in flight. (The HTTP behaviour itself: test_imds_http.py, on both servers.)"""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
import threading
from dataclasses import replace
from typing import Any

import pytest
from imds_testlib import SERVERS, loopback_server, role_credentials, run, sample

from orchestrator.imds.model import IamRole
from orchestrator.imds.server import IMDSServer
from orchestrator.imds.threaded import SWITCH_INTERVAL, ThreadedIMDSServer

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


def get(url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_answers_while_the_callers_loop_is_blocked() -> None:
    async def body() -> None:
        async with loopback_server({"vpc-a": {"127.0.0.1": sample()}}, kind=ThreadedIMDSServer) as (_, urls):
            got: list[tuple[int, bytes]] = []
            asking = threading.Thread(target=lambda: got.append(get(urls["vpc-a"], "/latest/meta-data/instance-id")))
            asking.start()
            asking.join(10)  # blocks this loop: a server on it could not answer
            assert got == [(200, b"i-0123456789abcdef0")]

    run(body())


def test_tables_and_tokens_change_from_another_thread_while_serving() -> None:
    a, b = sample(), sample("i-0bbbbbbbbbbbbbbbb", "127.0.0.1")
    bigger = replace(a, instance_type="t3.large")

    async def body() -> None:
        async with loopback_server({"vpc-a": {"127.0.0.1": a}}, kind=ThreadedIMDSServer) as (server, urls):
            failures: list[object] = []
            stop = threading.Event()

            def guest() -> None:  # token, then two reads, as fast as it can
                for _ in range(150):
                    status, token = get(urls["vpc-a"], "/latest/api/token", "PUT", {TTL: "60"})
                    h = {TOKEN: token.decode()}
                    answers = [status, get(urls["vpc-a"], "/latest/meta-data/instance-id", headers=h),
                               get(urls["vpc-a"], "/latest/meta-data/instance-type", headers=h)]
                    if answers[:2] != [200, (200, b"i-0123456789abcdef0")] or answers[2] not in (
                            (200, b"t3.micro"), (200, b"t3.large")):
                        failures.append(answers)
                stop.set()

            asking = threading.Thread(target=guest)
            asking.start()
            swaps = 0
            while not stop.is_set():  # the daemon's side: new tables, another VPC's instance comes and goes
                server.set_instances("vpc-a", {"127.0.0.1": bigger if swaps % 2 else a})
                server.set_instances("vpc-b", {"127.0.0.2": b} if swaps % 2 else {})
                swaps += 1
            asking.join(60)
            assert failures == []
            assert swaps > 10
            assert server.lookup("vpc-b", "127.0.0.2") in (b, None)

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_a_slow_credentials_leaf_holds_up_no_other_request(kind: type[IMDSServer]) -> None:
    """Minting a role's credentials writes to the store (an fsync): the leaf is produced off the
    server's loop, so the other guests' requests are answered meanwhile."""
    entered, others_answered = threading.Event(), threading.Event()

    def slow_credentials() -> dict[str, object]:
        entered.set()
        assert others_answered.wait(10), "the server's loop waited for the credentials"
        return role_credentials()

    md = replace(sample(), iam_role=IamRole(name="app-role", credentials=slow_credentials))

    async def body() -> None:
        async with loopback_server({"vpc-a": {"127.0.0.1": md}}, kind=kind) as (_, urls):
            got: list[tuple[int, bytes]] = []
            creds = threading.Thread(target=lambda: got.append(
                get(urls["vpc-a"], "/latest/meta-data/iam/security-credentials/app-role")))
            creds.start()
            assert await asyncio.to_thread(entered.wait, 10)  # its provider runs (and blocks), then:
            status, _ = await asyncio.to_thread(get, urls["vpc-a"], "/latest/meta-data/instance-id")
            others_answered.set()
            await asyncio.to_thread(creds.join, 10)
            assert status == 200
            assert got and got[0][0] == 200 and b"AccessKeyId" in got[0][1]

    run(body())


@pytest.mark.parametrize("kind", SERVERS)
def test_a_credentials_leaf_at_hand_is_answered_on_the_loop(kind: type[IMDSServer], monkeypatch: Any) -> None:
    """When the role's set is at hand (``cached_credentials``), the server answers it on its own
    loop, with no worker thread and no call of the provider; when it is not, the provider is asked
    off the loop."""
    at_hand: list[dict[str, object]] = [role_credentials()]
    provided: list[str] = []

    def provider() -> dict[str, object]:
        provided.append(threading.current_thread().name)
        return {**role_credentials(), "AccessKeyId": "ASIAFROMTHEPROVIDER1"}

    md = replace(sample(), iam_role=IamRole(name="app-role", credentials=provider,
                                            cached_credentials=lambda: at_hand[0] if at_hand else None))
    hops: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counted(func: Any, *args: Any) -> Any:
        hops.append(func)
        return await real_to_thread(func, *args)

    monkeypatch.setattr("orchestrator.imds.server.asyncio.to_thread", counted)

    async def body() -> None:
        async with loopback_server({"vpc-a": {"127.0.0.1": md}}, kind=kind) as (_, urls):
            path = "/latest/meta-data/iam/security-credentials/app-role"
            status, text = await real_to_thread(get, urls["vpc-a"], path)
            assert status == 200 and json.loads(text)["AccessKeyId"] == "ASIAEC2DTESTKEY00001"
            assert (hops, provided) == ([], [])
            at_hand.clear()
            status, text = await real_to_thread(get, urls["vpc-a"], path)
            assert status == 200 and json.loads(text)["AccessKeyId"] == "ASIAFROMTHEPROVIDER1"
            assert len(hops) == 1 and len(provided) == 1

    run(body())


def test_the_gil_switch_interval_is_short_while_serving() -> None:
    before = sys.getswitchinterval()

    async def body() -> None:
        async with ThreadedIMDSServer():
            assert sys.getswitchinterval() == min(before, SWITCH_INTERVAL)
        assert sys.getswitchinterval() == before

    run(body())
