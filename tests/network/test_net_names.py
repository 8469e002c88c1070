from __future__ import annotations

import pytest

from orchestrator.drivers.network import names
from orchestrator.drivers.network.errors import InvalidArgument

ENI = "eni-0123456789abcdef0"
SUBNET = "subnet-0fedcba9876543210"


def test_names_are_short_deterministic_and_recognisable() -> None:
    assert names.netns_name("ec2d", "vpc-0123456789abcdef0") == "ec2d-vpc-0123456789abcdef0"
    assert names.bridge_name(SUBNET) == "brcba9876543210"
    assert names.tap_name("ec2d", ENI) == "ec2dt789abcdef0"
    for prefix in ("ec2d", "e", "ec2dt1a2b", "averylongprefix1"):
        tap = names.tap_name(prefix, ENI)
        assert len(tap) <= names.IFNAME_MAX
        assert names.is_tap_name(prefix, tap)
        assert names.tap_name(prefix, ENI) == tap
    assert len(names.bridge_name(SUBNET)) <= names.IFNAME_MAX
    assert names.tap_name("ec2d", "eni-1a2b3c4d") == "ec2dt1a2b3c4d"  # old 8-hex ids


def test_tap_tags_of_different_prefixes_do_not_match_each_other() -> None:
    prod, test = "ec2d", "ec2dt1a2b"
    assert names.tap_tag(prod) == "ec2dt" and names.tap_tag(test) == "e1a2b"
    assert not names.is_tap_name(test, names.tap_name(prod, ENI))
    assert not names.is_tap_name(prod, names.tap_name(test, ENI))
    assert not names.is_tap_name(prod, "eth0")
    assert names.netns_prefix(prod) == "ec2d-"
    assert not names.netns_name(test, "vpc-0123456789abcdef0").startswith(names.netns_prefix(prod))


def test_bridge_mac_is_fixed_local_unicast() -> None:
    mac = names.bridge_mac(SUBNET)
    assert mac == names.bridge_mac(SUBNET) and mac.startswith("02:") and len(mac) == 17


def test_dns_names_and_addresses() -> None:
    assert names.private_dns_name("10.0.1.5", "us-east-1") == "ip-10-0-1-5.ec2.internal"
    assert names.private_dns_name("10.0.1.5", "eu-west-1") == "ip-10-0-1-5.eu-west-1.compute.internal"
    assert names.subnet_gateway("10.0.1.0/24") == "10.0.1.1"
    assert names.vpc_dns_ip("172.31.0.0/16") == "172.31.0.2"


@pytest.mark.parametrize("bad", ["", "EC2", "1abc", "a-b", "x" * 17])
def test_bad_prefixes(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        names.check_prefix(bad)


def test_bad_ids() -> None:
    with pytest.raises(InvalidArgument):
        names.tap_name("ec2d", "eni-XYZ")
    with pytest.raises(InvalidArgument):
        names.netns_name("ec2d", "../etc")
