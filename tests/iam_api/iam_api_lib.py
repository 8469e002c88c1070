"""Helpers for the IAM/STS tests: ec2d's API app served on loopback in this process (API-only: no
runtime, no guest, no host network object) over a backend the tests can reach (its store's clock
is moved to see sessions expire), and small boto3 helpers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from ec2d_server import free_port

from orchestrator.api.app import make_app
from orchestrator.services.backend import Backend


class LocalApi:
    """ec2d's API app on loopback, served from a thread, over a backend the test can reach."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._runner = web.AppRunner(make_app(self.backend))
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def start(self) -> LocalApi:
        self.thread.start()
        assert self._ready.wait(60), "the API did not start"
        return self

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    @property
    def root(self) -> dict[str, str]:
        c = self.backend.credentials
        return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}

    def client(self, service: str, creds: dict[str, str] | None = None, region: str = "us-east-1",
               **config: Any) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            config=BotoConfig(retries={"max_attempts": 1}, **config), **(creds or self.root))


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def keys_of(created: dict[str, Any]) -> dict[str, str]:
    """boto3 credentials from a CreateAccessKey or AssumeRole answer."""
    c = created.get("AccessKey") or created["Credentials"]
    out = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"]}
    if "SessionToken" in c:
        out["aws_session_token"] = c["SessionToken"]
    return out
