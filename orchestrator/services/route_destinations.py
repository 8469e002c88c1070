"""A route's destination: a CIDR (``DestinationCidrBlock``) or a customer-managed prefix list
(``DestinationPrefixListId``: the route stands for one route per CIDR of the list, followed as the
list changes, see ``runtime/route_plan.decide``). The AWS-managed lists are routed only by gateway
endpoints (``services/vpc_endpoints``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain import vpc_endpoints as ved
from orchestrator.services import lookup
from orchestrator.services.backend import Backend

CIDR, LIST = "DestinationCidrBlock", "DestinationPrefixListId"


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


def of(backend: Backend, region: str, destination: str | None, req: Mapping[str, Any] | None) -> dict[str, str]:
    """The route's destination field, checked (``req``'s ``DestinationPrefixListId`` when given)."""
    pl_id = (req or {}).get(LIST)
    if not pl_id:
        return {CIDR: cidr(destination)}
    if destination:
        raise errors.InvalidParameterCombination("The parameter destinationCidrBlock and destinationPrefixListId "
                                                 "cannot be used together")
    if ved.aws_prefix_list(str(pl_id), [region]) is not None:
        raise errors.InvalidParameterValue(f"The prefix list {pl_id} is an AWS-managed list: only a gateway "
                                           "endpoint routes to it.")
    lookup.prefix_list(backend, region, str(pl_id))
    return {LIST: str(pl_id)}


def matches(route: Mapping[str, Any], dest: Mapping[str, str]) -> bool:
    """Whether ``route`` has the destination ``dest`` (one key of :func:`of`)."""
    return all(route.get(k) == v for k, v in dest.items())


def label(dest: Mapping[str, str]) -> str:
    return next(iter(dest.values()))
