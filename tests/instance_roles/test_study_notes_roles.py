"""The study notes' instance-role example, end to end on debian-12 with the AWS CLI and boto3 the
image carries, unmodified and with no credentials configured anywhere in the guest:

a role trusting ec2.amazonaws.com with AmazonS3FullAccess and its instance profile; a bucket with an
object, made from the host; debian-12 launched with the profile. Inside, ``aws s3 cp`` reads and
writes the bucket (VPC DNS sends ``*.amazonaws.com`` to ec2d's in-VPC HTTPS endpoint, which the image
trusts), ``aws sts get-caller-identity`` names ``assumed-role/ROLE/<instance id>``; with
AmazonS3ReadOnlyAccess instead the upload is AccessDenied; after DisassociateIamInstanceProfile the
keys the guest held are refused on their next call and the CLI finds no credentials.

Rotation (slow, ``EC2D_TEST_ROTATION=1``): a boto3 client that keeps running in the guest goes on
working across two rotations of the role's credentials. botocore refreshes 15 min before expiry and
takes sets expiring within 20 min for an IMDS outage, so no lifetime under ~22 min works with an
unmodified client; with 22 min sets the client changes keys about every 7 min (~15 min in all).

Only addresses inside the VPC namespace this test's ec2d creates are contacted.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import RunningEc2d, start_ec2d
from guests import Guest, instance_netns, private_key, published_ami, ssh, wait_state

from orchestrator.images.cache import default_cache_dir, ensure_image

EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
LIFETIME = 1320  # 22 min: the shortest botocore keeps refreshing on time (see the module docstring)
IMDS = ("T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)"
        " && curl -sf -H \"X-aws-ec2-metadata-token: $T\" http://169.254.169.254/latest/meta-data/")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    image = ensure_image("debian-12", default_cache_dir())  # before ec2d starts: it registers it at once
    running = start_ec2d(tmp_path_factory.mktemp("notes-roles"), s3=True, role_credential_seconds=LIFETIME)
    running.debian_name = f"debian-12-{image.key[:12]}"  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def setup(server: RunningEc2d) -> Iterator[dict[str, str]]:
    iam, s3 = server.client("iam"), server.client("s3")
    name = f"notes-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.attach_role_policy(RoleName=name, PolicyArn=S3_FULL)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="x", Body=b"hello from the study notes\n")
    yield {"role": name, "profile": name, "bucket": name}


@pytest.fixture(scope="module")
def instance(server: RunningEc2d, setup: dict[str, str]) -> Iterator[dict[str, Any]]:
    ec2 = server.client()
    made = ec2.create_key_pair(KeyName=f"notes-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    inst = ec2.run_instances(ImageId=published_ami(ec2, server.debian_name),  # type: ignore[attr-defined]
                             MinCount=1, MaxCount=1, InstanceType="t3.small", KeyName=made["KeyName"],
                             IamInstanceProfile={"Name": setup["profile"]})["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{setup['profile']}")
    inst["_key"] = private_key(made["KeyMaterial"])
    try:
        yield inst
    finally:
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)


@pytest.fixture(scope="module")
def guest(server: RunningEc2d, instance: dict[str, Any]) -> Iterator[Guest]:
    ec2 = server.client()
    inst = wait_state(ec2, instance["InstanceId"], "running", 300)

    def running() -> bool:
        found = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
        return found["State"]["Name"] == "running"

    g = ssh(instance_netns(server, inst), inst["PrivateIpAddress"], instance["_key"], user="admin", timeout=900,
            alive=running)
    g.run("cloud-init status --wait", timeout=600, check=False)  # the CLI runs once the boot is through
    try:
        yield g
    finally:
        g.close()


def aws(guest: Guest, args: str, env: str = "") -> tuple[int, str]:
    """``aws ARGS`` in the guest as ``admin`` (no credentials or config of its own): (status, output)."""
    out = guest.run(f"{env} aws {args} 2>&1; echo \"rc=$?\"", timeout=300)
    body, rc = out.rstrip("\n").rsplit("rc=", 1)
    return int(rc), body


def test_the_guest_has_no_credentials_configured(guest: Guest) -> None:
    assert guest.run("ls -a ~/.aws 2>&1; env | grep -c '^AWS_' || true").split()[-1] == "0"
    assert "iam/" in guest.run(IMDS).split("\n")  # the profile is there: the notes' listing with iam/


def test_s3_read_and_write_and_who_am_i(server: RunningEc2d, setup: dict[str, str], guest: Guest,
                                         instance: dict[str, Any]) -> None:
    bucket = setup["bucket"]
    assert aws(guest, f"s3 cp s3://{bucket}/x -") == (0, "hello from the study notes\n")
    guest.run("echo uploaded from the guest > /tmp/up.txt")
    rc, out = aws(guest, f"s3 cp /tmp/up.txt s3://{bucket}/from-guest.txt")
    assert rc == 0, out
    got = server.client("s3").get_object(Bucket=bucket, Key="from-guest.txt")["Body"].read()
    assert got == b"uploaded from the guest\n"
    rc, out = aws(guest, "sts get-caller-identity --output json")
    assert rc == 0, out
    account = server.client("sts").get_caller_identity()["Account"]
    assert json.loads(out)["Arn"] == f"arn:aws:sts::{account}:assumed-role/{setup['role']}/{instance['InstanceId']}"


def test_read_only_policy_denies_the_upload(server: RunningEc2d, setup: dict[str, str], guest: Guest) -> None:
    iam, bucket = server.client("iam"), setup["bucket"]
    iam.detach_role_policy(RoleName=setup["role"], PolicyArn=S3_FULL)
    iam.attach_role_policy(RoleName=setup["role"], PolicyArn=S3_READ)
    guest.run("echo denied > /tmp/denied.txt")  # (its own file: not the upload test's)
    try:
        rc, out = aws(guest, f"s3 cp /tmp/denied.txt s3://{bucket}/denied.txt")
        assert rc != 0 and "AccessDenied" in out, out
        assert aws(guest, f"s3 cp s3://{bucket}/x -") == (0, "hello from the study notes\n")
    finally:
        iam.detach_role_policy(RoleName=setup["role"], PolicyArn=S3_READ)
        iam.attach_role_policy(RoleName=setup["role"], PolicyArn=S3_FULL)


@pytest.mark.skipif(os.environ.get("EC2D_TEST_ROTATION") != "1",
                    reason="slow (two rotations of 22-minute sets take ~15 min): set EC2D_TEST_ROTATION=1")
def test_a_long_running_boto3_client_works_across_two_rotations(setup: dict[str, str], guest: Guest) -> None:
    script = f"""
import boto3, json, sys, time, urllib.request
req = urllib.request.Request("http://169.254.169.254/latest/api/token", method="PUT",
                             headers={{"X-aws-ec2-metadata-token-ttl-seconds": "60"}})
token = urllib.request.urlopen(req).read().decode()
region = urllib.request.urlopen(urllib.request.Request(
    "http://169.254.169.254/latest/meta-data/placement/region",
    headers={{"X-aws-ec2-metadata-token": token}})).read().decode()
session = boto3.Session(region_name=region)
sts, s3 = session.client("sts"), session.client("s3")
keys, errors, calls = [], [], 0
deadline = time.time() + 1800
while time.time() < deadline and len(keys) < 3:
    try:
        sts.get_caller_identity()
        s3.list_objects_v2(Bucket={setup['bucket']!r})
        calls += 1
        key = session.get_credentials().get_frozen_credentials().access_key
        if not keys or keys[-1] != key:
            keys.append(key)
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(20)
json.dump({{"keys": keys, "errors": errors, "calls": calls}}, open("/tmp/rotation.json.tmp", "w"))
import os; os.rename("/tmp/rotation.json.tmp", "/tmp/rotation.json")
"""
    guest.run(f"printf %s {shlex.quote(script)} > /tmp/rotation.py && "
              "(nohup python3 /tmp/rotation.py > /tmp/rotation.log 2>&1 &)")
    deadline = time.monotonic() + 2400  # a backstop: the script ends itself after 3 keys or 30 min
    state = "running"
    while state == "running":  # the result file appears last (renamed into place); else the script died
        state = guest.run("if [ -e /tmp/rotation.json ]; then echo done; "
                          "elif pgrep -f '[/]tmp/rotation.py' >/dev/null; then echo running; else echo died; fi").strip()
        assert state != "died" and time.monotonic() < deadline, guest.run("cat /tmp/rotation.log", check=False)
        if state == "running":
            time.sleep(15)
    result = json.loads(guest.run("cat /tmp/rotation.json"))
    print("rotation:", result)
    assert result["errors"] == [] and len(result["keys"]) == 3, result


def test_disassociate_revokes_the_keys_the_guest_holds(server: RunningEc2d, setup: dict[str, str],
                                                        guest: Guest, instance: dict[str, Any]) -> None:
    held = json.loads(guest.run(f"{IMDS}iam/security-credentials/{setup['role']}"))
    env = (f"AWS_ACCESS_KEY_ID={held['AccessKeyId']} AWS_SECRET_ACCESS_KEY={shlex.quote(held['SecretAccessKey'])} "
           f"AWS_SESSION_TOKEN={shlex.quote(held['Token'])}")
    assert aws(guest, f"s3 ls s3://{setup['bucket']}", env)[0] == 0  # the held keys work
    ec2 = server.client()
    [assoc] = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance["InstanceId"]]}])["IamInstanceProfileAssociations"]
    ec2.disassociate_iam_instance_profile(AssociationId=assoc["AssociationId"])
    rc, out = aws(guest, f"s3 ls s3://{setup['bucket']}", env)  # the very next call
    assert rc != 0 and ("InvalidAccessKeyId" in out or "InvalidToken" in out), out
    deadline = time.monotonic() + 120  # the metadata table follows the association (an event, not a budget)
    while "iam/" in guest.run(IMDS).split("\n"):
        assert time.monotonic() < deadline
        time.sleep(1)
    rc, out = aws(guest, f"s3 ls s3://{setup['bucket']}")
    assert rc != 0 and "Unable to locate credentials" in out, out

