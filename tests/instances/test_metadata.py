"""The metadata service as guests see it: the study notes' listing, IMDSv1/v2 rules, tokens bound
to their instance, options changed at run time, and the VPC's DNS names."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from guests import instance_netns, private_key, ssh, wait_state
from test_lifecycle import tiny_image

# ../shared/seed/ec2-study-notes.md, minus iam/ (listed only for instances with a role); the
# default subnet gives instances a public IP, so public-hostname and public-ipv4 are there
SEED_LISTING = """ami-id ami-launch-index ami-manifest-path block-device-mapping/ events/ hibernation/ hostname
identity-credentials/ instance-action instance-id instance-life-cycle instance-type local-hostname local-ipv4
mac metrics/ network/ placement/ profile public-hostname public-ipv4 public-keys/ reservation-id security-groups
services/""".split()

GET = "wget -q -O - http://169.254.169.254/latest/{path} 2>&1; echo \" rc=$?\""
GET_WITH = "wget -q -O - --header 'X-aws-ec2-metadata-token: {token}' http://169.254.169.254/latest/{path} 2>&1; echo \" rc=$?\""
TOKEN = ". /usr/lib/ec2d-tiny/functions; imds_token; printf %s \"$IMDS_TOKEN\""


@pytest.fixture(scope="module")
def pair(ec2d, ec2):
    made = ec2.create_key_pair(KeyName=f"md-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    r = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=2, MaxCount=2, InstanceType="t3.nano",
                          KeyName=made["KeyName"])
    ids = [i["InstanceId"] for i in r["Instances"]]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
    key = private_key(made["KeyMaterial"])
    guests = [ssh(instance_netns(ec2d, i), i["PrivateIpAddress"], key) for i in r["Instances"]]
    yield r["Instances"], guests
    for g in guests:
        g.close()
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated", 120)


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
    # the instance's credentials are accepted by ec2d's own API
    own = boto3.client("ec2", region_name="us-east-1", endpoint_url=ec2d.config.endpoint_url,
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["Token"])
    assert own.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0]["InstanceId"] \
        == a["InstanceId"]
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
