"""What a VPC's DHCP server hands out, from the VPC and its DHCP options set (pure)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import dhcp_options as dopt
from orchestrator.drivers.network.dnsmasq import DhcpOptions
from orchestrator.runtime.dhcp_state import NO_SET, vpc_dhcp_options
from orchestrator.store.sqlite import Record


def vpc(dopt_id: str, cidr: str = "10.7.0.0/16") -> Record:
    return Record(id="vpc-0123456789abcdef0", type="vpc", region="us-east-1", state="available",
                  data={"CidrBlock": cidr, "DhcpOptionsId": dopt_id})


def options_set(configurations: list[dict[str, Any]], dopt_id: str = "dopt-0123456789abcdef0") -> Record:
    return Record(id=dopt_id, type="dhcp-options", region="us-east-1", state="available",
                  data={"DhcpConfigurations": configurations, "OwnerId": "123456789012"})


def test_the_region_default_set_is_the_domain_and_the_vpc_resolver() -> None:
    for region, domain in (("us-east-1", "ec2.internal"), ("eu-west-1", "eu-west-1.compute.internal")):
        got = vpc_dhcp_options(vpc("dopt-0123456789abcdef0", "172.31.0.0/16"),
                               options_set(dopt.default_configurations(region)))
        assert got == DhcpOptions(domain, ("172.31.0.2",))


def test_a_custom_set_in_order_with_amazon_provided_dns_resolved() -> None:
    confs = dopt.parse([{"Key": "domain-name-servers", "Values": ["10.9.9.9", "AmazonProvidedDNS"]},
                        {"Key": "domain-name", "Values": ["example.internal"]},
                        {"Key": "ntp-servers", "Values": ["10.0.0.123", "fd00:ec2::123"]},
                        {"Key": "netbios-name-servers", "Values": ["10.0.0.44"]},
                        {"Key": "netbios-node-type", "Values": ["8"]},
                        {"Key": "ipv6-address-preferred-lease-time", "Values": ["3600"]}])
    got = vpc_dhcp_options(vpc("dopt-0123456789abcdef0"), options_set(confs))
    assert got == DhcpOptions("example.internal", ("10.9.9.9", "10.7.0.2"), ("10.0.0.123",), ("10.0.0.44",), 8)


def test_a_set_without_name_servers_hands_out_none() -> None:
    got = vpc_dhcp_options(vpc("dopt-0123456789abcdef0"), options_set([{"Key": "domain-name", "Values": ["x.y"]}]))
    assert got == DhcpOptions("x.y", ())


def test_no_set_is_the_link_local_resolver_only() -> None:
    assert vpc_dhcp_options(vpc("default"), None) == NO_SET == DhcpOptions(None, ("169.254.169.253",))
    # a record that is not the VPC's set (a stale read) is not used
    assert vpc_dhcp_options(vpc("default"), options_set(dopt.default_configurations("us-east-1"))) == NO_SET
