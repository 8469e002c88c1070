"""Subnet CIDR reservations: what a ``subnet-cidr-reservation`` record holds and EC2's checks of a
new one. A reservation's addresses are never assigned automatically (to an instance, an ENI or a
secondary address); an ``explicit`` one's may be chosen by address, a ``prefix`` one's are for
prefix delegation, which ec2d does not do, so they are never assigned at all.

(No ``from __future__ import annotations``: the record's ``TypedDict`` is here, see ``records.py``.)
"""

import ipaddress
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

from orchestrator.domain import errors

SUBNET_CIDR_RESERVATION = "subnet-cidr-reservation"  # the record type (and TagSpecification type)
TYPES = ("prefix", "explicit")
EXPLICIT = "explicit"


class SubnetCidrReservationData(TypedDict):
    SubnetId: str
    Cidr: str
    ReservationType: str  # TYPES
    OwnerId: str
    Description: NotRequired[str]


SCR_SCHEMAS: dict[str, type[Any]] = {SUBNET_CIDR_RESERVATION: SubnetCidrReservationData}


def check_new(subnet_id: str, subnet_cidr: str, cidr: str, reservation_type: str,
              existing: Iterable[str]) -> ipaddress.IPv4Network:
    """The normalized IPv4 block to reserve in the subnet, else EC2's error (``existing``: the
    subnet's reserved blocks)."""
    if reservation_type not in TYPES:  # (the API's model check refuses it first)
        raise errors.InvalidParameterValue.for_param("reservationType", reservation_type,
                                                     "Valid values: prefix, explicit")
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise errors.InvalidParameterValue(f"Value ({cidr}) for parameter cidr is invalid. "
                                           "This is not a valid CIDR block.") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise errors.InvalidParameterValue(f"The subnet '{subnet_id}' has no IPv6 CIDR block to reserve {cidr} in.")
    if not net.subnet_of(ipaddress.IPv4Network(subnet_cidr)):
        raise errors.InvalidParameterValue(
            f"The CIDR '{cidr}' is not within the CIDR block {subnet_cidr} of subnet '{subnet_id}'.")
    for other in existing:
        if net.overlaps(ipaddress.IPv4Network(other)):
            raise errors.InvalidParameterValue(
                f"The CIDR '{cidr}' overlaps the existing reservation {other} of subnet '{subnet_id}'.")
    return net


def addresses(cidrs: Iterable[str]) -> set[str]:
    """Every address of the blocks."""
    return {str(a) for c in cidrs for a in ipaddress.IPv4Network(c)}
