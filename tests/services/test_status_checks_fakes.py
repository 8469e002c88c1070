"""The system status check and simplified automatic recovery on fake drivers (fast, with a clock
the test steps): a boot that prints nothing and a domain left paused are ``impaired``;
AutoRecovery resets the domain (the same one: no stop, no new launch) unless it is disabled, and
ModifyInstanceMaintenanceOptions turning it on recovers an impaired instance at the next pass.
The same on real guests: tests/instances/test_recovery.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from orchestrator.config import Config
from orchestrator.domain import errors
from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.images.cache import ensure_image
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import bootstrap, images, instance_status, instances

DEADLINE = 30.0


class Clock:
    """The real time (launches stamp their boots with it), moved on by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture()
def world(tmp_path: Path):
    config = Config(data_dir=tmp_path, prefix="ec2dtfake", instances=False, regions={"us-east-1": ["a"]},
                    status_check_deadline=DEADLINE, status_check_interval=3600)
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    compute = FakeCompute()
    runtime = Runtime(backend, compute, {"us-east-1": FakeVpcNetwork("ec2dtfake", "us-east-1")}, FakeStorage(),
                      FakeImds(), "qemu", open_listener=lambda ns: object(), publish_images=publisher(backend))
    backend.runtime = runtime
    clock = Clock()
    runtime.status_checks.clock = clock
    yield backend, runtime, compute, clock
    backend.close()


def status(backend, iid: str) -> tuple[str, str, str]:
    [item] = instance_status.statuses(backend, "us-east-1", [iid], False)
    reach = item["SystemStatus"]["Details"][0]
    return item["SystemStatus"]["Status"], reach["Status"], item["InstanceStatus"]["Status"]


async def launch(backend, runtime: Runtime, **req) -> str:
    await runtime.open()
    image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                 if i.data["image_name"] == "ec2d-tiny")
    out = instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": 1, "MaxCount": 1,
                                               "InstanceType": "t3.nano", **req})
    await runtime.settle()
    [inst] = out["Instances"]
    assert backend.store.get(inst["InstanceId"]).state == "running"
    return inst["InstanceId"]


def test_a_boot_that_prints_passes(world) -> None:
    backend, runtime, compute, clock = world

    async def go() -> None:
        iid = await launch(backend, runtime)
        assert status(backend, iid) == ("initializing", "initializing", "initializing")
        await runtime.status_checks.check_all()
        assert status(backend, iid) == ("ok", "passed", "ok")
        await runtime.close()

    asyncio.run(go())


def test_a_silent_boot_is_impaired_and_recovered_by_a_reset(world) -> None:
    backend, runtime, compute, clock = world

    async def go() -> None:
        compute.hang_boots = 1
        iid = await launch(backend, runtime)
        name = runtime.domain_name(iid)
        await runtime.status_checks.check_all()
        assert status(backend, iid)[0] == "initializing"
        clock.advance(DEADLINE)
        await runtime.status_checks.check_all()
        assert status(backend, iid)[0] == "initializing"  # silent, but it has not run: starved, not hung
        compute.cpu[name] = DEADLINE  # a hang that spins: it ran the deadline and printed nothing
        await runtime.status_checks.check_all()
        assert status(backend, iid) == ("impaired", "failed", "insufficient-data")
        [item] = instance_status.statuses(backend, "us-east-1", [iid], False)
        assert clock() - 5 < item["SystemStatus"]["Details"][0]["ImpairedSince"].timestamp() <= clock()
        assert compute.boots.count(name) == 1
        clock.advance(1)
        await runtime.status_checks.check_all()  # AutoRecovery default: reset, a second boot
        assert compute.boots.count(name) == 2
        mine = [c[0] for c in compute.calls if c[1] == name and c[0] in ("spawn", "destroy", "reset")]
        assert mine[mine.index("spawn"):] == ["spawn", "reset"]  # the same domain: no destroy, no new spawn
        assert status(backend, iid)[0] == "initializing"
        await runtime.status_checks.check_all()
        assert status(backend, iid) == ("ok", "passed", "ok")
        assert backend.store.get(iid).state == "running"
        await runtime.close()

    asyncio.run(go())


def test_recovery_disabled_leaves_it_impaired_until_turned_on(world) -> None:
    backend, runtime, compute, clock = world

    async def go() -> None:
        iid = await launch(backend, runtime, MaintenanceOptions={"AutoRecovery": "disabled"})
        [described] = instances.describe_instances(backend, "us-east-1", [iid])
        assert described["MaintenanceOptions"]["AutoRecovery"] == "disabled"
        name = runtime.domain_name(iid)
        await runtime.status_checks.check_all()
        assert status(backend, iid)[0] == "ok"
        compute.pause(name)  # the hypervisor holds the vCPUs (an I/O error, a suspend)
        await runtime.status_checks.check_all()
        assert status(backend, iid)[0] == "ok"  # not yet for the deadline
        clock.advance(DEADLINE)
        await runtime.status_checks.check_all()
        assert status(backend, iid) == ("impaired", "failed", "insufficient-data")
        await runtime.reconcile()  # a paused domain is not a stopped instance
        await runtime.settle()
        assert backend.store.get(iid).state == "running"
        clock.advance(600)
        await runtime.status_checks.check_all()
        assert status(backend, iid)[0] == "impaired" and ("reset", name) not in compute.calls
        out = instance_status.modify_maintenance_options(backend, "us-east-1", {"InstanceId": iid,
                                                                                "AutoRecovery": "default"})
        assert out == {"InstanceId": iid, "AutoRecovery": "default"}
        await runtime.status_checks.check_all()
        assert ("reset", name) in compute.calls and compute.state(name).value == "running"
        await runtime.status_checks.check_all()
        assert status(backend, iid) == ("ok", "passed", "ok")
        await runtime.close()

    asyncio.run(go())


def test_maintenance_options_are_checked(world) -> None:
    backend, runtime, compute, clock = world

    async def go() -> None:
        iid = await launch(backend, runtime)
        with pytest.raises(errors.InvalidParameterValue, match=r"Value \(sometimes\) for parameter AutoRecovery"):
            instance_status.modify_maintenance_options(backend, "us-east-1", {"InstanceId": iid,
                                                                              "AutoRecovery": "sometimes"})
        image = backend.store.get(backend.store.get(iid).data["ImageId"])
        with pytest.raises(errors.InvalidParameterValue):
            instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": 1, "MaxCount": 1,
                                                 "MaintenanceOptions": {"AutoRecovery": "never"}})
        await runtime.close()

    asyncio.run(go())


def test_a_pass_looks_at_all_domains_at_once_and_never_writes_over_a_newer_check(world) -> None:
    """A pass looks at every domain in one worker-thread call; a recovery it decided is not done
    when the instance's check changed between that look and the write (a reboot, a request): the
    newer check stays and the next pass looks again."""
    backend, runtime, compute, clock = world

    async def go() -> None:
        compute.hang_boots = 2
        a = await launch(backend, runtime)
        out = instances.run(backend, "us-east-1", {"ImageId": backend.store.get(a).data["ImageId"], "MinCount": 1,
                                                   "MaxCount": 1, "InstanceType": "t3.nano"})
        await runtime.settle()
        b = out["Instances"][0]["InstanceId"]
        hops: list[list[str]] = []
        observe = runtime.status_checks._observe

        def counted(ids: dict[str, bool]):
            hops.append(sorted(ids))
            return observe(ids)
        runtime.status_checks._observe = counted
        await runtime.status_checks.check_all()
        assert hops == [sorted([a, b])]
        for iid in (a, b):
            compute.cpu[runtime.domain_name(iid)] = DEADLINE
        clock.advance(DEADLINE)
        await runtime.status_checks.check_all()
        assert status(backend, a)[0] == status(backend, b)[0] == "impaired"
        clock.advance(1)

        def meanwhile(ids: dict[str, bool]):  # b's check moves on after the look (say, a reboot began)
            seen = counted(ids)
            r = backend.store.get(b)
            r.data["SystemCheck"] = {**r.data["SystemCheck"], "Status": "initializing", "Reason": None}
            backend.store.update(r)
            return seen
        runtime.status_checks._observe = meanwhile
        await runtime.status_checks.check_all()  # a is reset; b's decision is dropped
        assert ("reset", runtime.domain_name(a)) in compute.calls
        assert ("reset", runtime.domain_name(b)) not in compute.calls
        assert backend.store.get(b).data["SystemCheck"]["Status"] == "initializing"
        assert len(hops) == 3
        await runtime.close()

    asyncio.run(go())
