"""The VPC state as pure functions of hand-made records (no store, no drivers, no I/O): DHCP
leases, the firewall model, the 1:1 NAT table and the metadata table."""

from __future__ import annotations

import base64
from typing import Any

from orchestrator.drivers.network import firewall as fw
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.runtime import vpc_state
from orchestrator.runtime.vpc_state import VpcView
from orchestrator.store.sqlite import Record

REGION = "us-east-1"
MACS = {"eni-a": "02:00:00:00:00:0a", "eni-b": "02:00:00:00:00:0b", "eni-c": "02:00:00:00:00:0c",
        "eni-d": "02:00:00:00:00:0d"}


def vpc() -> Record:
    return Record("vpc-1", "vpc", REGION, "available", {"CidrBlock": "10.0.0.0/16"})


def subnet(sid: str, cidr: str) -> Record:
    return Record(sid, "subnet", REGION, "available", {"VpcId": "vpc-1", "CidrBlock": cidr})


def eni(eid: str, ip: str, mac: str, subnet_id: str = "subnet-a", groups: tuple[str, ...] = ("sg-web",),
        secondary: tuple[str, ...] = (), device: int | None = None) -> Record:
    return Record(eid, "network-interface", REGION, "in-use", {
        "VpcId": "vpc-1", "SubnetId": subnet_id, "PrivateIpAddress": ip, "MacAddress": mac, "OwnerId": "123",
        "Groups": [{"GroupId": g, "GroupName": g.removeprefix("sg-")} for g in groups],
        "SecondaryPrivateIps": list(secondary),
        "Attachment": {"DeviceIndex": device} if device is not None else None})


def instance(iid: str, state: str, ip: str, eni_id: str, **extra: Any) -> Record:
    data = {
        "VpcId": "vpc-1", "SubnetId": "subnet-a", "PrivateIpAddress": ip, "MacAddress": MACS[eni_id],
        "NetworkInterfaceId": eni_id, "ImageId": "ami-1", "InstanceType": "t3.micro", "ReservationId": "r-1",
        "AvailabilityZone": "us-east-1a", "OwnerId": "123", "LaunchTime": "2026-01-02T03:04:05.000Z",
        "AmiLaunchIndex": 0, "SecurityGroups": [{"GroupId": "sg-web", "GroupName": "web"}],
        "KeyName": "me", "PublicKey": "ssh-ed25519 AAAA me", "UserData": base64.b64encode(b"#!/bin/sh").decode(),
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda"}, {"DeviceName": "/dev/sdf"}],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2,
                            "InstanceMetadataTags": "enabled"},
    }
    data.update(extra)
    return Record(iid, "instance", REGION, state, data)


def web_group() -> Record:
    return Record("sg-web", "security-group", REGION, "available", {"VpcId": "vpc-1", "GroupName": "web", "Rules": [
        {"IsEgress": False, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0",
         "ReferencedGroupId": None},
        {"IsEgress": True, "IpProtocol": "-1", "FromPort": None, "ToPort": None, "CidrIpv4": "0.0.0.0/0",
         "ReferencedGroupId": None}]})


def igw() -> Record:
    return Record("igw-1", "internet-gateway", REGION, "available", {"Attachments": [{"VpcId": "vpc-1"}]})


def route_table(routes: list[dict[str, Any]], associations: list[dict[str, Any]]) -> Record:
    return Record("rtb-1", "route-table", REGION, "available",
                  {"VpcId": "vpc-1", "Routes": routes, "Associations": associations})


def world(**kw: Any) -> VpcView:
    """Three instances: one running (with a second ENI), one stopped, one pending."""
    enis = {
        "i-run": [eni("eni-a", "10.0.1.10", "02:00:00:00:00:0a", secondary=("10.0.1.11",)),
                  eni("eni-b", "10.0.2.20", "02:00:00:00:00:0b", subnet_id="subnet-b", device=1)],
        "i-stop": [eni("eni-c", "10.0.1.30", "02:00:00:00:00:0c")],
        "i-pend": [eni("eni-d", "10.0.1.40", "02:00:00:00:00:0d", groups=("sg-web", "sg-unknown"))],
    }
    base = dict(
        vpc=vpc(),
        subnets={"subnet-a": subnet("subnet-a", "10.0.1.0/24"), "subnet-b": subnet("subnet-b", "10.0.2.0/24")},
        instances=[instance("i-run", "running", "10.0.1.10", "eni-a"),
                   instance("i-stop", "stopped", "10.0.1.30", "eni-c"),
                   instance("i-pend", "pending", "10.0.1.40", "eni-d")],
        enis=enis,
        groups=[web_group()],
    )
    base.update(kw)
    return VpcView(**base)


def test_leases_cover_every_eni_of_every_instance_kept() -> None:
    leases = vpc_state.leases(world())
    assert leases == [Lease("02:00:00:00:00:0a", "10.0.1.10", "ip-10-0-1-10"),
                      Lease("02:00:00:00:00:0b", "10.0.2.20", "ip-10-0-2-20"),
                      Lease("02:00:00:00:00:0c", "10.0.1.30", "ip-10-0-1-30"),
                      Lease("02:00:00:00:00:0d", "10.0.1.40", "ip-10-0-1-40")]
    assert vpc_state.leases(world(instances=[])) == []


def test_firewall_model_has_ports_of_active_instances_and_known_groups_only() -> None:
    ports, groups = vpc_state.firewall_model(world(), lambda eni_id: "tap-" + eni_id)
    assert [p.eni_id for p in ports] == ["eni-a", "eni-b", "eni-d"]  # the stopped instance has no port
    first = ports[0]
    assert (first.tap_name, first.mac, first.ips, first.group_ids) == (
        "tap-eni-a", "02:00:00:00:00:0a", ("10.0.1.10", "10.0.1.11"), ("sg-web",))
    assert ports[2].group_ids == ("sg-web",)  # a group not in the VPC's model is left out
    assert groups == {"sg-web": fw.SecurityGroup(
        "sg-web", ingress=(fw.Rule("tcp", 22, 22, cidrs=("0.0.0.0/0",)),),
        egress=(fw.Rule("-1", None, None, cidrs=("0.0.0.0/0",)),))}


def test_a_corrupt_rule_becomes_a_rule_the_firewall_check_refuses() -> None:
    bad = web_group()
    bad.data["Rules"] = ["not a mapping"]
    group = vpc_state.firewall_group(bad)
    assert len(group.ingress) == 1
    try:
        fw.check_rule(group.ingress[0])
    except fw.InvalidArgument:
        pass
    else:
        raise AssertionError("a corrupt rule must fail the compiler's check (the group then allows nothing)")


def test_legacy_groups_get_ec2s_default_rules() -> None:
    legacy = Record("sg-d", "security-group", REGION, "available",
                    {"VpcId": "vpc-1", "GroupName": "default", "IpPermissions": [], "IpPermissionsEgress": []})
    group = vpc_state.firewall_group(legacy)
    assert group.ingress == (fw.Rule("-1", None, None, group_ids=("sg-d",)),)  # members talk to each other
    assert group.egress == (fw.Rule("-1", None, None, cidrs=("0.0.0.0/0",)),)
    assert "IpPermissions" not in legacy.data


def test_nat_needs_a_public_ip_a_public_subnet_and_a_holding_state() -> None:
    public = {"i-run": "198.18.0.5", "i-stop": "198.18.0.6", "i-pend": "198.18.0.7"}
    to_igw = [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"}]
    main = route_table(to_igw, [{"Main": True}])
    view = world(public_ips=public, igw=igw(), route_tables=[main])
    assert vpc_state.nat_table(view) == {"198.18.0.5": "10.0.1.10", "198.18.0.7": "10.0.1.40"}
    assert vpc_state.nat_table(world(public_ips=public, route_tables=[main])) == {}  # no gateway attached
    private = route_table([], [{"SubnetId": "subnet-a"}])  # the subnet's own table wins over the main one
    assert vpc_state.nat_table(world(public_ips=public, igw=igw(), route_tables=[private, main])) == {}


def test_metadata_table_serves_active_instances_with_their_interfaces() -> None:
    asked: list[str] = []

    def credentials(iid: str) -> dict[str, object]:
        asked.append(iid)
        return {"AccessKeyId": "ASIA" + iid}

    view = world(public_ips={"i-run": "198.18.0.5"}, tags={"i-run": {"Name": "web"}},
                 zone_ids={"us-east-1a": "use1-az1"},
                 images={"ami-1": Record("ami-1", "image", REGION, "available", {"ImageLocation": "ec2d/tiny"})})
    table = vpc_state.metadata_table(view, credentials)
    assert sorted(table) == ["10.0.1.10", "10.0.1.40"]
    md = table["10.0.1.10"]
    assert (md.instance_id, md.availability_zone_id, md.ami_manifest_path) == ("i-run", "use1-az1", "ec2d/tiny")
    assert md.block_device_mapping == {"ami": "/dev/xvda", "root": "/dev/xvda", "ebs1": "/dev/sdf"}
    assert md.tags == {"Name": "web"} and md.user_data == b"#!/bin/sh" and md.public_ip == "198.18.0.5"
    assert md.public_keys == [("me", "ssh-ed25519 AAAA me")]
    assert asked == []  # credentials are asked for when the guest asks, not when the table is built
    assert md.identity_credentials() == {"AccessKeyId": "ASIAi-run"} and asked == ["i-run"]
    nics = md.network_interfaces
    assert [(n.interface_id, n.device_number, n.public_ip) for n in nics] == [
        ("eni-a", 0, "198.18.0.5"), ("eni-b", 1, None)]
    assert nics[0].private_ips == ["10.0.1.10", "10.0.1.11"]
    assert nics[0].local_hostname == "ip-10-0-1-10.ec2.internal"
    assert nics[0].public_hostname == "ec2-198-18-0-5.compute-1.amazonaws.com"
    assert nics[1].subnet_cidr == "10.0.2.0/24"
    pending = table["10.0.1.40"]
    assert pending.ami_manifest_path == "ec2d/tiny" and pending.availability_zone_id == "use1-az1"


def test_tags_reach_the_metadata_only_when_the_instance_allows_it() -> None:
    run = instance("i-run", "running", "10.0.1.10", "eni-a")
    run.data["MetadataOptions"]["InstanceMetadataTags"] = "disabled"
    view = world(instances=[run], tags={"i-run": {"Name": "web"}})
    assert vpc_state.metadata_table(view, lambda i: {})["10.0.1.10"].tags == {}
    assert vpc_state.public_dns_name("198.18.0.5", "eu-west-1") == "ec2-198-18-0-5.eu-west-1.compute.amazonaws.com"


def test_load_balancer_nodes_are_local_ports_addresses_names_and_nat() -> None:
    name = "web-1234567890.us-east-1.elb.amazonaws.com"
    nodes = [vpc_state.LocalNode("eni-la", "subnet-a", "10.0.1.200", ("sg-web", "sg-gone"), "198.18.0.9", name),
             vpc_state.LocalNode("eni-lb", "subnet-b", "10.0.2.200", ("sg-web",), None, name),
             vpc_state.LocalNode("eni-lx", "subnet-x", "10.0.9.200", ("sg-web",), None, name)]  # subnet unknown
    to_igw = [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"}]
    view = world(nodes=nodes, igw=igw(), route_tables=[route_table(to_igw, [{"Main": True}])])
    ports, _ = vpc_state.firewall_model(view, lambda eni_id: "tap-" + eni_id)
    local = [p for p in ports if p.local]
    assert [(p.eni_id, p.ips, p.group_ids, p.tap_name) for p in local][:2] == [
        ("eni-la", ("10.0.1.200",), ("sg-web",), ""), ("eni-lb", ("10.0.2.200",), ("sg-web",), "")]
    assert [(a.subnet_id, a.ip) for a in vpc_state.local_addresses(view)] == [
        ("subnet-a", "10.0.1.200"), ("subnet-b", "10.0.2.200")]
    assert [(r.name, r.ip) for r in vpc_state.host_records(view)] == [(name, "10.0.1.200"), (name, "10.0.2.200")]
    assert vpc_state.nat_table(view) == {"198.18.0.9": "10.0.1.200"}  # only nodes with a public IP
    assert vpc_state.nat_table(world(nodes=nodes, igw=igw())) == {}  # no route to the gateway: no NAT


def test_a_rule_naming_a_prefix_list_matches_the_lists_cidrs() -> None:
    group = web_group()
    rule = vpc_state.stored_rule(group.id, egress=False, protocol="tcp", from_port=443, to_port=443, cidr=None,
                                 group=None, description=None, prefix_list="pl-0123456789abcdef0")
    group.data["Rules"] = [rule]
    assert vpc_state.prefix_list_ids([group]) == {"pl-0123456789abcdef0"}
    lists = {"pl-0123456789abcdef0": ("10.1.0.0/16", "192.0.2.7/32")}
    assert vpc_state.firewall_group(group, lists).ingress == (
        fw.Rule("tcp", 443, 443, cidrs=("10.1.0.0/16", "192.0.2.7/32")),)
    view = VpcView(vpc=world().vpc, subnets=world().subnets, instances=(), enis={}, groups=[group], prefix_lists=lists)
    assert vpc_state.firewall_model(view, str)[1][group.id].ingress[0].cidrs == ("10.1.0.0/16", "192.0.2.7/32")
    assert vpc_state.firewall_group(group).ingress == (fw.Rule("tcp", 443, 443),)  # unknown list: matches nothing
    fw.check_rule(vpc_state.firewall_group(group).ingress[0])


def v6only_world() -> VpcView:
    """One running instance of an IPv6-only subnet (no IPv4 anywhere), AAAA records asked for."""
    sub = Record("subnet-6", "subnet", REGION, "available", {"VpcId": "vpc-1", "Ipv6Native": True,
                 "Ipv6CidrBlockAssociationSet": [{"Ipv6CidrBlock": "2001:db8:0:1::/64"}]})
    nic = eni("eni-a", "", MACS["eni-a"], subnet_id="subnet-6")
    del nic.data["PrivateIpAddress"]
    nic.data["Ipv6Addresses"] = ["2001:db8:0:1::4", "2001:db8:0:1::5"]
    inst = instance("i-06", "running", "", "eni-a", SubnetId="subnet-6", PrivateDnsNameOptions={
        "HostnameType": "resource-name", "EnableResourceNameDnsARecord": False,
        "EnableResourceNameDnsAAAARecord": True})
    del inst.data["PrivateIpAddress"]
    inst.data["MetadataOptions"]["HttpProtocolIpv6"] = "enabled"
    return world(subnets={"subnet-6": sub}, instances=[inst], enis={"i-06": [nic]})


def test_an_ipv6_only_instance_has_dhcpv6_ipv6_ports_metadata_and_aaaa() -> None:
    view = v6only_world()
    assert vpc_state.leases(view) == [Lease(MACS["eni-a"], None, "i-06", "2001:db8:0:1::4")]
    ports, _ = vpc_state.firewall_model(view, lambda e: "tap" + e)
    assert [(p.ips, p.ipv6s) for p in ports] == [((), ("2001:db8:0:1::4", "2001:db8:0:1::5"))]
    assert vpc_state.nat_table(view) == {}
    table = vpc_state.metadata_table(view, lambda iid: {})
    assert sorted(table) == ["2001:db8:0:1::4"]  # known by its first IPv6 address
    md = table["2001:db8:0:1::4"]
    assert md.private_ip is None and md.local_hostname == "i-06.ec2.internal" and md.subnet_cidr is None
    (nic,) = md.network_interfaces
    assert nic.private_ips == [] and nic.local_hostname == "i-06.ec2.internal"
    assert sorted(vpc_state.metadata_table6(view, table)) == ["2001:db8:0:1::4", "2001:db8:0:1::5"]
    assert [(r.name, r.ip) for r in vpc_state.host_records(view)] == [("i-06.ec2.internal", "2001:db8:0:1::4")]


def test_interface_endpoint_enis_are_local_ports_addresses_names_and_listeners() -> None:
    names = ("vpce-1-abc.sts.us-east-1.vpce.amazonaws.com", "sts.us-east-1.amazonaws.com")
    nodes = [vpc_state.EndpointNode("eni-ea", "subnet-a", "10.0.1.210", ("sg-web", "sg-gone"), names),
             vpc_state.EndpointNode("eni-ex", "subnet-x", "10.0.9.210", ("sg-web",), names)]  # subnet unknown
    view = world(endpoint_nodes=nodes)
    ports, _ = vpc_state.firewall_model(view, lambda eni_id: "tap-" + eni_id)
    [port] = [p for p in ports if p.eni_id == "eni-ea"]
    assert port.local and port.ips == ("10.0.1.210",) and port.group_ids == ("sg-web",)  # unknown groups dropped
    assert [(a.subnet_id, a.ip) for a in vpc_state.local_addresses(view)] == [("subnet-a", "10.0.1.210")]
    assert [(r.name, r.ip) for r in vpc_state.host_records(view)] == [(n, "10.0.1.210") for n in names]
    assert vpc_state.endpoint_addresses(view) == ["10.0.1.210"]
    assert vpc_state.nat_table(view) == {}
