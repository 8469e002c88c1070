"""The VPC namespace's filter of its own service addresses (``table ip ec2d_svc``).

S3's addresses sit on the namespace's ``lo``: a guest's packet to one is the namespace's input,
not forwarded, so neither the security groups' forward chains nor the route-following filter of
the NAT table (which exists only while an internet gateway is attached) see it. This table drops
it unless its source is one the route tables allow (``runtime/service_access``); every port, TCP
and the rest alike. Built from :mod:`..nftables` objects (pure), loaded atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import nftables as nft
from .. import rootops
from ..nftables import ACCEPT, DROP, Chain, Hook, Match, Rule, quoted

TABLE = "ec2d_svc"


def table(access: Mapping[str, Sequence[str]]) -> nft.Table:
    """``{address: allowed source CIDRs}``: each address only from those (and the namespace itself)."""
    rules = [Rule(Match("iifname", quoted("lo")), ACCEPT)]
    for address, sources in sorted(access.items()):
        dst = Match("ip daddr", address)
        if sources:
            rules.append(Rule(dst, Match("ip saddr", nft.anon_set(sorted(sources))), ACCEPT))
        rules.append(Rule(dst, DROP))
    chain = Chain("input", tuple(rules), Hook("input", priority="filter - 5"))
    return nft.Table("ip", TABLE, (), (chain,))


def apply(netns: str, access: Mapping[str, Sequence[str]]) -> None:
    """Replace the namespace's table with :func:`table` (one transaction)."""
    rootops.run_nft(nft.replace_table(table(access)) + "\n", netns)
