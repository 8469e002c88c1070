"""The reverse DNS of an Elastic IP really served (real ec2d: namespaces and dnsmasq, no guest):
after ModifyAddressAttribute, a reverse lookup of the address asked from inside each VPC namespace
of the region to that VPC's resolver (base + 2) answers the name; after ResetAddressAttribute it
no longer does."""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any


def reverse(ec2d: Any, vpc: dict[str, Any], ip: str) -> str:
    """busybox nslookup of ``ip`` run in the VPC's namespace against the VPC's resolver."""
    resolver = str(ipaddress.ip_network(vpc["CidrBlock"]).network_address + 2)
    out = subprocess.run(["ip", "netns", "exec", f"{ec2d.config.prefix}-{vpc['VpcId']}", "busybox", "nslookup",
                          ip, resolver], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def test_ptr_record_answered_in_every_vpc(ec2d: Any, ec2: Any) -> None:
    eip = ec2.allocate_address(Domain="vpc")
    other = ec2.create_vpc(CidrBlock="10.181.0.0/16")["Vpc"]
    try:
        vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] in (other["VpcId"],) or v["IsDefault"]]
        assert len(vpcs) == 2
        for vpc in vpcs:
            assert "mail.example.com" not in reverse(ec2d, vpc, eip["PublicIp"])
        out = ec2.modify_address_attribute(AllocationId=eip["AllocationId"], DomainName="mail.example.com")
        assert out["Address"]["PtrRecordUpdate"]["Status"] == "PENDING"
        for vpc in vpcs:  # served before the call answered
            answer = reverse(ec2d, vpc, eip["PublicIp"])
            assert "name = mail.example.com" in answer, answer
        ec2.reset_address_attribute(AllocationId=eip["AllocationId"], Attribute="domain-name")
        for vpc in vpcs:
            assert "mail.example.com" not in reverse(ec2d, vpc, eip["PublicIp"])
    finally:
        ec2.release_address(AllocationId=eip["AllocationId"])
        ec2.delete_vpc(VpcId=other["VpcId"])
