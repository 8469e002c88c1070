"""A VPC's secondary IPv4 CIDR blocks: their association states and EC2's rules for adding one.

The associations live in the VPC record's ``CidrBlockAssociationSet`` (the primary first), each
moving along :data:`CIDR_ASSOCIATION`. The rules are those of the VPC user guide ("VPC CIDR
blocks", IPv4 association restrictions): /16 to /28, no overlap with the VPC's CIDRs, the
primary's range family decides which private ranges may join it, at most
:data:`MAX_CIDRS` blocks, and never one the same or larger than a route's destination.
"""

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.lifecycle import Lifecycle

MAX_CIDRS = 5  # EC2's default quota "IPv4 CIDR blocks per VPC" (the primary counts)


class CidrBlockState(StrEnum):
    """``CidrBlockState.State`` of an association (botocore's VpcCidrBlockStateCode)."""

    ASSOCIATING = "associating"
    ASSOCIATED = "associated"
    DISASSOCIATING = "disassociating"
    DISASSOCIATED = "disassociated"
    FAILING = "failing"
    FAILED = "failed"


C = CidrBlockState
CIDR_ASSOCIATION = Lifecycle(
    "vpc cidr block association",
    frozenset({str(C.ASSOCIATING)}),
    {
        str(C.ASSOCIATING): frozenset({str(C.ASSOCIATED), str(C.FAILING)}),  # once the network followed
        str(C.ASSOCIATED): frozenset({str(C.DISASSOCIATING)}),
        str(C.DISASSOCIATING): frozenset({str(C.DISASSOCIATED)}),
        str(C.FAILING): frozenset({str(C.FAILED)}),
        str(C.DISASSOCIATED): frozenset(),
        str(C.FAILED): frozenset(),
    },
)
IN_NETWORK = (str(C.ASSOCIATING), str(C.ASSOCIATED))  # states whose CIDR the network serves


def move(entry: dict[str, Any], target: CidrBlockState) -> dict[str, Any]:
    """Move one ``CidrBlockAssociationSet[]`` entry (in place, and returned)."""
    current = entry["CidrBlockState"]["State"]
    if current != str(target):
        CIDR_ASSOCIATION.check(current, str(target))
        entry["CidrBlockState"] = {"State": str(target)}
    return entry


def network_cidrs(vpc_data: Mapping[str, Any]) -> list[str]:
    """The VPC's IPv4 CIDRs the network serves, the primary first."""
    out = [str(vpc_data["CidrBlock"])]
    for a in vpc_data.get("CidrBlockAssociationSet") or ():
        if a["CidrBlock"] not in out and a["CidrBlockState"]["State"] in IN_NETWORK:
            out.append(a["CidrBlock"])
    return out


def secondary_cidrs(vpc_data: Mapping[str, Any]) -> list[str]:
    return network_cidrs(vpc_data)[1:]


_RFC1918 = tuple(ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_BENCHMARK = ipaddress.IPv4Network("198.19.0.0/16")


def _family(net: ipaddress.IPv4Network) -> ipaddress.IPv4Network | None:
    """The RFC 1918 range or 198.19.0.0/16 holding ``net``; None: publicly routable (or 100.64/10)."""
    return next((r for r in (*_RFC1918, _BENCHMARK) if net.subnet_of(r)), None)


def _restricted(primary: ipaddress.IPv4Network, existing: Sequence[ipaddress.IPv4Network],
                net: ipaddress.IPv4Network) -> bool:
    """The guide's table of restricted ranges, keyed by the primary CIDR's range."""
    home, fam = _family(primary), _family(net)
    if fam is not None and fam != home:
        return True  # another RFC 1918 range, or 198.19.0.0/16 next to anything but itself
    if home is None or home == _BENCHMARK:
        return fam is not None  # only public (or 100.64.0.0/10) ranges join them
    if home == _RFC1918[1] and net.overlaps(ipaddress.IPv4Network("172.31.0.0/16")):
        return True
    if home == _RFC1918[0] and net.overlaps(ipaddress.IPv4Network("10.0.0.0/16")):
        return any(n.subnet_of(ipaddress.IPv4Network("10.0.0.0/15")) for n in existing)
    return False


def parse(cidr: str) -> ipaddress.IPv4Network:
    """An IPv4 CIDR block of /16 to /28, else EC2's InvalidVpc.Range."""
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise errors.ApiError(f"The CIDR '{cidr}' is invalid.", code="InvalidVpc.Range") from None
    if not isinstance(net, ipaddress.IPv4Network) or not 16 <= net.prefixlen <= 28:
        raise errors.ApiError(f"The CIDR '{cidr}' is invalid.", code="InvalidVpc.Range")
    return net


def check_new(vpc_id: str, vpc_data: Mapping[str, Any], cidr: str,
              routes: Iterable[tuple[str, str]] = ()) -> ipaddress.IPv4Network:
    """The normalized block ``cidr`` if it may join the VPC (``routes``: (route table id,
    destination) of every non-local route of the VPC's tables), else EC2's error."""
    net = parse(cidr)
    current = [ipaddress.IPv4Network(c) for c in network_cidrs(vpc_data)]
    held = [a for a in vpc_data.get("CidrBlockAssociationSet") or ()
            if a["CidrBlockState"]["State"] not in (str(C.DISASSOCIATED), str(C.FAILED))]
    if len(held) >= MAX_CIDRS:
        raise errors.ApiError(f"This network '{vpc_id}' has met its maximum number of allowed CIDRs: {MAX_CIDRS}",
                              code="CidrLimitExceeded")
    if any(net.overlaps(ipaddress.IPv4Network(a["CidrBlock"])) for a in held):
        raise errors.ApiError(f"The CIDR '{cidr}' conflicts with another CIDR block of the VPC '{vpc_id}'.",
                              code="InvalidVpc.Range")
    if _restricted(current[0], current, net):
        raise errors.ApiError(
            f"The CIDR '{cidr}' is restricted. Use a CIDR from the same private address range as the current "
            "VPC CIDR, or use a publicly-routable CIDR. For additional restrictions, see "
            "http://docs.aws.amazon.com/AmazonVPC/latest/UserGuide/VPC_Subnets.html#VPC_Sizing",
            code="InvalidVpc.Range")
    for rtb_id, dest in routes:
        try:
            route_net = ipaddress.IPv4Network(dest)
        except ValueError:
            continue  # not an IPv4 destination
        if route_net.subnet_of(net):
            raise errors.ApiError(f"The CIDR '{cidr}' conflicts with the route to {dest} in route table "
                                  f"'{rtb_id}': a VPC CIDR must be smaller than a route's destination.",
                                  code="InvalidVpc.Range")
    return net
