"""IMDS isolation on real guests: a guest that takes its neighbour's IP, MAC or both gets none of
the neighbour's metadata or credentials, its spoofed frames are dropped by the anti-spoofing
table, and it works again once it stops (tests/spoofing.py has the experiment)."""

from __future__ import annotations

import secrets
import uuid

import pytest
import spoofing
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state

from orchestrator.drivers.network import imds_limit

ATTEMPTS = 3  # per mode and request kind (bench/imds_spoof.py runs more)


@pytest.fixture(scope="module")
def neighbours(ec2d, ec2):
    made = ec2.create_key_pair(KeyName=f"spoof-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano",
                          KeyName=made["KeyName"], MetadataOptions={"HttpTokens": "optional"})
    ids = [i["InstanceId"] for i in r["Instances"]]
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        described = [i for res in ec2.describe_instances(InstanceIds=ids)["Reservations"] for i in res["Instances"]]
        described.sort(key=lambda i: ids.index(i["InstanceId"]))
        assert described[0]["SubnetId"] == described[1]["SubnetId"]
        key = private_key(made["KeyMaterial"])
        netns = instance_netns(ec2d, described[0])
        guest_b = ssh(netns, described[1]["PrivateIpAddress"], key, timeout=300)
        yield netns, described[0], described[1], key, guest_b
        guest_b.close()
    finally:
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 300)
        ec2.delete_key_pair(KeyName=made["KeyName"])


def test_spoofing_a_neighbour_gets_nothing_and_frames_are_dropped(ec2d, neighbours) -> None:
    netns, a, b, key, guest_b = neighbours
    # the VPC the daemon built carries the per-ENI packet limit and connection cap to the metadata service
    assert imds_limit.dropped(netns) is not None and imds_limit.refused(netns) is not None
    table = f"{ec2d.config.prefix}sp{secrets.token_hex(2)}"
    report = spoofing.run(netns, a, b, key, guest_b, ATTEMPTS, table)
    print(spoofing.table_text(report))
    per_mode = 3 * ATTEMPTS
    # the control: as itself A gets every answer, with its own identity (the method works)
    for mode in ("none", "restored"):
        assert report.attempts[mode] == per_mode, report.lines
        assert report.answered[mode] == per_mode, report.lines
        assert report.own[mode] == 2 * ATTEMPTS and report.leaked[mode] == 0, report.lines
    for mode in spoofing.SPOOF_MODES:
        assert report.attempts[mode] == per_mode, report.lines
        assert report.answered[mode] == 0, (mode, report.lines)
        assert report.leaked[mode] == 0, (mode, report.lines)
    for kind in ("ip", "mac", "both"):
        assert report.frames_seen[kind] > 0, (kind, report.frames_seen)  # A really sent spoofed frames
    assert sum(report.frames_passed.values()) == 0, report.frames_passed  # and none got through
    assert report.neighbour_ok
