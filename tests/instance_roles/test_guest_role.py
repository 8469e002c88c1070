"""An instance role seen from a real guest (ec2d-tiny, busybox wget over SSH): ``iam/`` is listed
while a profile is attached (the study notes' listing exactly), the role name and its credentials
are served over IMDSv2, the keys authenticate against ec2d's STS from the host as
``assumed-role/ROLE/i-...``, and after DisassociateIamInstanceProfile the same keys are refused and
``iam/`` is gone."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state

EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
# The study notes' meta-data listing (/work/shared/seed/ec2-study-notes.md), iam/ included.
STUDY_NOTES = """ami-id ami-launch-index ami-manifest-path block-device-mapping/ events/ hibernation/ hostname iam/
identity-credentials/ instance-action instance-id instance-life-cycle instance-type local-hostname local-ipv4
mac metrics/ network/ placement/ profile public-hostname public-ipv4 public-keys/ reservation-id security-groups
services/""".split()
TOKEN = ". /usr/lib/ec2d-tiny/functions; imds_token; printf %s \"$IMDS_TOKEN\""
GET = "wget -q -O - --header 'X-aws-ec2-metadata-token: {token}' http://169.254.169.254/latest/{path} 2>&1; echo \" rc=$?\""


def imds(guest: Any, path: str) -> tuple[int, str]:
    """(wget's exit status, body) of an IMDSv2 GET from inside the guest."""
    out = guest.run(GET.format(token=guest.run(TOKEN), path=path))
    body, rc = out.rsplit(" rc=", 1)
    return int(rc.strip()), body


def caller(ec2d: Any, creds: dict[str, Any]) -> str:
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=ec2d.config.endpoint_url,
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["Token"], config=BotoConfig(retries={"max_attempts": 1}))
    return str(sts.get_caller_identity()["Arn"])


@pytest.fixture
def profile(ec2d: Any) -> Any:
    iam = ec2d.client("iam")
    name = f"guest-{uuid.uuid4().hex[:6]}"
    role = f"{name}-role"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.attach_role_policy(RoleName=role, PolicyArn=S3_FULL)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    yield name, role
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=name)
    iam.detach_role_policy(RoleName=role, PolicyArn=S3_FULL)
    iam.delete_role(RoleName=role)


def test_guest_reads_role_credentials_until_disassociated(ec2d: Any, ec2: Any, profile: tuple[str, str]) -> None:
    name, role = profile
    made = ec2.create_key_pair(KeyName=f"role-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"], IamInstanceProfile={"Name": name})["Instances"][0]
    iid = inst["InstanceId"]
    try:
        assert inst["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{name}")
        wait_state(ec2, iid, "running")
        guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]))
        rc, listing = imds(guest, "meta-data/")
        assert rc == 0 and listing.split("\n") == sorted(STUDY_NOTES)
        assert imds(guest, "meta-data/iam/security-credentials/") == (0, role)  # no trailing newline
        rc, body = imds(guest, f"meta-data/iam/security-credentials/{role}")
        creds = json.loads(body)
        assert rc == 0 and creds["Code"] == "Success" and creds["AccessKeyId"].startswith("ASIA")
        assert caller(ec2d, creds) == f"arn:aws:sts::{ec2d.client('sts').get_caller_identity()['Account']}:" \
                                      f"assumed-role/{role}/{iid}"

        [assoc] = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
        ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
        with pytest.raises(ClientError):
            caller(ec2d, creds)  # the same keys, refused right after
        deadline = time.monotonic() + 60
        while "iam/" in imds(guest, "meta-data/")[1].split("\n"):
            assert time.monotonic() < deadline, "iam/ still listed 60 s after the disassociation"
            time.sleep(0.5)
        assert imds(guest, "meta-data/iam/security-credentials/")[0] != 0  # 404 now
        guest.close()
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        wait_state(ec2, iid, "terminated", 300)
        ec2.delete_key_pair(KeyName=made["KeyName"])
