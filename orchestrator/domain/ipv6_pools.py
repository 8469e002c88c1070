"""IPv6 address space ec2d owns: the Amazon-provided /56 blocks of VPCs, their subnets' /64s and
the addresses of network interfaces (pure: no store, no I/O).

A VPC's ``AmazonProvidedIpv6CidrBlock`` is the lowest /56 of :data:`VPC_POOL` (IPv6 documentation
space, RFC 3849) that no VPC of the store holds: distinct per VPC and never handed out again while
a VPC holds it. The host's root namespace keeps an ``unreachable`` route for the whole pool, so no
address of it can leave the machine. A subnet's block is a /64 inside one of its VPC's /56s; as
on EC2, the first four addresses and the last one of a /64 are reserved (``::1`` is the subnet's
router). Interfaces get the lowest free address of their subnet's /64, like their IPv4 ones.

The record shapes (``VpcIpv6Association`` ...) live here too, named in ``domain/records.py``.
"""

import ipaddress
from collections.abc import Iterable
from typing import NotRequired, TypedDict

VPC_POOL = "2001:db8::/32"
VPC_PREFIX = 56
SUBNET_PREFIX = 64
MAX_VPC_IPV6_BLOCKS = 5  # EC2's default quota "IPv6 CIDR blocks per VPC"
RESERVED_HEAD = 4


class Ipv6BlockState(TypedDict):
    State: str
    StatusMessage: NotRequired[str]


class VpcIpv6Association(TypedDict):
    """One of DescribeVpcs' ``Ipv6CidrBlockAssociationSet``, as stored and shown."""

    AssociationId: str
    Ipv6CidrBlock: str
    Ipv6CidrBlockState: Ipv6BlockState
    NetworkBorderGroup: str
    Ipv6Pool: str
    Ipv6AddressAttribute: str
    IpSource: str


class SubnetIpv6Association(TypedDict):
    """One of DescribeSubnets' ``Ipv6CidrBlockAssociationSet``."""

    AssociationId: str
    Ipv6CidrBlock: str
    Ipv6CidrBlockState: Ipv6BlockState
    Ipv6AddressAttribute: str
    IpSource: str


class PoolExhausted(Exception):
    pass


def allocate_vpc_block(taken: Iterable[str], pool: str = VPC_POOL) -> str:
    """The lowest /56 of ``pool`` not in ``taken``."""
    used = {ipaddress.IPv6Network(c) for c in taken}
    for block in ipaddress.IPv6Network(pool).subnets(new_prefix=VPC_PREFIX):
        if block not in used:
            return str(block)
    raise PoolExhausted(pool)


def parse_network(cidr: str) -> ipaddress.IPv6Network | None:
    """``cidr`` as an IPv6 network (host bits must be zero), or None when it is not one."""
    try:
        net = ipaddress.ip_network(cidr)
    except (ValueError, TypeError):
        return None
    return net if isinstance(net, ipaddress.IPv6Network) else None


def parse_address(text: str) -> ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(text)
    except (ValueError, TypeError):
        return None
    return addr if isinstance(addr, ipaddress.IPv6Address) else None


def subnet_block_fits(net: ipaddress.IPv6Network, vpc_blocks: Iterable[str]) -> bool:
    """A /64 inside one of the VPC's /56 blocks."""
    return net.prefixlen == SUBNET_PREFIX and any(net.subnet_of(ipaddress.IPv6Network(b)) for b in vpc_blocks)


def reserved(net: ipaddress.IPv6Network) -> set[ipaddress.IPv6Address]:
    base = int(net.network_address)
    return {ipaddress.IPv6Address(base + i) for i in range(RESERVED_HEAD)} | {net.broadcast_address}


def usable(net: ipaddress.IPv6Network, addr: ipaddress.IPv6Address) -> bool:
    return addr in net and addr not in reserved(net)


def router(net: ipaddress.IPv6Network) -> ipaddress.IPv6Address:
    """The subnet's router (``::1``), the bridge's address in the VPC namespace."""
    return ipaddress.IPv6Address(int(net.network_address) + 1)


def lowest_free(net: ipaddress.IPv6Network, taken: Iterable[str], count: int) -> list[str]:
    """``count`` free addresses of ``net``, lowest first (fewer when the /64 were full, which it
    never is in practice)."""
    used = {ipaddress.IPv6Address(a) for a in taken}
    out: list[str] = []
    candidate = int(net.network_address) + RESERVED_HEAD
    last = int(net.broadcast_address)
    while len(out) < count and candidate < last:
        addr = ipaddress.IPv6Address(candidate)
        if addr not in used:
            out.append(str(addr))
        candidate += 1
    return out
