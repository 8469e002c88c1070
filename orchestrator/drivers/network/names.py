"""Deterministic names of the host objects that back VPCs, subnets and ENIs.

Scheme (every interface name is at most 15 characters, IFNAMSIZ - 1):

=================  ==========================================  ==============================
object             name                                        lives in
=================  ==========================================  ==============================
VPC namespace      ``{prefix}-{vpc_id}``   (``ec2d-vpc-0a1b…``)  /run/netns
subnet bridge      ``br`` + last 13 hex of the subnet id        the VPC namespace
service addresses  on ``lo``: 169.254.169.254, .253, .250, base+2  the VPC namespace
ENI tap            ``tap_tag(prefix)`` + last 10 hex of ENI id  root ns until plugged, then VPC ns
dnsmasq state      ``{run_dir}/{namespace}/``                   filesystem
unreachable route  proto 236 (``ec2d``), metric from the prefix  root namespace, main table
=================  ==========================================  ==============================

Bridges (and the service addresses on ``lo``) live inside the VPC's own namespace, so they need no global prefix:
two VPCs never share a namespace, and deleting the namespace removes them. Only taps appear in the
root namespace (between libvirt creating them and :func:`plug_port` moving them), so only they carry
a tag derived from the prefix, which lets a sweep find them:

* ``tap_tag(prefix)`` is always exactly 5 characters, so tags of different prefixes are never
  prefixes of each other: a prefix of at most 4 characters is padded with ``x`` and followed by
  ``t`` (``ec2d`` -> ``ec2dt``); a longer one is its first character plus its last four
  (``ec2dt1a2b`` -> ``e1a2b``: test sessions, whose prefixes end in random hex, get distinct tags).
* a tap name is that tag plus the last 10 hex digits of the ENI id (40 bits; 8 for old-style ids).

Namespaces are matched by ``{prefix}-`` so the sweep of ``ec2d`` never touches ``ec2dt1a2b-…``.

Every data dir has its own prefix (see :meth:`orchestrator.config.Config.resolve_prefix`): the
default ``/var/lib/ec2d`` uses ``ec2d``, any other data dir a generated one,
:func:`generated_prefix` (``ec2d`` + 6 letters of :data:`GENERATED_ALPHABET`, e.g.
``ec2dkqzmvw``). That alphabet has no hex digit and no ``t``, so a generated prefix never starts
with the test family ``ec2dt``, and its tap tag (``e`` + 4 letters) never equals the tag of a
prefix ending in hex (tests, benches) nor ``ec2dt`` (of ``ec2d``); the caller re-draws on a clash
with a prefix already in use on the host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Callable

from orchestrator.config import PREFIX_RE

from .errors import InvalidArgument

IFNAME_MAX = 15
SERVICE_IF = "lo"  # no dummy driver on this host kind; lo carries the service /32s
BRIDGE_PREFIX = "br"
BRIDGE_HEX = 13
TAP_TAG_LEN = 5
TAP_HEX = 10
METADATA_IP = "169.254.169.254"
METADATA_IPV6 = "fd00:ec2::254"  # the metadata service over IPv6 (instances with HttpProtocolIpv6)
LINK_LOCAL_DNS_IP = "169.254.169.253"
LINK_LOCAL_DNS_IPV6 = "fd00:ec2::253"  # the VPC resolver over IPv6 (handed out by DHCPv6), as on Nitro
# ec2d's in-VPC HTTPS endpoint for the AWS services it serves: VPC DNS answers every
# ``*.amazonaws.com`` name with it (like an interface endpoint with private DNS, for all services)
SERVICE_ENDPOINT_IP = "169.254.169.250"
SERVICE_DOMAIN = "amazonaws.com"
# nft tables in each VPC namespace: security groups (inet), anti-spoofing (bridge); the inet table
# holds the LOCKDOWN_CHAIN instead of the groups while a VPC's groups cannot be enforced
SG_TABLE = "ec2d_sg"
ANTISPOOF_TABLE = "ec2d_as"
LOCKDOWN_CHAIN = "fwd_lockdown"

_PREFIX_RE = PREFIX_RE  # the format is the configuration's (orchestrator/config.py)
ID_RE = re.compile(r"^[a-z]+(?:-[a-z]+)*-(?P<hex>[0-9a-f]{8,17})$")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is usable (lowercase alnum, starts with a letter, <= 16 chars)."""
    if not _PREFIX_RE.match(prefix):
        raise InvalidArgument(f"bad host-object prefix {prefix!r}")
    return prefix


GENERATED_ALPHABET = "ghjkmnpqrsvwxyz"  # no hex digit (tags of test prefixes), no "t" (the test family)
GENERATED_LEN = 6
GENERATED_BASE_MAX = 6  # base + 6 letters <= 12 characters (the host link is ``prefix[:12]-h``)


def generated_prefix(base: str = "ec2d", clashes: Callable[[str], bool] = lambda p: False,
                     attempts: int = 1000) -> str:
    """A new prefix ``base`` + 6 random letters for which ``clashes(prefix)`` is false."""
    if len(base) > GENERATED_BASE_MAX:
        raise InvalidArgument(f"prefix base {base!r} is longer than {GENERATED_BASE_MAX} characters")
    check_prefix(base)
    for _ in range(attempts):
        candidate = base + "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LEN))
        if not clashes(candidate):
            return candidate
    raise InvalidArgument(f"no free host-object prefix starting with {base!r}")


def prefix_of_netns(ns: str) -> str | None:
    """The prefix of a namespace ec2d made (``ec2d-vpc-…`` or ``ec2d-public`` -> ``ec2d``)."""
    m = re.match(r"^([a-z][a-z0-9]{0,15})-(?:vpc-[0-9a-f]{8,17}|public)$", ns)
    return m.group(1) if m else None


def id_hex(resource_id: str) -> str:
    """The hex part of an EC2 id (``eni-0123abcd…`` -> ``0123abcd…``)."""
    m = ID_RE.match(resource_id)
    if not m:
        raise InvalidArgument(f"not an EC2 resource id: {resource_id!r}")
    return m.group("hex")


def netns_name(prefix: str, vpc_id: str) -> str:
    """Namespace holding the whole VPC."""
    id_hex(vpc_id)
    return f"{check_prefix(prefix)}-{vpc_id}"


def netns_prefix(prefix: str) -> str:
    """What every namespace name of ``prefix`` starts with (for sweeps)."""
    return f"{check_prefix(prefix)}-"


def bridge_name(subnet_id: str) -> str:
    """Bridge of a subnet, inside the VPC namespace: ``br`` + 13 hex."""
    return BRIDGE_PREFIX + id_hex(subnet_id)[-BRIDGE_HEX:]


def bridge_mac(subnet_id: str) -> str:
    """Fixed, locally administered MAC of a subnet bridge.

    Set explicitly so the gateway's MAC never changes when ports join or leave the bridge (the
    kernel otherwise adopts the lowest port MAC, which would break guests' ARP caches).
    """
    digest = hashlib.sha256(subnet_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (b"\x02" + digest[:5]))


def tap_tag(prefix: str) -> str:
    """The fixed 5-character start of every tap name of ``prefix`` (see the module doc)."""
    check_prefix(prefix)
    if len(prefix) <= TAP_TAG_LEN - 1:
        return prefix.ljust(TAP_TAG_LEN - 1, "x") + "t"
    return prefix[0] + prefix[-(TAP_TAG_LEN - 1) :]


def tap_name(prefix: str, eni_id: str) -> str:
    """Tap of an ENI: ``tap_tag(prefix)`` + last 10 hex of the ENI id (<= 15 chars)."""
    return tap_tag(prefix) + id_hex(eni_id)[-TAP_HEX:]


def is_tap_name(prefix: str, name: str) -> bool:
    """True when ``name`` is a tap name this scheme produces for ``prefix``."""
    tag = tap_tag(prefix)
    rest = name[len(tag) :]
    return name.startswith(tag) and 8 <= len(rest) <= TAP_HEX and all(c in "0123456789abcdef" for c in rest)


def dns_domain(region: str) -> str:
    """EC2's private DNS domain: ``ec2.internal`` in us-east-1, ``<region>.compute.internal`` else."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def private_dns_name(ip: str, region: str) -> str:
    """``ip-10-0-1-5.ec2.internal`` (us-east-1) or ``ip-10-0-1-5.<region>.compute.internal``."""
    ipaddress.IPv4Address(ip)
    return f"ip-{ip.replace('.', '-')}.{dns_domain(region)}"


def subnet_gateway(cidr: str) -> str:
    """The subnet router: base + 1, as in EC2."""
    net = ipaddress.IPv4Network(cidr)
    return str(net.network_address + 1)


def vpc_dns_ip(cidr: str) -> str:
    """AmazonProvidedDNS: the base of the VPC's (primary) CIDR plus two."""
    net = ipaddress.IPv4Network(cidr)
    return str(net.network_address + 2)
