"""The services decide which VPCs' networks must follow a change: an Elastic IP moved between
instances of two VPCs names both, a route change names its table's VPC, a disassociation names the
VPC the address left. Their async actions (``*_live``, what the handlers call) carry exactly those
VPCs to the runtime port's ``sync_vpc``, in that order, before they return; a refused request
re-syncs nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from api_only import in_loop, opened_backend

from orchestrator.domain import errors
from orchestrator.services import images, instances, network_interfaces, public_ips, route_tables, vpcs
from orchestrator.services import security_groups as sgs
from orchestrator.services.backend import Backend

R = "us-east-1"
T = TypeVar("T")


class SyncLog:
    """The backend's runtime, with every ``sync_vpc`` written down before it is passed on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.synced: list[tuple[str, str]] = []

    async def sync_vpc(self, region: str, vpc_id: str) -> None:
        self.synced.append((region, vpc_id))
        await self.inner.sync_vpc(region, vpc_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def take(self) -> list[str]:
        """The VPC ids synced since the last ``take`` (all in region ``R``)."""
        out, self.synced = self.synced, []
        assert {region for region, _ in out} <= {R}
        return [vpc_id for _, vpc_id in out]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.new_event_loop().run_until_complete(coro)


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    with opened_backend(tmp_path, image=True) as b:
        yield b


def launch(backend: Backend, subnet_id: str) -> str:
    image = images.visible(backend, R, backend.account_id)[0]
    out = instances.run(backend, R, {"ImageId": image.id, "MinCount": 1, "MaxCount": 1, "SubnetId": subnet_id,
                                     "InstanceType": "t3.nano"})
    return str(out["Instances"][0]["InstanceId"])


def test_address_moves_name_both_vpcs(backend: Backend) -> None:
    in_loop(backend, lambda _: address_moves_name_both_vpcs(backend))


async def address_moves_name_both_vpcs(backend: Backend) -> None:
    default = vpcs.default_vpc(backend, R)
    assert default is not None
    other = vpcs.create_vpc(backend, R, "10.20.0.0/16", {})
    subnet = vpcs.create_subnet(backend, R, other.id, "10.20.1.0/24", "us-east-1a", None, {})
    here = launch(backend, vpcs.subnets(backend, R, default.id)[0].id)
    there = launch(backend, subnet.id)
    eip = public_ips.allocate_address(backend, R, {})

    eip_rec, follow = public_ips.associate_address(backend, R, {"AllocationId": eip.id, "InstanceId": here})
    assert follow == [default.id] and eip_rec.data["InstanceId"] == here
    _, follow = public_ips.associate_address(backend, R, {"AllocationId": eip.id, "InstanceId": there})
    assert follow == [other.id, default.id]  # where it is now, and where it was
    _, left = public_ips.disassociate_address(backend, R, None, eip.data["PublicIp"])
    assert left == other.id
    _, left = public_ips.disassociate_address(backend, R, None, eip.data["PublicIp"])
    assert left is None  # no instance any more


def test_route_changes_name_their_tables_vpc(backend: Backend) -> None:
    vpc = vpcs.create_vpc(backend, R, "10.30.0.0/16", {})
    table = public_ips.create_route_table_tagged(backend, R, vpc.id, {"k": "v"})
    igw = public_ips.create_internet_gateway(backend, R, {})
    public_ips.attach_igw(backend, R, igw.id, vpc.id)
    assert route_tables.create_route(backend, R, table.id, "0.0.0.0/0", igw.id) == vpc.id
    assert route_tables.delete_route(backend, R, table.id, "0.0.0.0/0") == vpc.id
    subnet = vpcs.create_subnet(backend, R, vpc.id, "10.30.1.0/24", "us-east-1a", None, {})
    assoc, follows = route_tables.associate_route_table(backend, R, table.id, subnet.id)
    assert follows == vpc.id and assoc.startswith("rtbassoc-")
    shown = public_ips.describe_route_tables(backend, R, [table.id])
    assert shown[0]["Tags"] == [{"Key": "k", "Value": "v"}] and shown[0]["Associations"][0]["SubnetId"] == subnet.id


def test_actions_sync_what_the_decisions_name(backend: Backend) -> None:
    in_loop(backend, lambda _: actions_sync_what_the_decisions_name(backend))


async def actions_sync_what_the_decisions_name(backend: Backend) -> None:
    log = SyncLog(backend.runtime)
    backend.runtime = log
    default = vpcs.default_vpc(backend, R)
    assert default is not None
    other = await vpcs.open_vpc(backend, R, "10.40.0.0/16", {})
    subnet = await vpcs.open_subnet(backend, R, other.id, "10.40.1.0/24", "us-east-1a", None, {})
    here = launch(backend, vpcs.subnets(backend, R, default.id)[0].id)
    there = launch(backend, subnet.id)
    eip = public_ips.allocate_address(backend, R, {})

    await (public_ips.associate_address_live(backend, R, {"AllocationId": eip.id, "InstanceId": here}))
    assert log.take() == [default.id]
    moved = await (public_ips.associate_address_live(backend, R, {"AllocationId": eip.id, "InstanceId": there}))
    assert moved.data["InstanceId"] == there and log.take() == [other.id, default.id]
    await (public_ips.disassociate_address_live(backend, R, None, eip.data["PublicIp"]))
    assert log.take() == [other.id]
    await (public_ips.disassociate_address_live(backend, R, None, eip.data["PublicIp"]))
    assert log.take() == []  # the address was on no instance: no VPC follows

    igw = public_ips.create_internet_gateway(backend, R, {})
    await (public_ips.attach_igw_live(backend, R, igw.id, other.id))
    table = public_ips.create_route_table_tagged(backend, R, other.id, {})
    await (route_tables.create_route_live(backend, R, table.id, "0.0.0.0/0", igw.id))
    assoc = await (route_tables.associate_route_table_live(backend, R, table.id, subnet.id))
    await (route_tables.disassociate_route_table_live(backend, R, assoc))
    await (route_tables.delete_route_live(backend, R, table.id, "0.0.0.0/0"))
    await (public_ips.detach_igw_live(backend, R, igw.id, other.id))
    assert log.take() == [other.id] * 6

    group = sgs.create(backend, R, "web", "web servers", other.id, None)
    rule = {"GroupId": group.id, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}
    _, new = await (sgs.authorize_live(backend, R, rule, egress=False))
    await (sgs.revoke_live(backend, R, rule, egress=False))
    await (sgs.delete_live(backend, R, group.id, None))
    assert len(new) == 1 and log.take() == [other.id] * 3

    eni_id = instances.get(backend, R, there).data["NetworkInterfaceId"]
    _, got = await (network_interfaces.assign_live(backend, R, eni_id, [], 1))
    await (network_interfaces.unassign_live(backend, R, eni_id, got))
    await (instances.modify_metadata_options_live(backend, R, {"InstanceId": here, "HttpTokens": "required"}))
    await (instances.modify_attribute_live(backend, R, {"InstanceId": here, "DisableApiTermination": {"Value": True}}))
    assert len(got) == 1 and log.take() == [other.id, other.id, default.id, default.id]


def test_refused_actions_sync_nothing(backend: Backend) -> None:
    in_loop(backend, lambda _: refused_actions_sync_nothing(backend))


async def refused_actions_sync_nothing(backend: Backend) -> None:
    log = SyncLog(backend.runtime)
    backend.runtime = log
    vpc = await vpcs.open_vpc(backend, R, "10.50.0.0/16", {})
    table = public_ips.create_route_table_tagged(backend, R, vpc.id, {})
    with pytest.raises(errors.MissingParameter):
        await (route_tables.create_route_live(backend, R, table.id, None, "igw-12345678"))
    with pytest.raises(errors.MissingParameter):
        await (route_tables.associate_route_table_live(backend, R, table.id, None))
    with pytest.raises(errors.ApiError) as refused:
        await (route_tables.delete_route_live(backend, R, table.id, "0.0.0.0/0"))
    assert refused.value.code == "InvalidRoute.NotFound"
    group = sgs.by_name(backend, R, "default", vpc.id)
    with pytest.raises(errors.ApiError) as refused:
        await (sgs.delete_live(backend, R, group.id, None))
    assert refused.value.code == "CannotDelete" and log.take() == []
