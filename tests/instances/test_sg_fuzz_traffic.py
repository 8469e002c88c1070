"""Security-group fuzz against real traffic (a modest sample; bench/sgfuzz.py runs more): random
valid rule sets applied through boto3 to the groups of two real guests, then every flow between
them (TCP to dropbear and busybox nc listeners on 7001-7003, ICMP echo, both directions) is tried
from inside the guests and compared with the reference semantics (firewall.allows): allowed flows
connect, the others do not. The seed is printed (``EC2D_SGFUZZ_SEED`` replays one)."""

from __future__ import annotations

import os
import random
import uuid

import pytest
import sgfuzz
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state


@pytest.fixture(scope="module")
def pair(ec2d, ec2):
    made = ec2.create_key_pair(KeyName=f"sgfz-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    groups = [ec2.create_security_group(GroupName=f"sgfz-{n}-{uuid.uuid4().hex[:4]}", Description="fuzz",
                                        VpcId=vpc)["GroupId"] for n in "ab"]
    insts = [ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                               KeyName=made["KeyName"], SecurityGroupIds=[g],
                               Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0] for g in groups]
    ids = [i["InstanceId"] for i in insts]
    nodes = []
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        subnet = ec2.describe_subnets(SubnetIds=[insts[0]["SubnetId"]])["Subnets"][0]["CidrBlock"]
        for name, inst, gid in zip("ab", insts, groups, strict=True):
            guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], key, timeout=240)
            node = sgfuzz.Node(name, inst["PrivateIpAddress"], gid, guest)
            sgfuzz.start_listeners(node)
            nodes.append(node)
        yield nodes[0], nodes[1], subnet
    finally:
        for node in nodes:
            node.guest.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 180)
        sgfuzz.revoke_all(ec2, groups)  # the groups may reference each other
        for gid in groups:
            ec2.delete_security_group(GroupId=gid)


def test_random_rule_sets_match_real_traffic(ec2, pair) -> None:
    seed = int(os.environ.get("EC2D_SGFUZZ_SEED") or random.randrange(2**32))
    print(f"security-group traffic fuzz seed: {seed}")
    a, b, subnet = pair
    fuzz = sgfuzz.TrafficFuzz(seed, ec2, a, b, subnet)
    fuzz.calibrate()
    for _ in range(3):
        fuzz.one()
    st = fuzz.stats
    assert not st.mismatches, f"seed {seed}: {st.mismatches}"
    assert not st.bad_errors, f"seed {seed}: {st.bad_errors}"
    assert st.flows == 4 * 10  # calibration + 3 rule sets, 10 flows each
