"""Render docs/ec2-actions.md: every operation of botocore's EC2 model, whether ec2d serves it (an
``@action`` handler is registered for it, orchestrator/api/registry.py) or refuses it (the EC2
protocol's ``UnsupportedOperation``, "The action X is not supported by ec2d yet."), and for a served
action a note: the hand-written ``NOTES`` below (values ec2d refuses, parameters it accepts without
effect and why), then the top-level input members whose names appear nowhere in ec2d's code, so
that no value of theirs can have an effect (a lower bound: a name read for another action counts
as read).

Deterministic (sorted, no dates): tests/api/test_ec2_support_table.py re-renders it and compares.
Run from the repository root after adding or removing an action:

    PYTHONPATH=. /work/main/.venv/bin/python scripts/ec2_support_table.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import botocore
import botocore.session

from orchestrator.api.handlers import load_all
from orchestrator.api.registry import get_service

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "ec2-actions.md"
CODE = ROOT / "orchestrator"

# Members every served action handles in the shared layers (api/dispatch.py: DryRun; api/describe.py
# and api/filters.py: Filters and pages), whatever the handler reads.
SHARED = frozenset({"DryRun"})
# members a served action refuses (UnsupportedOperation) by not being among those it serves: not "no effect"
REFUSED = {"ModifyNetworkInterfaceAttribute": frozenset({
    "AssociatePublicIpAddress", "AssociatedSubnetIds", "ConnectionTrackingSpecification", "EnaSrdSpecification",
    "EnablePrimaryIpv6"})}

# What a reader must know about a served action beyond "served": values refused (with the code)
# and parameters accepted without effect. Keep in step with the UnsupportedOperation sites
# (grep UnsupportedOperation orchestrator/) and the services' checks.
NOTES: dict[str, str] = {
    "AssociateVpcCidrBlock": "IPv4 `CidrBlock` (a secondary block, with EC2's restrictions) or IPv6 "
                             "`AmazonProvidedIpv6CidrBlock` (a /56 of ec2d's pool 2001:db8::/32); BYOIP `Ipv6Pool` "
                             "and IPAM pools refused (NotFound)",
    "CreateSubnet": "`Ipv6CidrBlock`: a /64 of the VPC's /56; `Ipv6Native` with only `Ipv6CidrBlock`: an "
                    "IPv6-only subnet (DHCPv6 + RA only, resource-name hostnames)",
    "AssignIpv6Addresses": "`Ipv6PrefixCount`/`Ipv6Prefixes` (prefix delegation) refused (InvalidParameterValue)",
    "UnassignIpv6Addresses": "`Ipv6Prefixes` refused (InvalidParameterValue)",
    "CreateSubnetCidrReservation": "IPv4 only; a `prefix` reservation's addresses are never assigned (ec2d does "
                                   "no prefix delegation)",
    "ModifyAddressAttribute": "the name's forward record is not checked in public DNS (ec2d has none); the VPC "
                              "resolvers of the region answer the PTR and that forward record",
    "CreateVpcEndpoint": "Gateway endpoints for S3 (`com.amazonaws.REGION.s3`); Interface endpoints for ec2, sts, "
                         "elasticloadbalancing and autoscaling (an ENI per subnet serving ec2d's HTTPS endpoint "
                         "behind the endpoint's security groups, private DNS); S3 as Interface and `VpcEndpointType` "
                         "GatewayLoadBalancer, Resource, ServiceNetwork refused (UnsupportedOperation); IPv4 only "
                         "(`IpAddressType`/`DnsOptions` other than ipv4 refused, UnsupportedOperation); `SubnetIds`/"
                         "`SecurityGroupIds` refused for a Gateway endpoint and `RouteTableIds` for an Interface "
                         "one (InvalidParameter, as EC2)",
    "ModifyVpcEndpoint": "route tables (Gateway), subnets, security groups and private DNS (Interface), the policy; "
                         "the other kind's parameters refused (InvalidParameter, as EC2)",
    "CreateVpcPeeringConnection": "`PeerOwnerId` other than the caller's account refused (UnsupportedOperation: "
                                  "ec2d serves one account); `PeerRegion` must be a region ec2d serves",
    "AuthorizeSecurityGroupEgress": "`Ipv6Ranges` (and ICMPv6 type/code) compiled to the group's ip6 rules; "
                                    "`PrefixListIds` (managed prefix lists) compiled to the list's CIDRs, "
                                    "counted as its MaxEntries rules",
    "AuthorizeSecurityGroupIngress": "`Ipv6Ranges` (and ICMPv6 type/code) compiled to the group's ip6 rules; "
                                     "`PrefixListIds` (managed prefix lists) compiled to the list's CIDRs, "
                                     "counted as its MaxEntries rules",
    "CreateManagedPrefixList": "`AddressFamily=IPv6` refused (UnsupportedOperation: ec2d's VPCs are IPv4 only)",
    "DescribePrefixLists": "the AWS-managed `com.amazonaws.REGION.s3` (S3's address of the region)",
    "CopyImage": "`Encrypted`/`KmsKeyId` re-encrypt the copies (LUKS in qcow2); a key id or ARN of the account "
                 "and region names a key made on first use (no KMS API)",
    "CopySnapshot": "`Encrypted`/`KmsKeyId` re-encrypt the copy (LUKS in qcow2); a key that names no key ends "
                    "the copy in `error`, as on AWS",
    "CreateVolume": "`Encrypted`/`KmsKeyId`: LUKS in qcow2, the key held by ec2d; a key that names no key makes "
                    "the volume disappear, as on AWS; `MultiAttachEnabled` (io1/io2): a raw file every attached guest "
                    "shares; refused with `Encrypted` (InvalidParameterCombination)",
    "ModifyVolume": "`MultiAttachEnabled` changes on unattached io2 volumes only, as on EC2 (the file is "
                    "converted, qcow2 <-> raw)",
    "DetachVolume": "a Multi-Attach volume attached to several instances needs `InstanceId` (MissingParameter)",
    "CreateRoute": "destination a CIDR or a customer-managed prefix list (`DestinationPrefixListId`, followed as "
                   "it changes); targets: internet gateways (`GatewayId`), NAT gateways (`NatGatewayId`), VPC peering "
                   "connections (a blackhole until active), instances (`InstanceId`: its one ENI) and network "
                   "interfaces (`NetworkInterfaceId`: the VPC routes to the ENI's address, also for destinations "
                   "inside the VPC; a blackhole while its instance is not running); other targets refused "
                   "(UnsupportedOperation); `DestinationIpv6CidrBlock` to an internet gateway, an egress-only "
                   "internet gateway or a peering connection only (other IPv6 targets refused: UnsupportedOperation)",
    "ReplaceRoute": "destination a CIDR or a customer-managed prefix list; targets: internet gateways "
                    "(`GatewayId`), NAT gateways (`NatGatewayId`), VPC peering "
                    "connections (a blackhole until active), instances (`InstanceId`: its one ENI) and network "
                    "interfaces (`NetworkInterfaceId`: the VPC routes to the ENI's address; a blackhole while its "
                    "instance is not running); other targets refused (UnsupportedOperation); "
                    "`DestinationIpv6CidrBlock` to an internet gateway, an egress-only internet gateway or a "
                    "peering connection only",
    "ModifyNetworkInterfaceAttribute": "`SourceDestCheck` (the interface's anti-spoofing; off, it may forward "
                                       "others' traffic), `Description`, `Groups`, `Attachment`'s "
                                       "`DeleteOnTermination`, one per call; the other members refused "
                                       "(UnsupportedOperation)",
    "CreateNatGateway": "one address per gateway: secondary addresses and `AvailabilityZoneAddresses` (regional "
                        "gateways) refused (UnsupportedOperation)",
    "DescribeInstanceTypeOfferings": "`LocationType=outpost`: no offerings (ec2d has no Outposts)",
    "ModifySubnetAttribute": "every attribute; values ec2d cannot honour (IPv6 without a /64, resource-name "
                             "hostnames and DNS64 outside IPv6-only subnets, customer-owned IPs) refused with "
                             "InvalidParameterValue; `EnableDns64` in an IPv6-only subnet recorded only (no NAT64)",
    "RegisterImage": "EBS-backed images from snapshots only; `ImageLocation` without `BlockDeviceMappings` "
                     "refused (UnsupportedOperation: no S3 manifests)",
    "RunInstances": "`InstanceType` must be given in practice: EC2's default `m1.small` is not in ec2d's "
                    "catalogue (InvalidParameterValue); guests run under TCG, so vCPU speed is not the type's",
}

_QUOTED = re.compile(r"""["']([A-Za-z][A-Za-z0-9]*)["']""")


def model() -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model("ec2")


def served() -> set[str]:
    load_all()
    return set(get_service("ec2").handlers)


def names_in_code() -> set[str]:
    """Every quoted identifier in ec2d's Python code (the names a request member is read by)."""
    found: set[str] = set()
    for path in sorted(CODE.rglob("*.py")):
        found.update(_QUOTED.findall(path.read_text()))
    return found


def unread_members(ec2: botocore.model.ServiceModel, action: str, known: set[str]) -> list[str]:
    shape = ec2.operation_model(action).input_shape
    members = list(shape.members) if shape is not None else []
    refused = REFUSED.get(action, frozenset())
    return sorted(m for m in members if m not in SHARED and m not in known and m not in refused)


def note(ec2: botocore.model.ServiceModel, action: str, known: set[str]) -> str:
    parts = [NOTES[action]] if action in NOTES else []
    unread = unread_members(ec2, action, known)
    if unread:
        parts.append("accepted, no effect: " + ", ".join(f"`{m}`" for m in unread))
    return "; ".join(parts)


def render() -> str:
    ec2 = model()
    actions = sorted(ec2.operation_names)
    serving = served()
    unknown = sorted(serving - set(actions))
    if unknown:
        raise SystemExit(f"handlers for actions botocore's model does not have: {unknown}")
    known = names_in_code()
    notes = {a: note(ec2, a, known) for a in actions if a in serving}
    lines = [
        "# EC2 actions in ec2d",
        "",
        "Generated by `scripts/ec2_support_table.py` from botocore's EC2 model "
        f"(botocore {botocore.__version__}, API {ec2.api_version}) and the handlers ec2d registers "
        "(`@action`, orchestrator/api/registry.py). Do not edit: re-run the script.",
        "",
        "A refused action answers `UnsupportedOperation` (\"The action X is not supported by ec2d yet.\", "
        "HTTP 400) once its input is valid for the model. A served one never answers that; its notes say "
        "which values it refuses (some with `UnsupportedOperation` and a reason) and which parameters it "
        "accepts without effect (\"accepted, no effect\": members whose names appear nowhere in ec2d's "
        "code; with the values it refuses, such a member is only ignored alongside accepted ones).",
        "",
        "| | actions |",
        "|---|---|",
        f"| in botocore's EC2 model | {len(actions)} |",
        f"| served by ec2d | {len(serving)} |",
        f"| served, with notes | {sum(1 for n in notes.values() if n)} |",
        f"| refused (UnsupportedOperation) | {len(actions) - len(serving)} |",
        "",
        "## Served",
        "",
        "| Action | Notes |",
        "|---|---|",
    ]
    lines += [f"| {a} | {notes[a]} |" for a in actions if a in serving]
    lines += ["", "## Refused", ""]
    lines += _by_letter([a for a in actions if a not in serving])
    return "\n".join(lines) + "\n"


def _by_letter(names: list[str]) -> list[str]:
    """One paragraph per initial letter (a list of 700-odd names stays readable)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n[0], []).append(n)
    out: list[str] = []
    for letter in sorted(groups):
        out += [f"**{letter}**: " + ", ".join(groups[letter]), ""]
    return out[:-1]


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/ec2_support_table.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
