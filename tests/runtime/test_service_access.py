"""Who reaches S3's address, from the route tables (``runtime/service_access``, pure): a gateway
endpoint's prefix-list route opens the whole subnet, longest prefix first; an internet gateway
only the addresses with a public IP; a NAT gateway the subnet when its own subnet routes to the
IGW; no route or a blackhole nobody. The nft table the VPC driver loads from it."""

from __future__ import annotations

from typing import Any

from test_vpc_state import igw, instance, route_table, world

from orchestrator.domain import vpc_endpoints as ved
from orchestrator.drivers.network import nftables as nft
from orchestrator.drivers.network.vpc import service_access as nft_access
from orchestrator.runtime import service_access, vpc_state
from orchestrator.store.sqlite import Record

REGIONS = ["us-east-1", "us-west-2"]
S3 = ved.s3_address("us-east-1")
S3_WEST = ved.s3_address("us-west-2")
PL = ved.s3_prefix_list_id("us-east-1")
LOCAL = {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active", "Origin": "CreateRouteTable"}
MAIN = [{"RouteTableAssociationId": "rtbassoc-1", "RouteTableId": "rtb-1", "Main": True}]


def view(routes: list[dict[str, Any]], **kw: Any) -> Any:
    return world(route_tables=[route_table([LOCAL, *routes], MAIN)], regions=REGIONS, **kw)


def to_pl(target: str) -> dict[str, Any]:
    return {"DestinationPrefixListId": PL, "GatewayId": target, "State": "active", "Origin": "CreateRoute"}


def test_nothing_reaches_s3_without_a_route() -> None:
    assert service_access.s3_access(view([])) == {S3: (), S3_WEST: ()}


def test_a_gateway_endpoint_opens_its_region_for_the_whole_subnet() -> None:
    assert service_access.s3_access(view([to_pl("vpce-1")], endpoints=["vpce-1"])) == \
        {S3: ("10.0.1.0/24", "10.0.2.0/24"), S3_WEST: ()}
    # a deleted endpoint's route (not live): a blackhole
    assert service_access.s3_access(view([to_pl("vpce-1")])) == {S3: (), S3_WEST: ()}


def test_the_internet_gateway_takes_only_addresses_with_a_public_ip() -> None:
    default = {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active", "Origin": "CreateRoute"}
    instances = [instance("i-run", "running", "10.0.1.10", "eni-a"), instance("i-b", "running", "10.0.2.20", "eni-b")]
    got = service_access.s3_access(view([default], igw=igw(), instances=instances, public_ips={"i-run": "198.18.0.5"}))
    assert got == {S3: ("10.0.1.10/32",), S3_WEST: ("10.0.1.10/32",)}
    # the endpoint's /32 is more specific than 0.0.0.0/0: us-east-1's S3 goes through it
    got = service_access.s3_access(view([default, to_pl("vpce-1")], igw=igw(), instances=instances,
                                        public_ips={"i-run": "198.18.0.5"}, endpoints=["vpce-1"]))
    assert got == {S3: ("10.0.1.0/24", "10.0.2.0/24"), S3_WEST: ("10.0.1.10/32",)}


def test_a_nat_gateway_whose_subnet_routes_to_the_igw() -> None:
    nat = Record("nat-1", "natgateway", "us-east-1", "available", {
        "VpcId": "vpc-1", "SubnetId": "subnet-a", "ConnectivityType": "public", "CreateTime": "",
        "NatGatewayAddresses": [{"NetworkInterfaceId": "eni-n", "PrivateIp": "10.0.1.9", "IsPrimary": True,
                                 "Status": "succeeded", "AllocationId": "eipalloc-1", "PublicIp": "198.18.0.9"}]})
    public = route_table([LOCAL, {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active",
                                  "Origin": "CreateRoute"}],
                         [{"RouteTableAssociationId": "a", "RouteTableId": "rtb-1", "SubnetId": "subnet-a",
                           "Main": False}])
    private = Record("rtb-2", "route-table", "us-east-1", "available", {
        "VpcId": "vpc-1", "Associations": MAIN,
        "Routes": [LOCAL, {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active",
                           "Origin": "CreateRoute"}]})
    got = service_access.s3_access(world(route_tables=[public, private], regions=REGIONS, igw=igw(),
                                         nat_gateways=[nat]))
    assert got[S3] == ("10.0.2.0/24",)  # subnet-b through the NAT; subnet-a has no public IP of its own
    got = service_access.s3_access(world(route_tables=[public, private], regions=REGIONS, nat_gateways=[nat]))
    assert got[S3] == ()  # no internet gateway: the NAT gateway goes nowhere


def test_endpoint_of_a_source_address() -> None:
    v = view([to_pl("vpce-1")], endpoints=["vpce-1"])
    live = {"local", "vpce-1"}
    assert service_access.endpoint_of(v.route_tables, v.subnets, live, REGIONS, "10.0.2.7", S3) == "vpce-1"
    assert service_access.endpoint_of(v.route_tables, v.subnets, live, REGIONS, "10.0.2.7", S3_WEST) is None
    assert service_access.endpoint_of(v.route_tables, v.subnets, live, REGIONS, "10.9.0.1", S3) is None


def test_the_nft_table_drops_all_but_the_allowed_sources() -> None:
    text = nft.replace_table(nft_access.table({S3: ("10.0.1.0/24",), S3_WEST: ()}))
    assert f"ip daddr {S3} ip saddr {{ 10.0.1.0/24 }} accept\n\t\tip daddr {S3} drop" in text
    assert f"ip daddr {S3_WEST} drop" in text and 'iifname "lo" accept' in text


def test_s3_addresses_are_a_local_port_open_to_all() -> None:
    """So the firewall's input chains apply the sending port's egress rules to S3 traffic."""
    ports, groups = vpc_state.firewall_model(view([]), str)
    [s3] = [p for p in ports if p.eni_id == vpc_state.S3_PORT]
    assert s3.local and s3.ips == tuple(sorted((S3, S3_WEST))) and s3.group_ids == (vpc_state.S3_GROUP,)
    assert groups[vpc_state.S3_GROUP].ingress[0].cidrs == ("0.0.0.0/0",)
    assert vpc_state.S3_PORT not in [p.eni_id for p in vpc_state.firewall_model(world(), str)[0]]  # no regions
