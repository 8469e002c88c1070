"""A real ec2d API server on loopback with a fresh data dir, for tests (``from ec2d_server import ...``;
not from ``conftest``, whose name other conftest files on the path shadow)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from orchestrator.config import Config
from orchestrator.server import run


class RunningEc2d:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="ec2d-test-server", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def go() -> None:
            self._stop = asyncio.Event()
            ready = asyncio.Event()
            task = asyncio.create_task(run(self.config, ready=ready, stop=self._stop))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():  # start-up failed: surface the error before start() looks at it
                waiter.cancel()
                task.result()
                raise RuntimeError("ec2d stopped during start-up")
            self._ready.set()
            await task

        try:
            self.loop.run_until_complete(go())
        except BaseException as e:  # surfaced by start()
            self._error = e
            self._ready.set()

    def start(self) -> RunningEc2d:
        self.thread.start()
        # an event, not a budget: start-up may build an image or probe KVM first; the deadline only
        # keeps a wedged start from hanging the run
        if not self._ready.wait(900):
            raise TimeoutError("ec2d did not finish starting within 900 s")
        if self._error:
            raise self._error
        return self

    def stop(self, sweep: bool = True) -> None:
        if self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(60)
        if sweep and self.config.instances:
            from orchestrator.hostscope import sweep as sweep_prefix

            sweep_prefix(self.config.prefix)

    @property
    def credentials(self) -> dict[str, str]:
        from orchestrator.services.credentials import load_or_create

        c = load_or_create(self.config.credentials_path)
        return {"aws_access_key_id": c.access_key_id, "aws_secret_access_key": c.secret_access_key}

    def client(self, service: str = "ec2", region: str = "us-east-1", **kw: object):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.config.endpoint_url,
            config=BotoConfig(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=120),
            **self.credentials,
            **kw,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TEST_PREFIX_FAMILY = "ec2dt"  # every host object a test run makes starts with this (swept by CI)


def make_test_prefix() -> str:
    return f"{TEST_PREFIX_FAMILY}{secrets.token_hex(2)}"


def start_ec2d(data_dir: Path, **overrides: object) -> RunningEc2d:
    config = Config(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}", prefix=make_test_prefix())
    config.s3 = False  # an S3 engine only where a test asks for it (s3=True): tests/s3
    for k, v in overrides.items():
        setattr(config, k, v)
    return RunningEc2d(config).start()


def tiny_image(ec2: Any, timeout: float = 120) -> str:
    """The newest available ec2d-tiny AMI (an ec2d registers the cached images in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [i for i in ec2.describe_images(Owners=["ec2d"], Filters=[
            {"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"] if i["State"] == "available"]
        if found:
            return str(max(found, key=lambda i: i["CreationDate"])["ImageId"])
        assert time.monotonic() < deadline, "no ec2d-tiny AMI registered"
        time.sleep(0.2)
