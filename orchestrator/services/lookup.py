"""The one get-by-id-and-region lookup every resource uses, parameterised by the id's kind.

A malformed id gets the kind's ``*.Malformed`` code, an id that is unknown, of another region or
in a state EC2 no longer shows (a deleted volume, a deregistered AMI) the kind's ``*.NotFound``,
with the message EC2 uses for that resource (most say ``The <label> ID '<id>' does not exist``;
the exceptions are listed in ``LOOKUPS``). The services' own ``get`` functions are this call;
the per-kind entry points (``lookup.volume`` ...) return the record typed with its data's
``TypedDict`` (``Record[VolumeData]``), so a type checker knows the keys a service reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestrator.domain import errors, ids
from orchestrator.domain.dhcp_options import DhcpOptionsData
from orchestrator.domain.egress_gateways import EgressOnlyInternetGatewayData
from orchestrator.domain.lifecycle import ImageState, SnapshotState
from orchestrator.domain.prefix_lists import PrefixListData, PrefixListState
from orchestrator.domain.records import (
    ImageData,
    InstanceData,
    InternetGatewayData,
    KeyPairData,
    LaunchTemplateRecordData,
    NatGatewayData,
    NetworkInterfaceData,
    RouteTableData,
    SecurityGroupData,
    SnapshotData,
    SubnetData,
    VolumeData,
    VpcData,
)
from orchestrator.domain.states import VolumeState
from orchestrator.domain.vpc_endpoints import VpcEndpointData, VpcEndpointState
from orchestrator.domain.vpc_peering import VpcPeeringData
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record


@dataclass(frozen=True)
class Lookup:
    prefix: str  # the id's prefix (``ids.KINDS``)
    hidden: frozenset[str] = frozenset()  # states in which the resource no longer exists for the API
    not_found: Callable[[str], errors.NotFound] | None = None  # EC2's own message, where not the kind's

    @property
    def kind(self) -> ids.Kind:
        return ids.KINDS[self.prefix]

    def missing(self, resource_id: str) -> errors.NotFound:
        return self.not_found(resource_id) if self.not_found else self.kind.not_found_error(resource_id)


def _image_not_found(image_id: str) -> errors.NotFound:
    return errors.NotFound("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")


def _group_not_found(group_id: str) -> errors.NotFound:
    return errors.NotFound("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")


def _key_not_found(key_id: str) -> errors.NotFound:
    return errors.NotFound("InvalidKeyPair.NotFound", f"The key pair ID '{key_id}' does not exist")


def _nat_not_found(nat_id: str) -> errors.NotFound:
    return errors.NotFound("NatGatewayNotFound", f"The Nat Gateway {nat_id} was not found")


LOOKUPS: dict[str, Lookup] = {lk.prefix: lk for lk in (
    Lookup("i"),
    Lookup("vol", frozenset({str(VolumeState.DELETED)})),
    Lookup("snap", frozenset({str(SnapshotState.DELETED)})),
    Lookup("ami", frozenset({str(ImageState.DEREGISTERED)}), _image_not_found),
    Lookup("vpc"),
    Lookup("subnet"),
    Lookup("sg", not_found=_group_not_found),
    Lookup("eni"),
    Lookup("igw"),
    Lookup("eigw"),
    Lookup("rtb"),
    Lookup("nat", not_found=_nat_not_found),
    Lookup("key", not_found=_key_not_found),
    Lookup("lt", not_found=errors.LaunchTemplateIdNotFound),
    Lookup("dopt"),
    Lookup("pcx"),
    Lookup("scr"),
    Lookup("pl", frozenset({str(PrefixListState.DELETE_COMPLETE)})),
    Lookup("vpce", frozenset({str(VpcEndpointState.DELETED)}), lambda i: errors.NotFound(
        "InvalidVpcEndpointId.NotFound", f"The Vpc Endpoint Id '{i}' does not exist")),
)}


def get(backend: Backend, region: str, prefix: str, resource_id: str) -> Record:
    """The record of ``resource_id`` (a ``prefix-`` id) in ``region``, or the kind's EC2 error."""
    lookup = LOOKUPS[prefix]
    ids.check(resource_id, prefix)
    record = backend.store.get(resource_id, lookup.kind.resource_type)
    if record is None or record.region != region or record.state in lookup.hidden:
        raise lookup.missing(resource_id)
    return record


# -- typed entry points: ``get`` for one kind, the record typed with its data (``domain/records.py``)


def instance(backend: Backend, region: str, instance_id: str) -> Record[InstanceData]:
    return get(backend, region, "i", instance_id)


def volume(backend: Backend, region: str, volume_id: str) -> Record[VolumeData]:
    return get(backend, region, "vol", volume_id)


def snapshot(backend: Backend, region: str, snapshot_id: str) -> Record[SnapshotData]:
    return get(backend, region, "snap", snapshot_id)


def image(backend: Backend, region: str, image_id: str) -> Record[ImageData]:
    return get(backend, region, "ami", image_id)


def vpc(backend: Backend, region: str, vpc_id: str) -> Record[VpcData]:
    return get(backend, region, "vpc", vpc_id)


def subnet(backend: Backend, region: str, subnet_id: str) -> Record[SubnetData]:
    return get(backend, region, "subnet", subnet_id)


def security_group(backend: Backend, region: str, group_id: str) -> Record[SecurityGroupData]:
    return get(backend, region, "sg", group_id)


def network_interface(backend: Backend, region: str, eni_id: str) -> Record[NetworkInterfaceData]:
    return get(backend, region, "eni", eni_id)


def internet_gateway(backend: Backend, region: str, igw_id: str) -> Record[InternetGatewayData]:
    return get(backend, region, "igw", igw_id)


def egress_only_internet_gateway(backend: Backend, region: str, eigw_id: str) -> Record[EgressOnlyInternetGatewayData]:
    return get(backend, region, "eigw", eigw_id)


def route_table(backend: Backend, region: str, rtb_id: str) -> Record[RouteTableData]:
    return get(backend, region, "rtb", rtb_id)


def nat_gateway(backend: Backend, region: str, nat_id: str) -> Record[NatGatewayData]:
    return get(backend, region, "nat", nat_id)


def key_pair(backend: Backend, region: str, key_id: str) -> Record[KeyPairData]:
    return get(backend, region, "key", key_id)


def launch_template(backend: Backend, region: str, template_id: str) -> Record[LaunchTemplateRecordData]:
    return get(backend, region, "lt", template_id)


def not_found(prefix: str, resource_id: str) -> errors.NotFound:
    """The NotFound error ``get`` raises for ``resource_id`` (for lookups by other keys)."""
    return LOOKUPS[prefix].missing(resource_id)


def select(records: Sequence[Record], wanted: Sequence[str] | None, prefix: str) -> list[Record]:
    """``records`` (all of them when nothing is named), or the named ones in the order named; a
    named id that is malformed or not among ``records`` gets the kind's EC2 error."""
    if not wanted:
        return list(records)
    by_id = {r.id: r for r in records}
    for rid in wanted:
        ids.check(rid, prefix)
        if rid not in by_id:
            raise ids.KINDS[prefix].not_found_error(rid)
    return [by_id[rid] for rid in wanted]


def dhcp_options(backend: Backend, region: str, dopt_id: str) -> Record[DhcpOptionsData]:
    return get(backend, region, "dopt", dopt_id)


def vpc_peering(backend: Backend, region: str, pcx_id: str) -> Record[VpcPeeringData]:
    return get(backend, region, "pcx", pcx_id)


def prefix_list(backend: Backend, region: str, pl_id: str) -> Record[PrefixListData]:
    return get(backend, region, "pl", pl_id)


def vpc_endpoint(backend: Backend, region: str, vpce_id: str) -> Record[VpcEndpointData]:
    return get(backend, region, "vpce", vpce_id)
