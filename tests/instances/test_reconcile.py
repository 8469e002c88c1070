"""ec2d restarts while instances run: they stay running and reachable; a domain nobody owns is
removed; an instance whose domain vanished while ec2d was down ends stopped with a reason."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import libvirt
from ec2d_server import start_ec2d, tiny_image
from guests import instance_netns, private_key, ssh, wait_state

from orchestrator.hostscope import sweep


def domains(prefix: str) -> set[str]:
    conn = libvirt.open("qemu:///system")
    try:
        return {d.name() for d in conn.listAllDomains() if d.name().startswith(prefix + "-")}
    finally:
        conn.close()


def test_restart_keeps_running_instances_and_reconciles(tmp_path: Path) -> None:
    first = start_ec2d(tmp_path / "data")
    prefix = first.config.prefix
    try:
        ec2 = first.client()
        made = ec2.create_key_pair(KeyName=f"rc-{uuid.uuid4().hex[:6]}")
        r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano",
                              KeyName=made["KeyName"])
        keep, lose = r["Instances"]
        ids = [keep["InstanceId"], lose["InstanceId"]]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        guest = ssh(instance_netns(first, keep), keep["PrivateIpAddress"], private_key(made["KeyMaterial"]))
        guest.run("echo before-restart > marker && sync")
        guest.close()
        first.stop(sweep=False)  # the daemon goes away; its guests keep running

        # While ec2d is down: one domain is killed, and a stray domain with ec2d's prefix appears.
        subprocess.run(["virsh", "-c", "qemu:///system", "destroy", f"{prefix}-{lose['InstanceId']}"],
                       check=True, capture_output=True)
        stray = f"{prefix}-i-0000000000000dead"
        xml = (f"<domain type='qemu'><name>{stray}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
               "<os><type arch='x86_64'>hvm</type></os></domain>")
        subprocess.run(["virsh", "-c", "qemu:///system", "define", "/dev/stdin"], input=xml.encode(), check=True,
                       capture_output=True)
        assert stray in domains(prefix)
        orphan = tmp_path / "data" / "storage" / "volumes" / "vol-00000000000000bad"  # a crash's leftover
        orphan.mkdir(parents=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(orphan / "gen-000001.qcow2"), "1M"], check=True)

        second = start_ec2d(tmp_path / "data", prefix=prefix)
        try:
            ec2 = second.client()
            assert wait_state(ec2, keep["InstanceId"], "running", 300)["State"]["Code"] == 16
            guest = ssh(instance_netns(second, keep), keep["PrivateIpAddress"], private_key(made["KeyMaterial"]))
            assert guest.run("cat marker").strip() == "before-restart"
            guest.close()
            stopped = wait_state(ec2, lose["InstanceId"], "stopped", 300)
            assert stopped["StateReason"]["Code"] == "Server.InternalError"
            assert stray not in domains(prefix)
            assert not orphan.exists() or not any(orphan.iterdir())
            assert domains(prefix) == {f"{prefix}-{keep['InstanceId']}"}
            ec2.terminate_instances(InstanceIds=ids)
            for iid in ids:
                wait_state(ec2, iid, "terminated", 300)
            assert domains(prefix) == set()
        finally:
            second.stop()
    finally:
        if first.thread.is_alive():
            first.stop()
        sweep(prefix)
