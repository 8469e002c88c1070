"""Helpers for tests/enforcement: IAM enforcement through boto3 against ec2d's API app on loopback, on the fake-driver runtime in
this process (instances move pending -> running -> stopped as with real drivers; nothing is made on
the host). Users, roles and policies are made through the IAM API with the root key."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import pytest
from aiohttp import web
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from ec2d_server import free_port

from orchestrator import server
from orchestrator.api.app import make_app
from orchestrator.services.backend import Backend

T = TypeVar("T")
REGIONS = {"us-east-1": ["a", "b"], "us-west-2": ["a"]}


class EnforcedApi:
    """The API app and the fake runtime on a thread's event loop."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Callable[[], Any] | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            runtime = server.fake_runtime(self.backend)
            self.backend.runtime = runtime
            await server.open_runtime(runtime)
            runner = web.AppRunner(make_app(self.backend))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()

            async def stop() -> None:
                await runner.cleanup()
                await runtime.close()

            self._stop = stop
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def start(self) -> EnforcedApi:
        self.thread.start()
        assert self._ready.wait(120), "the API did not start"
        return self

    def stop(self) -> None:
        assert self._stop is not None
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    @property
    def root(self) -> dict[str, str]:
        c = self.backend.credentials
        return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}

    def client(self, service: str, creds: dict[str, str] | None = None, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            config=BotoConfig(retries={"max_attempts": 1}), **(creds or self.root))

    def user(self, name: str, *, managed: tuple[str, ...] = (), inline: dict[str, Any] | None = None) -> dict[str, str]:
        """A new IAM user with these policies; its access key as boto3 credentials."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        for arn in managed:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        if inline is not None:
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
        return keys_of(iam.create_access_key(UserName=name))


def keys_of(created: dict[str, Any]) -> dict[str, str]:
    c = created.get("AccessKey") or created["Credentials"]
    out = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"]}
    if "SessionToken" in c:
        out["aws_session_token"] = c["SessionToken"]
    return out


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def wait_for(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout:.0f}s for {what}")
        time.sleep(0.05)
    return value
