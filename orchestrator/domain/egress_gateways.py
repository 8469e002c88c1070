"""Egress-only internet gateways (``eigw-``): the record shape and the record type name.

An egress-only internet gateway belongs to one VPC from its creation (its one attachment is
``attached`` for its whole life). A route table's IPv6 route to it lets the subnets it serves open
connections to the internet over IPv6; nothing from outside opens one to them (the replies of
their own connections come back: conntrack in the VPC namespace, see
``drivers/network/public/rules.route6_table``).

(No ``from __future__ import annotations``: see ``records.py``.)
"""

from typing import Any, NotRequired, TypedDict

EGRESS_ONLY_IGW = "egress-only-internet-gateway"  # the record type (and TagSpecification resource type)
ATTACHED = "attached"  # the attachment's state, as EC2 shows it


class EigwAttachment(TypedDict):
    VpcId: str
    State: str


class EgressOnlyInternetGatewayData(TypedDict):
    VpcId: str
    OwnerId: str
    Attachments: list[EigwAttachment]
    ClientToken: NotRequired[str]


EIGW_SCHEMAS: dict[str, type[Any]] = {EGRESS_ONLY_IGW: EgressOnlyInternetGatewayData}
