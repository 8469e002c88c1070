"""A route's destination: an IPv4 CIDR (``DestinationCidrBlock``), an IPv6 CIDR
(``DestinationIpv6CidrBlock``) or a customer-managed prefix list (``DestinationPrefixListId``: the
route stands for one route per CIDR of the list, followed as the list changes, see
``runtime/route_plan.decide``). The AWS-managed lists are routed only by gateway endpoints
(``services/vpc_endpoints``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain import vpc_endpoints as ved
from orchestrator.services import lookup
from orchestrator.services.backend import Backend

CIDR, CIDR6, LIST = "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"
_PARAM = {CIDR: "destinationCidrBlock", CIDR6: "destinationIpv6CidrBlock", LIST: "destinationPrefixListId"}


def cidr(destination: str | None) -> str:
    if not destination:
        raise errors.MissingParameter("DestinationCidrBlock")
    try:
        net = ipaddress.ip_network(destination)
    except ValueError:
        net = None
    if net is None or net.version != 4:
        raise errors.InvalidParameterValue(f"Value ({destination}) for parameter destinationCidrBlock is invalid. "
                                           "This is not a valid CIDR block.")
    return str(net)


def cidr6(destination: str) -> str:
    try:
        net = ipaddress.ip_network(destination)
    except ValueError:
        net = None
    if net is None or net.version != 6:
        raise errors.InvalidParameterValue(f"Value ({destination}) for parameter destinationIpv6CidrBlock is "
                                           "invalid. This is not a valid IPv6 CIDR block.")
    return str(net)


def of(backend: Backend, region: str, destination: str | None, req: Mapping[str, Any] | None) -> dict[str, str]:
    """The route's destination field, checked: ``destination`` (IPv4) or ``req``'s
    ``DestinationIpv6CidrBlock`` or ``DestinationPrefixListId``, exactly one of them."""
    given = {k: str(v) for k, v in ((CIDR, destination), (CIDR6, (req or {}).get(CIDR6)),
                                    (LIST, (req or {}).get(LIST))) if v}
    if len(given) > 1:
        raise errors.InvalidParameterCombination("The parameter " + " and ".join(_PARAM[k] for k in given)
                                                 + " cannot be used together")
    if CIDR6 in given:
        return {CIDR6: cidr6(given[CIDR6])}
    pl_id = given.get(LIST)
    if not pl_id:
        if not destination:
            raise errors.MissingParameter("DestinationCidrBlock, DestinationIpv6CidrBlock or DestinationPrefixListId")
        return {CIDR: cidr(destination)}
    if ved.aws_prefix_list(pl_id, [region]) is not None:
        raise errors.InvalidParameterValue(f"The prefix list {pl_id} is an AWS-managed list: only a gateway "
                                           "endpoint routes to it.")
    lookup.prefix_list(backend, region, pl_id)
    return {LIST: pl_id}


def is_ipv6(dest: Mapping[str, str]) -> bool:
    return CIDR6 in dest


def matches(route: Mapping[str, Any], dest: Mapping[str, str]) -> bool:
    """Whether ``route`` has the destination ``dest`` (one key of :func:`of`)."""
    return all(route.get(k) == v for k, v in dest.items())


def label(dest: Mapping[str, str]) -> str:
    return next(iter(dest.values()))


def filter_name(dest: Mapping[str, str]) -> str:
    """The destination's name in EC2's messages (``destination-cidr-block`` ...)."""
    return {CIDR: "destination-cidr-block", CIDR6: "destination-ipv6-cidr-block",
            LIST: "destination-prefix-list-id"}[next(iter(dest))]
