"""The study notes' billing paragraph on real guests (libvirt/QEMU), read through Cost Explorer at
each step: launch (instance and root volume accrue from ``running``), stop (the instance stops
accruing by ``stopped``; its volumes keep accruing), start (a new 60-second minimum), terminate
(both stop; a volume with DeleteOnTermination=false keeps accruing), an Elastic IP held while the
instance is stopped keeps accruing; and a ``kill -9`` of ec2d while instances run: the bill covers
the downtime of the one that kept running, the one whose domain stopped meanwhile is closed at
libvirt's stop time, and nothing is billed twice.

Real time here (guests do not run on an injected clock): each check brackets the ledger's times
between wall-clock readings the test takes around the API calls and the states it observes, and
waits on conditions with deadlines, never fixed sleeps. Boots at most 2 guests at once.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, tiny_image
from guests import wait_state

from orchestrator.services.credentials import load_or_create
from orchestrator.store.sqlite import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from daemon import Daemon, until  # noqa: E402

COMPUTE, EBS, VPC = "Amazon Elastic Compute Cloud - Compute", "EC2 - Other", "Amazon Virtual Private Cloud"
SLACK = 1.0  # seconds between a state the test observes and the ledger's time for it


BEGAN = time.time()  # every resource of this module is made after this


def since_began() -> dict[str, str]:
    """Whole UTC days from the one this module began in to the one after now: a run across UTC
    midnight reads its usage of both days."""
    return {"Start": time.strftime("%Y-%m-%d", time.gmtime(BEGAN)),
            "End": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))}


def usage(ce: Any, service: str) -> dict[str, float]:
    """UsageQuantity per resource id of one service since the module began (hours, or GiB-months)."""
    out = ce.get_cost_and_usage_with_resources(
        TimePeriod=since_began(), Granularity="DAILY", Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": [service]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
    total: dict[str, float] = {}
    for r in out["ResultsByTime"]:
        for g in r["Groups"]:
            total[g["Keys"][0]] = total.get(g["Keys"][0], 0.0) + float(g["Metrics"]["UsageQuantity"]["Amount"])
    return total


def intervals(db: Path, rid: str, kind: str) -> list[tuple[float, float | None, float]]:
    store = Store(db)
    try:
        return [(i.start_at, i.end_at, i.minimum) for i in store.usage_intervals(resource_id=rid) if i.kind == kind]
    finally:
        store.close()


def grows(read: Callable[[], float], what: str, timeout: float = 120.0) -> float:
    """Wait until ``read()`` exceeds its first value (time passes, usage accrues)."""
    first = read()
    return float(until(what, lambda: read() > first and read(), timeout, every=1.0))


def gone(call: Callable[..., Any], **args: str) -> None:
    """``call(**args)``, a resource already gone (``*.NotFound``) being as good."""
    try:
        call(**args)
    except ClientError as e:
        if not e.response["Error"]["Code"].endswith("NotFound"):
            raise


def delete_volume(ec2: Any, volume_id: str) -> None:
    def settled() -> bool:
        found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Volumes"]
        return not found or found[0]["State"] not in ("creating", "in-use")

    until(f"{volume_id} to be detached", settled, 120)
    gone(ec2.delete_volume, VolumeId=volume_id)


def remove(ec2: Any, made: dict[str, list[str]]) -> None:
    """Terminate the instances, release the addresses, delete the volumes a test made (those it
    did not remove itself, e.g. after a failure), waiting for each with a deadline."""
    found = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": made["instances"]}])[
        "Reservations"] if made["instances"] else []
    alive = [i["InstanceId"] for r in found for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if alive:
        ec2.terminate_instances(InstanceIds=alive)
        for iid in alive:
            wait_state(ec2, iid, "terminated")
    for alloc in made["addresses"]:
        gone(ec2.release_address, AllocationId=alloc)
    for volume_id in made["volumes"]:
        delete_volume(ec2, volume_id)


@pytest.fixture
def made(ec2d: RunningEc2d) -> Iterator[dict[str, list[str]]]:
    """What the test makes on the shared ec2d, removed afterwards even when the test failed."""
    ids: dict[str, list[str]] = {"instances": [], "addresses": [], "volumes": []}
    yield ids
    remove(ec2d.client(), ids)


def test_study_notes_billing(ec2d: RunningEc2d, made: dict[str, list[str]]) -> None:
    ec2, ce, db = ec2d.client(), ec2d.client("ce"), ec2d.config.db_path
    tiny = tiny_image(ec2)
    called = time.time()
    iid = ec2.run_instances(ImageId=tiny, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf",
                                                  "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}}],
                            )["Instances"][0]["InstanceId"]
    made["instances"].append(iid)
    inst = wait_state(ec2, iid, "running")
    seen_running = time.time()
    vols = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]}
    root, kept = vols[inst["RootDeviceName"]], vols["/dev/sdf"]
    made["volumes"] += [root, kept]
    ((start, end, minimum),) = intervals(db, iid, "instance")
    assert called <= start <= seen_running + SLACK and end is None and minimum == 60.0  # accrues from running
    assert usage(ce, EBS).get(root, 0) > 0 and usage(ce, EBS).get(kept, 0) > 0

    stop_called = time.time()
    ec2.stop_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "stopped")
    seen_stopped = time.time()
    ((_, end, _),) = intervals(db, iid, "instance")
    assert end is not None and stop_called <= end <= seen_stopped + SLACK  # ended by `stopped`
    billed = usage(ce, COMPUTE)[iid]
    assert billed * 3600 == pytest.approx(max(60.0, end - start), abs=1e-3)  # to the second, 60-s minimum
    grows(lambda: usage(ce, EBS)[root], "the stopped instance's root volume to keep accruing")
    assert usage(ce, COMPUTE)[iid] == billed  # and the instance not

    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    made["addresses"].append(alloc)
    ec2.start_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "running")
    ec2.associate_address(AllocationId=alloc, InstanceId=iid)
    ec2.stop_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "stopped")
    runs = intervals(db, iid, "instance")
    assert len(runs) == 2 and runs[1][2] == 60.0  # a new start, a new minimum
    exact = sum(max(m, e - s) for s, e, m in runs if e is not None)
    assert usage(ce, COMPUTE)[iid] * 3600 == pytest.approx(exact, abs=1e-3)
    grows(lambda: usage(ce, VPC)[alloc], "the EIP held by a stopped instance to keep accruing")

    ec2.terminate_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "terminated")
    until("the root volume to be deleted",
          lambda: not ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [root]}])["Volumes"], 120)
    after = usage(ce, EBS)
    grows(lambda: usage(ce, EBS)[kept], "the DeleteOnTermination=false volume to keep accruing")
    assert usage(ce, EBS)[root] == after[root] and usage(ce, COMPUTE)[iid] * 3600 == pytest.approx(exact, abs=1e-3)
    ec2.release_address(AllocationId=alloc)
    ec2.delete_volume(VolumeId=kept)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon of its own (killed and restarted by the test); afterwards, even after a failure,
    its instances are terminated (their volumes deleted) while it still serves, then it stops and
    every host object of its prefix (domains, namespaces, taps, routes, run dir) is swept."""
    d = Daemon(tmp_path / "data")
    try:
        d.start()
        yield d
        if d.proc is not None and d.proc.poll() is None:
            ec2 = d.client()
            remove(ec2, {"instances": [i["InstanceId"] for i in d.instances()], "addresses": [], "volumes": []})
    finally:
        try:
            d.stop()
        finally:
            d.sweep()


def test_kill9_bills_the_downtime_once(daemon: Daemon) -> None:
    ec2 = daemon.client()
    tiny = tiny_image(ec2)
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=tiny, MinCount=2, MaxCount=2,
                                                      InstanceType="t3.micro")["Instances"]]
    for iid in ids:
        wait_state(ec2, iid, "running")
    kept, stopped = ids
    daemon.kill9()
    killed = time.time()
    domain = f"{daemon.prefix}-{stopped}"
    subprocess.run(["virsh", "-c", "qemu:///system", "destroy", domain], check=True, capture_output=True)
    destroyed = time.time()
    until("the downtime to pass a minute", lambda: time.time() > killed + 60, 90, every=1.0)
    daemon.start()
    wait_state(ec2, stopped, "stopped")
    db = daemon.config.db_path
    ((_, end, _),) = intervals(db, stopped, "instance")
    assert end is not None and killed - SLACK <= end <= destroyed + SLACK  # libvirt's stop time
    assert [e for _, e, _ in intervals(db, stopped, "public-ipv4")] == [end]  # its address went with it
    ((start, open_end, _),) = intervals(db, kept, "instance")  # one interval: nothing twice
    assert open_end is None
    keys = load_or_create(daemon.config.credentials_path)
    cost = boto3.client("ce", region_name="us-east-1", endpoint_url=daemon.config.endpoint_url,
                        aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key)
    before = time.time()
    hours = usage(cost, COMPUTE)[kept]
    after = time.time()
    assert start < killed and before > killed + 60  # its one interval spans the whole downtime
    # billed to the second up to the read's "now", so the downtime is (not just the 60-s minimum)
    assert before - start - 1e-3 <= hours * 3600 <= after - start + 1e-3
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated")
