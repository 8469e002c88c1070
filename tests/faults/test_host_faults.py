"""Host faults under a real ``ec2d serve`` with a real guest.

* The guest's qemu process is killed: the instance ends ``stopped`` with a ``Server.InternalError``
  reason (as EC2 reports host failures), and data written before is there after StartInstances.
* libvirtd is killed and restarted while the instance runs: during the outage requests that need
  the hypervisor get ``ServiceUnavailable`` (503, retryable) at once, never a hang; ec2d
  reconnects by itself, the instance stays ``running`` and reachable, and libvirt's events reach
  ec2d again. libvirtd is down for seconds only and always started again (other test runs share
  it); this test runs last in the module.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon import Daemon, until  # noqa: E402
from guests import ssh  # noqa: E402

pytestmark = pytest.mark.host_exclusive  # kills the host's libvirtd: nothing else may run meanwhile

LIBVIRTD_PID = Path("/run/libvirtd.pid")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    d = Daemon(tmp_path_factory.mktemp("faults") / "data").start()
    try:
        ami, key_name, key = d.prepare()
        inst = d.client().run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                        KeyName=key_name)["Instances"][0]
        yield {"d": d, "key": key, "id": inst["InstanceId"]}
    except BaseException:
        print(d.tail())
        raise
    finally:
        if d.proc is not None:
            d.stop()
        d.sweep()


def describe(d: Daemon, iid: str) -> dict:
    return d.client().describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def wait_state(d: Daemon, iid: str, state: str) -> dict:
    return until(f"{iid} {state}", lambda: (i := describe(d, iid))["State"]["Name"] == state and i, 600)


def qemu_pid(d: Daemon, iid: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{d.prefix}-{iid}.pid").read_text().strip())


def test_killed_qemu_stops_the_instance_with_a_reason_and_keeps_its_data(world: dict) -> None:
    d, key, iid = world["d"], world["key"], world["id"]
    inst = wait_state(d, iid, "running")
    token = secrets.token_hex(8)
    guest = ssh(d.netns(inst), inst["PrivateIpAddress"], key, timeout=300)
    guest.run(f"echo {token} > /home/ec2-user/kept && sync")
    guest.close()

    os.kill(qemu_pid(d, iid), signal.SIGKILL)
    stopped = wait_state(d, iid, "stopped")
    assert stopped["StateReason"]["Code"] == "Server.InternalError", stopped["StateReason"]
    assert "stopped unexpectedly" in stopped["StateReason"]["Message"]
    assert d.domains() == []  # nothing left running or defined for it

    d.client().start_instances(InstanceIds=[iid])
    inst = wait_state(d, iid, "running")
    guest = ssh(d.netns(inst), inst["PrivateIpAddress"], key, timeout=300)
    try:
        assert guest.run("cat /home/ec2-user/kept").strip() == token
    finally:
        guest.close()


def libvirtd_up() -> bool:
    return subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True,
                          timeout=30).returncode == 0


def test_libvirtd_restart_is_survived(world: dict) -> None:
    d, key, iid = world["d"], world["key"], world["id"]
    inst = wait_state(d, iid, "running")
    ec2 = d.client()
    pid = int(LIBVIRTD_PID.read_text().strip())
    os.kill(pid, signal.SIGKILL)
    try:
        until("libvirtd gone", lambda: not Path(f"/proc/{pid}").exists(), 30, every=0.05)
        # the outage: a request that needs libvirt is refused at once, retryably
        def refused() -> bool:
            t = time.monotonic()
            try:
                ec2.start_instances(InstanceIds=[iid])  # a no-op on a running instance when libvirt is up
                return False
            except ClientError as exc:
                took = time.monotonic() - t
                assert exc.response["Error"]["Code"] == "ServiceUnavailable", exc.response
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                assert took < 30, f"the refusal took {took:.1f}s"  # a hang would take read_timeout
                return True
        until("ServiceUnavailable during the outage", refused, 30, every=0.1)
        assert describe(d, iid)["State"]["Name"] == "running"  # what needs no libvirt still answers
    finally:
        if not libvirtd_up():
            subprocess.run(["libvirtd", "-d"], check=True, timeout=60)
        until("libvirtd back", libvirtd_up, 60)

    # ec2d reconnects by itself: requests work again, the instance stayed running and reachable
    def accepted() -> bool:
        try:
            ec2.start_instances(InstanceIds=[iid])
            return True
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ServiceUnavailable", exc.response
            return False
    until("requests accepted again", accepted, 120, every=0.5)
    assert describe(d, iid)["State"]["Name"] == "running"
    guest = ssh(d.netns(inst), inst["PrivateIpAddress"], key, timeout=300)
    guest.close()
    assert "libvirt event connection re-established" in d.log.read_text()

    # the lifecycle events are registered again: a guest killed now is noticed by its event
    # (libvirt's detail, e.g. "failed"), not only by the periodic re-check ("missing")
    os.kill(qemu_pid(d, iid), signal.SIGKILL)
    stopped = wait_state(d, iid, "stopped")
    assert stopped["StateReason"]["Code"] == "Server.InternalError"
    assert "(missing)" not in stopped["StateReason"]["Message"], stopped["StateReason"]
