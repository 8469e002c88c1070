"""Idempotent creates by ClientToken (boto3 sends one with every CreateVolume and RunInstances):
found through the store's ClientToken index, the same answer as the first call's."""

from __future__ import annotations

import uuid


def test_create_volume_client_token_returns_the_first_volume(ec2) -> None:
    token = uuid.uuid4().hex
    first = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", ClientToken=token)
    again = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", ClientToken=token)
    other = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", ClientToken=uuid.uuid4().hex)
    try:
        assert again["VolumeId"] == first["VolumeId"] and other["VolumeId"] != first["VolumeId"]
        found = ec2.describe_volumes(VolumeIds=[first["VolumeId"], other["VolumeId"]])["Volumes"]
        assert len(found) == 2
    finally:
        for vid in {first["VolumeId"], other["VolumeId"]}:
            ec2.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
            ec2.delete_volume(VolumeId=vid)
