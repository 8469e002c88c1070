"""The metadata service as guests see it: the study notes' listing, IMDSv1/v2 rules, tokens bound
to their instance, options changed at run time, and the VPC's DNS names."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state

# ../shared/seed/ec2-study-notes.md, minus iam/ (listed only for instances with a role); the
# default subnet gives instances a public IP, so public-hostname and public-ipv4 are there
SEED_LISTING = """ami-id ami-launch-index ami-manifest-path block-device-mapping/ events/ hibernation/ hostname
identity-credentials/ instance-action instance-id instance-life-cycle instance-type local-hostname local-ipv4
mac metrics/ network/ placement/ profile public-hostname public-ipv4 public-keys/ reservation-id security-groups
services/""".split()

GET = "wget -q -O - http://169.254.169.254/latest/{path} 2>&1; echo \" rc=$?\""
GET_WITH = "wget -q -O - --header 'X-aws-ec2-metadata-token: {token}' http://169.254.169.254/latest/{path} 2>&1; echo \" rc=$?\""
TOKEN = ". /usr/lib/ec2d-tiny/functions; imds_token; printf %s \"$IMDS_TOKEN\""


IDENTITY = "meta-data/identity-credentials/ec2/security-credentials/ec2-instance"


def identity_client(ec2d, creds: dict):
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=ec2d.config.endpoint_url,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["Token"], config=BotoConfig(retries={"max_attempts": 1}))


def refused(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def guest_identity_credentials(guest) -> dict:
    token = guest.run(TOKEN)
    creds = json.loads(guest.run(GET_WITH.format(token=token, path=IDENTITY)).split(" rc=")[0])
    assert creds["Code"] == "Success" and creds["AccessKeyId"].startswith("ASIA")
    return creds


@pytest.fixture(scope="module")
def pair(ec2d, ec2):
    made = ec2.create_key_pair(KeyName=f"md-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano",
                          KeyName=made["KeyName"])
    ids = [i["InstanceId"] for i in r["Instances"]]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    key = private_key(made["KeyMaterial"])
    guests = [ssh(instance_netns(ec2d, i), i["PrivateIpAddress"], key) for i in r["Instances"]]
    yield r["Instances"], guests
    for g in guests:
        g.close()
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated", 300)


def test_imdsv2_required_by_default_and_listing(ec2d, ec2, pair) -> None:
    (a, _), (ga, _) = pair[0], pair[1]
    assert a["MetadataOptions"]["HttpTokens"] == "required"  # ec2d-tiny is registered with ImdsSupport v2.0
    assert "401 Unauthorized" in ga.run(GET.format(path="meta-data/"))
    token = ga.run(TOKEN)
    listing = ga.run(GET_WITH.format(token=token, path="meta-data/"))
    assert listing.rsplit(" rc=", 1)[1].strip() == "0"
    assert listing.rsplit(" rc=", 1)[0].split() == sorted(SEED_LISTING)
    ident = json.loads(ga.run(GET_WITH.format(token=token, path="dynamic/instance-identity/document")).split(" rc=")[0])
    assert (ident["instanceId"], ident["region"], ident["privateIp"]) == (a["InstanceId"], "us-east-1",
                                                                          a["PrivateIpAddress"])
    creds = json.loads(ga.run(GET_WITH.format(
        token=token, path="meta-data/identity-credentials/ec2/security-credentials/ec2-instance")).split(" rc=")[0])
    assert creds["Code"] == "Success" and creds["AccessKeyId"].startswith("ASIA")
    # they identify the instance and carry no permissions, as on EC2: every action is refused
    own = identity_client(ec2d, creds)
    for call in (lambda: own.describe_instances(InstanceIds=[a["InstanceId"]]),
                 lambda: own.terminate_instances(InstanceIds=[a["InstanceId"]]),
                 lambda: own.terminate_instances(InstanceIds=[a["InstanceId"]], DryRun=True),
                 lambda: own.create_key_pair(KeyName="from-a-guest")):
        assert refused(call) == (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")
    assert ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0]["State"][
        "Name"] == "running"
    assert "from-a-guest" not in {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    public = ga.run(GET_WITH.format(token=token, path="meta-data/public-ipv4")).split(" rc=")[0]
    assert public == ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"]
    mac = ga.run(GET_WITH.format(token=token, path="meta-data/mac")).split(" rc=")[0]
    assert mac == a["NetworkInterfaces"][0]["MacAddress"]
    eni = ga.run(GET_WITH.format(token=token, path=f"meta-data/network/interfaces/macs/{mac}/interface-id"))
    assert eni.split(" rc=")[0] == a["NetworkInterfaces"][0]["NetworkInterfaceId"]


def test_tokens_are_bound_to_their_instance(pair) -> None:
    (a, b), (ga, gb) = pair
    token_a = ga.run(TOKEN)
    assert "401 Unauthorized" in gb.run(GET_WITH.format(token=token_a, path="meta-data/instance-id"))
    token_b = gb.run(TOKEN)
    own = gb.run(GET_WITH.format(token=token_b, path="meta-data/instance-id")).split(" rc=")[0]
    assert own == b["InstanceId"] != a["InstanceId"]  # B only ever sees itself


def test_metadata_options_take_effect_at_once(ec2, pair) -> None:
    (a, _), (ga, _) = pair
    out = ec2.modify_instance_metadata_options(InstanceId=a["InstanceId"], HttpTokens="optional",
                                               InstanceMetadataTags="enabled")
    assert out["InstanceMetadataOptions"]["HttpTokens"] == "optional"
    assert ga.run(GET.format(path="meta-data/instance-id")).split(" rc=")[0] == a["InstanceId"]  # IMDSv1 now
    ec2.create_tags(Resources=[a["InstanceId"]], Tags=[{"Key": "Team", "Value": "blue"}])
    ec2.modify_instance_metadata_options(InstanceId=a["InstanceId"], InstanceMetadataTags="enabled")
    assert ga.run(GET.format(path="meta-data/tags/instance/Team")).split(" rc=")[0] == "blue"
    ec2.modify_instance_metadata_options(InstanceId=a["InstanceId"], HttpEndpoint="disabled")
    assert "403 Forbidden" in ga.run(GET.format(path="meta-data/instance-id"))
    ec2.modify_instance_metadata_options(InstanceId=a["InstanceId"], HttpEndpoint="enabled", HttpTokens="required")
    assert "401 Unauthorized" in ga.run(GET.format(path="meta-data/instance-id"))


def test_private_dns_names_resolve_in_the_vpc(pair) -> None:
    (a, b), (ga, _) = pair
    answer = ga.run(f"nslookup {b['PrivateDnsName']} 2>&1", check=False)
    assert b["PrivateIpAddress"] in answer
    assert ga.run(f"sudo ping -c 1 -W 3 {b['PrivateIpAddress']} >/dev/null && echo ok", check=False).strip() == "ok"


def test_identity_credentials_die_with_stop_and_terminate(ec2d, ec2) -> None:
    """The keys a guest reads from IMDS stop working when it stops (a start hands out new ones) and
    when it terminates: AuthFailure, as for a key that never existed."""
    made = ec2.create_key_pair(KeyName=f"md-id-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"])["Instances"][0]
    iid = inst["InstanceId"]
    expired = (401, "AuthFailure", "AWS was not able to validate the provided access credentials")
    try:
        wait_state(ec2, iid, "running")
        guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], key)
        first = guest_identity_credentials(guest)
        guest.close()
        assert refused(lambda: identity_client(ec2d, first).describe_instances())[1] == "UnauthorizedOperation"

        ec2.stop_instances(InstanceIds=[iid])
        wait_state(ec2, iid, "stopped", 300)
        assert refused(lambda: identity_client(ec2d, first).describe_instances()) == expired

        ec2.start_instances(InstanceIds=[iid])
        wait_state(ec2, iid, "running")
        guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], key)
        fresh = guest_identity_credentials(guest)
        guest.close()
        assert fresh["AccessKeyId"] != first["AccessKeyId"] and fresh["Token"] != first["Token"]
        assert refused(lambda: identity_client(ec2d, first).describe_instances()) == expired
        assert refused(lambda: identity_client(ec2d, fresh).describe_instances())[1] == "UnauthorizedOperation"

        ec2.terminate_instances(InstanceIds=[iid])
        wait_state(ec2, iid, "terminated", 300)
        assert refused(lambda: identity_client(ec2d, fresh).describe_instances()) == expired
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        wait_state(ec2, iid, "terminated", 300)
        ec2.delete_key_pair(KeyName=made["KeyName"])
