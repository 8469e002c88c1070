"""Security-group rules naming a peered VPC's group, on the fake drivers in process (the same
compiler and semantics as the real firewall): the ruleset of the VPC holding the rule lets the
peer group's members in, follows that membership when an instance joins the peer VPC's group
(the peer VPC's sync re-syncs this VPC's firewall), and the peering's filter decides by route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback_api import LoopbackApi
from waiting import until

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("pcx-fw"), instances=False, regions={"us-east-1": ["a"]})
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", backend.config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()

def launch(ec2: Any, subnet: str, group: str) -> dict[str, Any]:
    image = ec2.describe_images()["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", SubnetId=subnet,
                             SecurityGroupIds=[group])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return dict(inst)


def test_rule_naming_the_peers_group_follows_its_members(api: LoopbackApi) -> None:
    ec2 = api.client("ec2")
    assert api.runtime is not None
    parts = api.runtime.parts
    side: dict[str, dict[str, str]] = {}
    for name, cidr in (("a", "10.61.0.0/16"), ("b", "10.62.0.0/16")):
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace(".0.0/16", ".1.0/24"))["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName=f"pf-{name}", Description=name, VpcId=vpc)["GroupId"]
        side[name] = {"vpc": vpc, "subnet": subnet, "sg": group, "ns": parts.networks["us-east-1"].netns_name(vpc)}
    a, b = side["a"], side["b"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a["vpc"], PeerVpcId=b["vpc"])["VpcPeeringConnection"][
        "VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.authorize_security_group_ingress(GroupId=b["sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": a["sg"]}]}])
    target = launch(ec2, b["subnet"], b["sg"])["PrivateIpAddress"]
    first = launch(ec2, a["subnet"], a["sg"])["PrivateIpAddress"]
    fw = parts.firewall
    until("the first peer allowed", lambda: fw.allows(b["ns"], first, target, "tcp", 22), timeout=10, every=0.1)
    assert not fw.allows(b["ns"], first, target, "tcp", 23)
    assert not fw.allows(b["ns"], "10.61.1.200", target, "tcp", 22)  # not a member
    second = launch(ec2, a["subnet"], a["sg"])["PrivateIpAddress"]  # joins A's group later
    until("the second peer allowed", lambda: fw.allows(b["ns"], second, target, "tcp", 22), timeout=10, every=0.1)

    # the peering's filter, as the fake VPC driver holds it: only subnets routing B's CIDR to it
    links = parts.networks["us-east-1"].vpcs[a["vpc"]].peerings
    assert [(link.pcx_id, link.allowed) for link in links] == [(pcx, ())]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [a["vpc"]]}])["RouteTables"][0]
    ec2.create_route(RouteTableId=rtb["RouteTableId"], DestinationCidrBlock="10.62.0.0/16",
                     VpcPeeringConnectionId=pcx)
    links = parts.networks["us-east-1"].vpcs[a["vpc"]].peerings
    assert [link.allowed for link in links] == [(("10.61.1.0/24", ("10.62.0.0/16",)),)]
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert parts.networks["us-east-1"].vpcs[a["vpc"]].peerings == []
