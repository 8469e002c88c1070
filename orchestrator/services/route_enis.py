"""Routes to instances and network interfaces (CreateRoute / ReplaceRoute's ``InstanceId`` and
``NetworkInterfaceId``): EC2's checks, which ENIs carry traffic, and what DescribeRouteTables shows.

A route names an ENI (``NetworkInterfaceId``); one made with ``InstanceId`` names the instance's
only ENI (EC2 refuses an instance with several). The route is ``active`` while the ENI is
attached to a pending or running instance, ``blackhole`` otherwise (the instance stopped, the ENI
detached or deleted), and DescribeRouteTables shows the instance the ENI is attached to now
(``InstanceId``, ``InstanceOwnerId``). The VPC's namespace sends the route's destinations to the
ENI's address (``runtime/route_plan.eni_routes``).

Routes more specific than the VPC's ``local`` ones (middlebox routing between subnets) may target
only an ENI, an instance or a NAT gateway, as on EC2.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from orchestrator.domain import errors, vpc_cidrs
from orchestrator.domain.records import ENI
from orchestrator.domain.states import InstanceState
from orchestrator.runtime import vpc_state
from orchestrator.services import lookup
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

KEYS = ("InstanceId", "NetworkInterfaceId")  # the route targets this module serves
CARRYING = vpc_state.ROUTING_STATES  # instance states whose ENIs carry routes
INSIDE_TARGETS = ("NetworkInterfaceId", "NatGatewayId")  # what a route more specific than local may target


def target(backend: Backend, region: str, table: Record, key: str, value: str) -> dict[str, str]:
    """The stored target of a route to ``InstanceId``/``NetworkInterfaceId`` ``value``, checked:
    the instance has exactly one ENI, the ENI is in the table's VPC."""
    if key == "InstanceId":
        instance = lookup.instance(backend, region, value)
        if instance.state == str(InstanceState.TERMINATED):
            raise lookup.LOOKUPS["i"].missing(value)
        if instance.data.get("SecondaryEnis"):
            raise errors.ApiError(f"There are multiple interfaces attached to instance '{value}'. Please specify "
                                  "an interface ID for the operation instead.", code="InvalidInstanceID")
        if instance.data["VpcId"] != table.data["VpcId"]:
            raise errors.InvalidParameterValue(f"route table {table.id} and instance {value} belong to different "
                                               "networks")
        return {"NetworkInterfaceId": instance.data["NetworkInterfaceId"]}
    eni = lookup.network_interface(backend, region, value)
    if eni.data["VpcId"] != table.data["VpcId"]:
        raise errors.InvalidParameterValue(f"route table {table.id} and network interface {value} belong to "
                                           "different networks")
    return {"NetworkInterfaceId": eni.id}


def check_inside(vpc: Record | None, destination: Mapping[str, str], route_target: Mapping[str, str]) -> None:
    """A route whose destination lies inside one of the VPC's IPv4 CIDRs (more specific than a
    ``local`` route) must target an ENI, an instance or a NAT gateway (EC2's error otherwise)."""
    cidr = destination.get("DestinationCidrBlock")
    if vpc is None or not cidr or any(k in route_target for k in INSIDE_TARGETS):
        return
    net = ipaddress.IPv4Network(cidr)
    if any(net.subnet_of(ipaddress.IPv4Network(c)) for c in vpc_cidrs.network_cidrs(vpc.data)):
        raise errors.InvalidParameterValue("Route target is not supported. This route only supports interface "
                                           "and instance targets.")


def carrying(enis: Iterable[Record], instances: Mapping[str, Record | None]) -> set[str]:
    """The ENIs (of ``enis``) attached to an instance in a state that routes (``instances``: id ->
    record, None when gone)."""
    out = set()
    for eni in enis:
        instance_id = (eni.data.get("Attachment") or {}).get("InstanceId")
        instance = instances.get(instance_id) if instance_id else None
        if instance is not None and instance.state in CARRYING:
            out.add(eni.id)
    return out


def live_enis(backend: Backend, region: str, vpc_id: str) -> set[str]:
    """The VPC's ENIs a route to which carries traffic."""
    enis = [e for e in backend.store.list(ENI, region) if e.data["VpcId"] == vpc_id]
    return carrying(enis, {i: backend.store.get(i) for e in enis
                           if (i := (e.data.get("Attachment") or {}).get("InstanceId"))})


def annotate(backend: Backend, routes: Iterable[MutableMapping[str, Any]]) -> None:
    """Each route to an ENI attached to an instance shows that instance and its owner (EC2's
    ``InstanceId``, ``InstanceOwnerId``)."""
    for route in routes:
        eni_id = route.get("NetworkInterfaceId")
        eni = backend.store.get(str(eni_id)) if eni_id else None
        attachment = (eni.data.get("Attachment") or {}) if eni is not None else {}
        if attachment.get("InstanceId"):
            route["InstanceId"] = attachment["InstanceId"]
            route["InstanceOwnerId"] = eni.data["OwnerId"]  # type: ignore[union-attr]
