"""A request that moves an instance on while its background job is mid-way: the job's closing
compare-and-swap loses, and that is not an error. Terminate while a stop is powering the domain off
ends ``terminated`` with nothing logged as a failure (the fuzz found this as a traceback)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_only import in_loop, opened_backend, reaches

from orchestrator.domain.states import Request
from orchestrator.runtime.core import Runtime
from orchestrator.services import images, instances, vpcs
from orchestrator.services.backend import Backend

R = "us-east-1"


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    with opened_backend(tmp_path, image=True) as b:
        yield b


def test_terminate_while_stopping_ends_terminated_without_an_error(backend: Backend,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ec2d.runtime")
    in_loop(backend, lambda runtime: terminate_while_stopping(backend, runtime))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("left to the next operation" in r.getMessage() for r in caplog.records)  # the race happened


async def terminate_while_stopping(backend: Backend, runtime: Runtime) -> None:
    default = vpcs.default_vpc(backend, R)
    assert default is not None
    image = images.visible(backend, R, backend.account_id)[0]
    out = instances.run(backend, R, {"ImageId": image.id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                     "SubnetId": vpcs.subnets(backend, R, default.id)[0].id})
    iid = str(out["Instances"][0]["InstanceId"])
    await reaches(backend, iid, "running")

    compute: Any = runtime.compute
    powering_off, release = threading.Event(), threading.Event()
    real_power_off = compute.power_off

    def held_power_off(*args: Any) -> bool:
        powering_off.set()
        release.wait(30)
        return bool(real_power_off(*args))

    compute.power_off = held_power_off
    instances.request(backend, R, [iid], Request.STOP)
    await asyncio.get_running_loop().run_in_executor(None, powering_off.wait, 30)
    changed = instances.request(backend, R, [iid], Request.TERMINATE)
    assert changed[0]["PreviousState"]["Name"] == "stopping"
    assert changed[0]["CurrentState"]["Name"] == "shutting-down"
    release.set()
    await reaches(backend, iid, "terminated")
