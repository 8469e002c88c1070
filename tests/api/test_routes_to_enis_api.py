"""Routes to instances and network interfaces, and the source/destination check, through boto3 on
the fake drivers in process: EC2's checks and errors, the route's state following the instance
(blackhole when it stops, active again when it starts), DescribeRouteTables' InstanceId /
InstanceOwnerId / NetworkInterfaceId, the VPC network's per-subnet next hops, the firewall
port's check. The traffic itself: tests/instances/test_router_instance.py (real guests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from loopback_api import LoopbackApi
from waiting import until

from orchestrator.config import Config
from orchestrator.drivers.network.vpc.driver import SubnetRoute
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    config = Config(data_dir=tmp_path_factory.mktemp("eni-routes"), instances=False, regions={"us-east-1": ["a"]})
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", backend.config.cache_dir)
    images.sync_published(backend)
    server = LoopbackApi(backend, runtime=True).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def net(api: LoopbackApi) -> dict[str, Any]:
    ec2 = api.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    subnets = {name: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.71.{n}.0/24")["Subnet"]["SubnetId"]
               for n, name in ((1, "client"), (2, "server"), (3, "router"))}
    image = ec2.describe_images()["Images"][0]["ImageId"]
    router = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                               SubnetId=subnets["router"])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[router["InstanceId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnets["client"])
    return {"ec2": ec2, "vpc": vpc, "subnets": subnets, "router": router, "table": table, "image": image}


def error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    e = info.value.response["Error"]
    return str(e["Code"]), str(e["Message"])


def routes_to(ec2: Any, table: str, cidr: str) -> dict[str, Any]:
    [shown] = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    return next(r for r in shown["Routes"] if r.get("DestinationCidrBlock") == cidr)


def test_route_to_an_instance_follows_its_state(api: LoopbackApi, net: dict[str, Any]) -> None:
    ec2, router, table = net["ec2"], net["router"], net["table"]
    iid, eni = router["InstanceId"], router["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.71.2.0/24", InstanceId=iid)  # inside the VPC
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="192.0.2.0/24", NetworkInterfaceId=eni)
    owner = ec2.describe_vpcs(VpcIds=[net["vpc"]])["Vpcs"][0]["OwnerId"]
    for cidr in ("10.71.2.0/24", "192.0.2.0/24"):
        route = routes_to(ec2, table, cidr)
        assert {k: route.get(k) for k in ("InstanceId", "InstanceOwnerId", "NetworkInterfaceId", "State",
                                          "Origin")} == {"InstanceId": iid, "InstanceOwnerId": owner,
                                                         "NetworkInterfaceId": eni, "State": "active",
                                                         "Origin": "CreateRoute"}
    for name, value in (("route.instance-id", iid), ("route.state", "active")):
        found = ec2.describe_route_tables(Filters=[{"Name": name, "Values": [value]}])["RouteTables"]
        assert table in [t["RouteTableId"] for t in found]
    vpc_net = api.runtime.parts.networks["us-east-1"].vpcs[net["vpc"]]  # type: ignore[union-attr]
    hop = (router["PrivateIpAddress"], net["subnets"]["router"])
    expected = {SubnetRoute(net["subnets"]["client"], c, *hop) for c in ("10.71.2.0/24", "192.0.2.0/24")}
    assert set(vpc_net.subnet_routes) == expected
    ec2.stop_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert routes_to(ec2, table, "10.71.2.0/24")["State"] == "blackhole"
    until("the next hops dropped", lambda: {r.via for r in vpc_net.subnet_routes} == {None}, timeout=10, every=0.1)
    ec2.start_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert routes_to(ec2, table, "10.71.2.0/24")["State"] == "active"
    until("the next hops back", lambda: set(vpc_net.subnet_routes) == expected, timeout=10, every=0.1)
    ec2.replace_route(RouteTableId=table, DestinationCidrBlock="192.0.2.0/24", InstanceId=iid)
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="192.0.2.0/24")
    ec2.delete_route(RouteTableId=table, DestinationCidrBlock="10.71.2.0/24")
    assert vpc_net.subnet_routes == []


def test_route_errors(net: dict[str, Any]) -> None:
    ec2, table, router = net["ec2"], net["table"], net["router"]
    iid, eni = router["InstanceId"], router["NetworkInterfaces"][0]["NetworkInterfaceId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.72.1.0/24")["Subnet"]["SubnetId"]
    stranger = ec2.create_network_interface(SubnetId=other_subnet)["NetworkInterface"]["NetworkInterfaceId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
    extra = ec2.create_network_interface(SubnetId=net["subnets"]["router"])["NetworkInterface"]["NetworkInterfaceId"]
    try:
        cases = [
            ({"InstanceId": "i-0123456789abcdef0"}, "InvalidInstanceID.NotFound", None),
            ({"NetworkInterfaceId": "eni-0123456789abcdef0"}, "InvalidNetworkInterfaceID.NotFound", None),
            ({"NetworkInterfaceId": stranger}, "InvalidParameterValue",
             f"route table {table} and network interface {stranger} belong to different networks"),
            ({"InstanceId": iid, "NetworkInterfaceId": eni}, "InvalidParameterCombination", None),
        ]
        for target, expected, message in cases:
            with pytest.raises(ClientError) as info:
                ec2.create_route(RouteTableId=table, DestinationCidrBlock="198.51.100.0/24", **target)
            assert error(info)[0] == expected, target
            assert message is None or error(info)[1] == message
        with pytest.raises(ClientError) as info:  # more specific than local: ENIs (and NAT gateways) only
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="10.71.2.0/24", GatewayId=igw)
        assert error(info) == ("InvalidParameterValue", "Route target is not supported. This route only supports "
                                                        "interface and instance targets.")
        ec2.attach_network_interface(NetworkInterfaceId=extra, InstanceId=iid, DeviceIndex=1)
        with pytest.raises(ClientError) as info:
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="198.51.100.0/24", InstanceId=iid)
        assert error(info) == ("InvalidInstanceID", f"There are multiple interfaces attached to instance '{iid}'. "
                                                    "Please specify an interface ID for the operation instead.")
        with pytest.raises(ClientError) as info:
            ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
        assert error(info)[0] == "InvalidInstanceID"
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="198.51.100.0/24", NetworkInterfaceId=extra)
        attachment = ec2.describe_network_interfaces(NetworkInterfaceIds=[extra])["NetworkInterfaces"][0][
            "Attachment"]["AttachmentId"]
        ec2.detach_network_interface(AttachmentId=attachment)
        route = routes_to(ec2, table, "198.51.100.0/24")
        assert route["State"] == "blackhole" and "InstanceId" not in route and route["NetworkInterfaceId"] == extra
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock="198.51.100.0/24")
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=extra)
        ec2.delete_network_interface(NetworkInterfaceId=stranger)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_subnet(SubnetId=other_subnet)
        ec2.delete_vpc(VpcId=other_vpc)


def test_source_dest_check(api: LoopbackApi, net: dict[str, Any]) -> None:
    ec2, router = net["ec2"], net["router"]
    iid, eni = router["InstanceId"], router["NetworkInterfaces"][0]["NetworkInterfaceId"]
    fw = api.runtime.parts.firewall  # type: ignore[union-attr]
    ns = api.runtime.parts.networks["us-east-1"].netns_name(net["vpc"])  # type: ignore[union-attr]

    def port_check() -> bool:
        return next(p for p in fw.state[ns][1] if p.eni_id == eni).source_dest_check

    def shown() -> tuple[bool, bool, bool, bool]:
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return (inst["SourceDestCheck"], inst["NetworkInterfaces"][0]["SourceDestCheck"],
                ec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"],
                ec2.describe_network_interface_attribute(NetworkInterfaceId=eni, Attribute="sourceDestCheck")[
                    "SourceDestCheck"]["Value"])

    assert shown() == (True,) * 4 and port_check()
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    assert shown() == (False,) * 4 and not port_check()
    ec2.reset_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")
    assert shown() == (True,) * 4 and port_check()
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, SourceDestCheck={"Value": False})
    assert shown() == (False,) * 4 and not port_check()
    assert ec2.describe_network_interfaces(Filters=[{"Name": "source-dest-check", "Values": ["false"]}])[
        "NetworkInterfaces"][0]["NetworkInterfaceId"] == eni
    ec2.reset_network_interface_attribute(NetworkInterfaceId=eni, SourceDestCheck="sourceDestCheck")
    assert shown() == (True,) * 4 and port_check()
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Description={"Value": "the router"})
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni, Attribute="description")[
        "Description"] == {"Value": "the router"}
    groups = ec2.describe_network_interface_attribute(NetworkInterfaceId=eni, Attribute="groupSet")["Groups"]
    assert [g["GroupId"] for g in groups] == [g["GroupId"] for g in router["SecurityGroups"]]
    for kwargs, expected in (({}, "MissingParameter"),
                             ({"SourceDestCheck": {"Value": False}, "Description": {"Value": "x"}},
                              "InvalidParameterCombination"),
                             ({"AssociatePublicIpAddress": True}, "UnsupportedOperation")):
        with pytest.raises(ClientError) as info:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, **kwargs)
        assert error(info)[0] == expected, kwargs
    with pytest.raises(ClientError) as info:
        ec2.modify_network_interface_attribute(NetworkInterfaceId="eni-0123456789abcdef0",
                                               SourceDestCheck={"Value": False})
    assert error(info)[0] == "InvalidNetworkInterfaceID.NotFound"
