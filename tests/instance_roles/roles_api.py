"""Instance-role tests without guests: ec2d's API with the fake-driver runtime in this process, on loopback, with an injected store
clock, and the metadata service's tables kept by the fake IMDS as the runtime syncs them (a fake
listener per VPC): what the real daemon hands its IMDS server, with no guest and no host object.
:meth:`RolesApi.imds` serves an instance's current table entry through the real IMDS aiohttp app.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.imds.fake import FakeImds
from orchestrator.imds.model import InstanceMetadata
from orchestrator.imds.server import make_app as imds_app
from orchestrator.runtime.core import Runtime
from orchestrator.services import bootstrap, images

T = TypeVar("T")
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
LIFETIME = 7200  # role credentials' lifetime in these tests (a new set is served once under 3600 s remain)
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


class Clock:
    """The store's clock: time moves only when a test moves it."""

    def __init__(self, start: float | None = None) -> None:
        self.t = float(int(start if start is not None else time.time()))

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _no_listener(runtime: Runtime) -> None:
    runtime.parts.open_listener = lambda netns: None  # type: ignore[assignment,return-value]


class RolesApi(LoopbackApi):
    """The API app and the fake runtime on loopback (``loopback_api``) over a fresh data dir, on an
    injected store clock, with the metadata tables kept by the fake IMDS (no listener)."""

    def __init__(self, data_dir: Path, lifetime: int = 21600) -> None:
        config = Config(data_dir=data_dir, instances=False, regions={"us-east-1": ["a", "b"]})
        config.role_credential_seconds = lifetime
        backend = bootstrap.open(config)
        ensure_image("ec2d-tiny", config.cache_dir)
        images.sync_published(backend)
        self.clock = Clock()
        backend.store.clock = self.clock
        super().__init__(backend, runtime=True, prepare=_no_listener)

    def stop(self) -> None:
        super().stop()
        self.backend.close()

    def settle(self) -> None:
        """Wait for the runtime's background work (association moves, metadata syncs)."""
        assert self.runtime is not None
        asyncio.run_coroutine_threadsafe(self.runtime.settle(30), self.loop).result(60)

    def metadata(self, instance_id: str) -> InstanceMetadata | None:
        """What the metadata service's table holds for the instance now (None: not in it)."""
        assert self.runtime is not None
        imds = self.runtime.parts.imds
        assert isinstance(imds, FakeImds)
        record = self.backend.store.get(instance_id)
        assert record is not None
        return imds.tables.get(record.data["VpcId"], {}).get(record.data["PrivateIpAddress"])

    def imds_get(self, instance_id: str, *paths: str, v2: bool = True) -> list[tuple[int, str]]:
        """GET each metadata path (relative to /latest/) through the IMDS app, as the instance."""
        async def go() -> list[tuple[int, str]]:
            async with imds(lambda: self.metadata(instance_id)) as client:
                headers = {}
                if v2:
                    put = await client.put("/latest/api/token",
                                           headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
                    assert put.status == 200
                    headers["X-aws-ec2-metadata-token"] = await put.text()
                out = []
                for path in paths:
                    resp = await client.get("/latest/" + path, headers=headers)
                    out.append((resp.status, await resp.text()))
                return out

        return asyncio.run(go())

    def role_document(self, instance_id: str, role: str) -> dict[str, Any]:
        [(status, body)] = self.imds_get(instance_id, f"meta-data/iam/security-credentials/{role}")
        assert status == 200, body
        return json.loads(body)


@asynccontextmanager
async def imds(current: Callable[[], InstanceMetadata | None]) -> AsyncIterator[TestClient]:
    """The IMDS aiohttp app answering every requester as ``current()`` (read per request)."""
    client = TestClient(TestServer(imds_app(lambda _request: current())))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def refused(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    """(error code, message) of a call that must fail."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def until(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"still waiting after {timeout:.0f}s for {what}"
        time.sleep(0.01)
    return value


def keys(doc: dict[str, Any]) -> dict[str, str]:
    """boto3 credentials from an IMDS role document."""
    return {"aws_access_key_id": doc["AccessKeyId"], "aws_secret_access_key": doc["SecretAccessKey"],
            "aws_session_token": doc["Token"]}


def make_profile(iam: Any, name: str, trust: dict[str, Any] = EC2_TRUST, role: str | None = None,
                 policy_arn: str | None = "arn:aws:iam::aws:policy/AmazonS3FullAccess") -> dict[str, Any]:
    """An instance profile ``name`` holding a new role (``role`` or ``name``-role); the profile."""
    role = role or f"{name}-role"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    if policy_arn:
        iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    return dict(profile)


def launch(api: RolesApi, ec2: Any, image: str, **extra: Any) -> dict[str, Any]:
    """One t3.micro instance, running (the fake hypervisor boots it), as RunInstances answered."""
    out = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", **extra)
    instance = out["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]],
                                            WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    api.settle()
    return dict(instance)


# -- fixtures (imported by the test modules: a conftest.py here would shadow other directories'
# ``from conftest import ...`` when several test directories are named on one command line)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolesApi]:
    server = RolesApi(tmp_path_factory.mktemp("roles"), lifetime=LIFETIME).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ec2(api: RolesApi) -> Any:
    return api.client("ec2")


@pytest.fixture(scope="module")
def iam(api: RolesApi) -> Any:
    return api.client("iam")


@pytest.fixture(scope="module")
def image(api: RolesApi, ec2: Any) -> str:
    found = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])["Images"]
    return str(found[0]["ImageId"])
