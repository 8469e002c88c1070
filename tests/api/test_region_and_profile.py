"""Small fixes of issue 9: AssociateAddress by network interface stays inside the request's
region, and ``ec2d aws-profile`` leaves the AWS credentials file owner-only even when an older
one was world-readable."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from ec2d_server import RunningEc2d, start_ec2d, tiny_image

EC2D = str(Path(sys.executable).parent / "ec2d")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_ec2d(tmp_path_factory.mktemp("region"), instances=False)
    yield server
    server.stop()




def test_associate_address_by_eni_of_another_region_is_not_found(api: RunningEc2d) -> None:
    east, west = api.client(region="us-east-1"), api.client(region="us-west-2")
    west_instance = west.run_instances(ImageId=tiny_image(west), MinCount=1, MaxCount=1,
                                       InstanceType="t3.nano")["Instances"][0]
    west_eni = west_instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    east_instance = east.run_instances(ImageId=tiny_image(east), MinCount=1, MaxCount=1,
                                       InstanceType="t3.nano")["Instances"][0]
    east_eni = east_instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    alloc = east.allocate_address(Domain="vpc")["AllocationId"]
    try:
        with pytest.raises(ClientError) as info:
            east.associate_address(AllocationId=alloc, NetworkInterfaceId=west_eni)
        assert info.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.NotFound"
        assert west_eni in info.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as info:
            east.associate_address(AllocationId=alloc, NetworkInterfaceId="eni-nope")
        assert info.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.Malformed"
        address = east.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
        assert "AssociationId" not in address  # nothing changed
        # the same call with an ENI of the request's region works
        east.associate_address(AllocationId=alloc, NetworkInterfaceId=east_eni)
        address = east.describe_addresses(AllocationIds=[alloc])["Addresses"][0]
        assert address["InstanceId"] == east_instance["InstanceId"]
        assert address["NetworkInterfaceId"] == east_eni
        east.disassociate_address(AssociationId=address["AssociationId"])
    finally:
        east.terminate_instances(InstanceIds=[east_instance["InstanceId"]])
        west.terminate_instances(InstanceIds=[west_instance["InstanceId"]])
        east.release_address(AllocationId=alloc)


def test_aws_profile_makes_an_existing_credentials_file_owner_only(tmp_path: Path) -> None:
    aws_dir = tmp_path / "aws"
    aws_dir.mkdir()
    cred_path = aws_dir / "credentials"
    cred_path.write_text("[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other-secret\n")
    os.chmod(cred_path, 0o644)
    subprocess.run([EC2D, "--data-dir", str(tmp_path / "data"), "aws-profile", "--aws-dir", str(aws_dir)],
                   check=True, capture_output=True, timeout=60)
    assert stat.S_IMODE(cred_path.stat().st_mode) == 0o600
    cred = configparser.RawConfigParser()
    cred.read(cred_path)
    assert cred.get("other", "aws_secret_access_key") == "other-secret"  # other profiles kept
    assert cred.get("ec2d", "aws_access_key_id").startswith("AKIA")
    assert [p.name for p in aws_dir.iterdir() if p.name.startswith(".")] == []  # no temp file left

    fresh = tmp_path / "fresh-aws"
    subprocess.run([EC2D, "--data-dir", str(tmp_path / "data"), "aws-profile", "--aws-dir", str(fresh)],
                   check=True, capture_output=True, timeout=60)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "credentials").stat().st_mode) == 0o600
