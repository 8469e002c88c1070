"""Instances are real libvirt guests: launch to SSH, user-data, console, stop/start/reboot,
terminate, guest power-off, a domain killed behind ec2d's back, and ec2d restarts."""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from collections.abc import Iterator

import libvirt
import paramiko
import pytest
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state

USER_DATA = "#!/bin/sh\necho ran-$(cat /proc/sys/kernel/random/uuid) >> /home/ec2-user/user-data-runs\n"

@pytest.fixture(scope="module")
def key(ec2):
    made = ec2.create_key_pair(KeyName=f"lifecycle-{uuid.uuid4().hex[:6]}")
    return made["KeyName"], private_key(made["KeyMaterial"])


@pytest.fixture(scope="module")
def web(ec2d, ec2, key) -> Iterator[dict]:
    """One guest shared by the ordered tests of this module (launch ... terminate)."""
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          KeyName=key[0], UserData=USER_DATA,
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    inst = r["Instances"][0]
    yield inst
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])


def login(ec2d, inst, key) -> Guest:
    return ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], key[1])


def domain_state(ec2d, instance_id: str) -> int | None:
    conn = libvirt.open("qemu:///system")
    try:
        return conn.lookupByName(f"{ec2d.config.prefix}-{instance_id}").state()[0]
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def test_launch_reaches_ssh_with_user_data_and_console(ec2d, ec2, web, key) -> None:
    assert web["State"]["Name"] == "pending"
    ec2.get_waiter("instance_running").wait(InstanceIds=[web["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    inst = ec2.describe_instances(InstanceIds=[web["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert inst["PrivateIpAddress"] == web["PrivateIpAddress"]
    assert inst["PrivateDnsName"] == "ip-" + web["PrivateIpAddress"].replace(".", "-") + ".ec2.internal"
    guest = login(ec2d, inst, key)
    assert guest.run("id -un; sudo id -u").split() == ["ec2-user", "0"]
    assert len(guest.run("cat user-data-runs").splitlines()) == 1
    # DHCP gave the guest the address DescribeInstances reports; the metadata service knows it (IMDSv2).
    assert f"inet {web['PrivateIpAddress']}/" in guest.run("ip -4 addr show eth0")
    md = guest.run(". /usr/lib/ec2d-tiny/functions; imds_token; imds_get meta-data/instance-id; echo; "
                   "imds_get meta-data/placement/availability-zone; echo; imds_get meta-data/local-ipv4")
    assert md.split() == [web["InstanceId"], web["Placement"]["AvailabilityZone"], web["PrivateIpAddress"]]
    guest.close()
    console = ec2.get_console_output(InstanceId=web["InstanceId"])["Output"]  # boto3 decodes the base64
    assert "ec2d-tiny: ready" in console and "user-data finished with exit status 0" in console
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [web["InstanceId"]]}])["Volumes"]
    assert len(vols) == 1 and vols[0]["State"] == "in-use"
    assert vols[0]["Attachments"][0]["State"] == "attached" and vols[0]["Attachments"][0]["Device"] == "/dev/xvda"
    assert domain_state(ec2d, web["InstanceId"]) == libvirt.VIR_DOMAIN_RUNNING


def test_data_survives_stop_start_and_reboot_and_type_change(ec2d, ec2, web, key) -> None:
    iid = web["InstanceId"]
    guest = login(ec2d, web, key)
    guest.run("echo keep-me > notes.txt && sync")
    mem_before = int(guest.run("awk '/MemTotal/ {print $2}' /proc/meminfo"))
    guest.close()
    stopping = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert (stopping["PreviousState"]["Name"], stopping["CurrentState"]["Name"]) == ("running", "stopping")
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert domain_state(ec2d, iid) is None  # no domain while stopped; the volume stays
    vol = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"][0]
    assert vol["State"] == "in-use"
    with pytest.raises(ClientError) as info:  # type changes only while stopped: this one is allowed
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t9.huge"})
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.small"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"]["Value"] == "t3.small"
    ec2.start_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    guest = login(ec2d, web, key)
    assert guest.run("cat notes.txt").strip() == "keep-me"
    assert int(guest.run("awk '/MemTotal/ {print $2}' /proc/meminfo")) > mem_before * 1.5  # 1 GiB -> 2 GiB
    assert len(guest.run("cat user-data-runs").splitlines()) == 1  # once per instance, not per boot
    boot_id = guest.run("cat /proc/sys/kernel/random/boot_id")
    guest.run("echo again >> notes.txt && sync")
    guest.close()
    ec2.reboot_instances(InstanceIds=[iid])
    deadline_guest = None
    rebooted = False
    for _ in range(120):  # wait until the guest really rebooted (new boot id)
        try:  # the old system may still answer, then drop the connection as it goes down
            deadline_guest = login(ec2d, web, key)
            if deadline_guest.run("cat /proc/sys/kernel/random/boot_id") != boot_id:
                rebooted = True
                break
            deadline_guest.close()
        except (AssertionError, paramiko.SSHException, OSError, EOFError):
            time.sleep(0.5)
    assert rebooted and deadline_guest is not None
    assert deadline_guest.run("cat notes.txt").split() == ["keep-me", "again"]
    deadline_guest.close()
    assert wait_state(ec2, iid, "running")["State"]["Code"] == 16


def test_terminate_removes_domain_and_root_volume(ec2d, ec2, web) -> None:
    iid = web["InstanceId"]
    vol_id = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"][0]["VolumeId"]
    out = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert out["CurrentState"]["Name"] == "shutting-down"
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert domain_state(ec2d, iid) is None
    with pytest.raises(ClientError) as info:
        ec2.describe_volumes(VolumeIds=[vol_id])
    assert info.value.response["Error"]["Code"] == "InvalidVolume.NotFound"
    assert not list((ec2d.config.data_dir / "storage" / "volumes").glob(f"{vol_id}*"))
    with pytest.raises(ClientError) as info:
        ec2.stop_instances(InstanceIds=[iid])
    assert info.value.response["Error"]["Code"] == "IncorrectInstanceState"
    # still listed (terminated) for a while, as on EC2
    assert wait_state(ec2, iid, "terminated")["StateReason"]["Code"] == "Client.UserInitiatedShutdown"


def test_three_at_once_and_volumes_kept_when_asked(ec2d, ec2, key) -> None:
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=3, MaxCount=3, InstanceType="t3.nano", KeyName=key[0],
                          BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}}])
    ids = [i["InstanceId"] for i in r["Instances"]]
    assert len({i["PrivateIpAddress"] for i in r["Instances"]}) == 3
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    for inst in r["Instances"]:
        guest = login(ec2d, inst, key)
        assert guest.run("hostname").strip() == "ip-" + inst["PrivateIpAddress"].replace(".", "-")
        guest.close()
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": ids}])["Volumes"]
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    after = ec2.describe_volumes(VolumeIds=[v["VolumeId"] for v in vols])["Volumes"]
    assert {v["State"] for v in after} == {"available"} and all(not v["Attachments"] for v in after)


def test_guest_poweroff_stops_or_terminates(ec2d, ec2, key) -> None:
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano", KeyName=key[0])
    stop_one, term_one = r["Instances"]
    ec2.modify_instance_attribute(InstanceId=term_one["InstanceId"],
                                  InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    ec2.get_waiter("instance_running").wait(InstanceIds=[stop_one["InstanceId"], term_one["InstanceId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    for inst in (stop_one, term_one):
        guest = login(ec2d, inst, key)
        guest.run("sudo poweroff", check=False)
        guest.close()
    stopped = wait_state(ec2, stop_one["InstanceId"], "stopped", 300)
    assert stopped["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"
    wait_state(ec2, term_one["InstanceId"], "terminated", 300)
    ec2.terminate_instances(InstanceIds=[stop_one["InstanceId"]])


def test_domain_killed_behind_ec2d_ends_stopped(ec2d, ec2, key) -> None:
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=key[0])
    iid = r["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    subprocess.run(["virsh", "-c", "qemu:///system", "destroy", f"{ec2d.config.prefix}-{iid}"], check=True,
                   capture_output=True)
    stopped = wait_state(ec2, iid, "stopped", 300)
    assert stopped["StateReason"]["Code"] == "Server.InternalError"
    ec2.terminate_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "terminated", 300)


def test_bad_input_gets_ec2_errors_and_leaves_nothing(ec2d, ec2, key) -> None:
    image = tiny_image(ec2)

    def code(**kw) -> str:
        args = {"ImageId": image, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano", **kw}
        with pytest.raises(ClientError) as info:
            ec2.run_instances(**args)
        return info.value.response["Error"]["Code"]

    def counts() -> tuple[int, int, int]:
        instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        conn = libvirt.open("qemu:///system")
        domains = [d for d in conn.listAllDomains() if d.name().startswith(ec2d.config.prefix + "-")]
        conn.close()
        return len(instances), len(ec2.describe_volumes()["Volumes"]), len(domains)

    before = counts()
    assert code(ImageId="ami-0123456789abcdef0") == "InvalidAMIID.NotFound"
    assert code(ImageId="ami-nope") == "InvalidAMIID.Malformed"
    assert code(InstanceType="t3.gigantic") == "InvalidParameterValue"
    assert code(KeyName="no-such-key") == "InvalidKeyPair.NotFound"
    assert code(SubnetId="subnet-0123456789abcdef0") == "InvalidSubnetID.NotFound"
    assert code(Placement={"AvailabilityZone": "us-east-1q"}) == "InvalidParameterValue"
    assert code(MinCount=3, MaxCount=2) == "InvalidParameterValue"
    assert code(UserData="x" * 20000) == "InvalidParameterValue"  # over 16 KiB
    assert code(MinCount=500, MaxCount=500, InstanceType="m5.4xlarge") == "InsufficientInstanceCapacity"
    assert counts() == before
    with pytest.raises(ClientError) as info:
        ec2.stop_instances(InstanceIds=["i-0123456789abcdef0"])
    assert info.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as info:
        ec2.start_instances(InstanceIds=["i-bogus"])
    assert info.value.response["Error"]["Code"] == "InvalidInstanceID.Malformed"


def test_client_token_is_idempotent_and_api_termination_guard(ec2d, ec2, key) -> None:
    token = uuid.uuid4().hex
    args = {"ImageId": tiny_image(ec2), "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
            "ClientToken": token, "DisableApiTermination": True}
    first = ec2.run_instances(**args)
    again = ec2.run_instances(**args)
    iid = first["Instances"][0]["InstanceId"]
    assert again["Instances"][0]["InstanceId"] == iid and again["ReservationId"] == first["ReservationId"]
    with pytest.raises(ClientError) as info:
        ec2.terminate_instances(InstanceIds=[iid])
    assert info.value.response["Error"]["Code"] == "OperationNotPermitted"
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "terminated", 300)
    user_data = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    assert "Value" not in user_data.get("UserData", {})
    assert base64  # keeps the import for readers of USER_DATA's wire form
