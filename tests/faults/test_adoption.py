"""A restarted ec2d finishes what a crash interrupted (fake drivers, deterministic).

ec2d killed between starting an instance's domain and plugging its NIC leaves a running domain,
a ``pending`` instance and a tap outside its VPC. The next ec2d (a new Runtime over the same
store and host) adopts the domain: the tap ends on its subnet's bridge, the instance ``running``,
without a relaunch. When the adoption cannot be finished (the tap is gone), the instance is
launched again from scratch and still ends ``running``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fake_world import open_backend

from orchestrator.drivers.compute.fake import FakeCompute
from orchestrator.drivers.network.vpc import FakeVpcNetwork
from orchestrator.drivers.storage.fake import FakeStorage
from orchestrator.imds.fake import FakeImds
from orchestrator.runtime.core import Runtime
from orchestrator.server import publisher
from orchestrator.services import images, instances
from orchestrator.services.backend import Backend


class Crash(BaseException):
    """ec2d dies here (a BaseException: no handler in the runtime catches it)."""


@pytest.fixture()
def host(tmp_path: Path):
    """What survives ec2d: the store, the hypervisor, the storage and the host networks."""
    backend = open_backend(tmp_path)
    storage = FakeStorage()
    yield backend, FakeCompute(), storage, FakeVpcNetwork("ec2dtfake", "us-east-1")
    backend.close()


def runtime_on(backend: Backend, compute: FakeCompute, storage: FakeStorage, net: FakeVpcNetwork) -> Runtime:
    rt = Runtime(backend, compute, {"us-east-1": net}, storage, FakeImds(), "qemu", open_listener=lambda ns: object(),
                 publish_images=publisher(backend))
    backend.runtime = rt
    return rt


async def settle(runtime: Runtime) -> None:
    while busy := [t for t in runtime.tasks if t not in runtime.jobs.loops and not t.done()]:
        await asyncio.wait(busy)


def crash_in_plug(net: FakeVpcNetwork) -> threading.Event:
    crashed = threading.Event()

    def die(*args: object) -> None:
        crashed.set()
        raise Crash()
    net.plug_port = die  # type: ignore[method-assign]
    return crashed


async def launch_until_crash(backend: Backend, rt: Runtime, crashed: threading.Event) -> str:
    await rt.open()
    image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                 if i.data["image_name"] == "ec2d-tiny")
    out = instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": 1, "MaxCount": 1,
                                               "InstanceType": "t3.nano"})
    iid = out["Instances"][0]["InstanceId"]
    assert await asyncio.to_thread(crashed.wait, 60)
    die(rt)
    return iid


def die(rt: Runtime) -> None:
    """ec2d is dead: nothing of it runs on, nobody listens to the hypervisor's events."""
    for t in list(rt.tasks):
        t.cancel()
    rt.compute.stop_events()


@pytest.mark.parametrize("tap_survives", [True, False])
def test_restart_finishes_a_launch_killed_before_the_plug(host, tap_survives: bool) -> None:
    backend, compute, storage, net = host
    crashed = crash_in_plug(net)

    async def go() -> None:
        first = runtime_on(backend, compute, storage, net)
        iid = await launch_until_crash(backend, first, crashed)
        rec = backend.store.get(iid)
        name = first.domain_name(iid)
        tap = net.tap_name(rec.data["NetworkInterfaceId"])
        assert rec.state == "pending" and compute.state(name).value == "running"
        assert tap not in net.vpcs[rec.data["VpcId"]].ports  # the crash: the NIC is outside its VPC
        del net.plug_port  # the real method again (the instance attribute shadowed it)
        if not tap_survives:  # adoption cannot finish: the domain lost its NIC
            compute.domains[name].config.interfaces.clear()
            compute.fail_next("attach_interface")
        spawns = sum(1 for c in compute.calls if c == ("spawn", name))

        second = runtime_on(backend, compute, storage, net)  # ec2d restarted
        await second.open()
        await settle(second)
        rec = backend.store.get(iid)
        assert rec.state == "running", rec.data.get("StateReason")
        assert net.vpcs[rec.data["VpcId"]].ports.get(tap) == rec.data["SubnetId"]
        assert compute.state(name).value == "running"
        relaunched = sum(1 for c in compute.calls if c == ("spawn", name)) - spawns
        assert relaunched == (0 if tap_survives else 1)
        assert any(lease.ip == rec.data["PrivateIpAddress"] for lease in net.vpcs[rec.data["VpcId"]].leases)
        await second.close()

    asyncio.run(go())


def test_restart_replugs_a_running_instance(host) -> None:
    """A running instance whose tap left its bridge (e.g. a crash mid hot-plug) is plugged again."""
    backend, compute, storage, net = host

    async def go() -> None:
        first = runtime_on(backend, compute, storage, net)
        await first.open()
        image = next(i for i in images.visible(backend, "us-east-1", backend.account_id)
                     if i.data["image_name"] == "ec2d-tiny")
        iid = instances.run(backend, "us-east-1", {"ImageId": image.id, "MinCount": 1, "MaxCount": 1,
                                                   "InstanceType": "t3.nano"})["Instances"][0]["InstanceId"]
        await settle(first)
        rec = backend.store.get(iid)
        assert rec.state == "running"
        die(first)
        tap = net.tap_name(rec.data["NetworkInterfaceId"])
        net.vpcs[rec.data["VpcId"]].ports.pop(tap)

        second = runtime_on(backend, compute, storage, net)
        await second.open()
        await settle(second)
        assert backend.store.get(iid).state == "running"
        assert net.vpcs[rec.data["VpcId"]].ports.get(tap) == rec.data["SubnetId"]
        await second.close()

    asyncio.run(go())
