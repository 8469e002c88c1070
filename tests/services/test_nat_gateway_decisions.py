"""NAT gateways' decisions on a store (no server): an interrupted create or delete settles at the
next start, the Elastic IP and interface go with a deleted gateway, and the (fake) public network
is handed each subnet's way out after every live action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_only import in_loop, opened_backend

from orchestrator.domain import errors
from orchestrator.drivers.network.public.driver import SubnetEgress
from orchestrator.services import bootstrap, nat_gateways, public_ips, route_tables, vpcs
from orchestrator.services.backend import Backend

R = "us-east-1"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


def public_nat(backend: Backend) -> tuple[str, str]:
    vpc = vpcs.create_vpc(backend, R, "10.60.0.0/16", {})
    subnet = vpcs.create_subnet(backend, R, vpc.id, "10.60.1.0/24", "us-east-1a", None, {})
    igw = public_ips.create_internet_gateway(backend, R, {})
    public_ips.attach_igw(backend, R, igw.id, vpc.id)
    eip = public_ips.allocate_address(backend, R, {})
    nat, new = nat_gateways.create_nat_gateway(backend, R, {"SubnetId": subnet.id, "AllocationId": eip.id}, {})
    assert new and nat.state == "pending"
    return nat.id, eip.id


def test_interrupted_create_and_delete_settle_at_the_next_start(data_dir: Path) -> None:
    with opened_backend(data_dir) as backend:
        created, _ = public_nat(backend)
        deleting, eip = public_nat(backend)
        nat_gateways.mark_available(backend, backend.store.get(deleting))  # type: ignore[arg-type]
        eni = backend.store.get(deleting).data["NatGatewayAddresses"][0]["NetworkInterfaceId"]  # type: ignore[union-attr]
        assert nat_gateways.delete_nat_gateway(backend, R, deleting).state == "deleting"
    backend = bootstrap.open(backend.config)  # ec2d starts again
    try:
        assert backend.store.get(created).state == "available"  # type: ignore[union-attr]
        assert backend.store.get(deleting).state == "deleted"  # type: ignore[union-attr]
        assert "AssociationId" not in backend.store.get(eip).data  # type: ignore[union-attr]
        assert backend.store.get(eni) is None
    finally:
        backend.close()


def test_the_public_side_follows_nat_gateways_and_associations(data_dir: Path) -> None:
    """On the fake drivers: what the runtime hands the public network after each live action."""
    with opened_backend(data_dir) as backend:
        in_loop(backend, lambda runtime: follows(backend, runtime))


async def follows(backend: Backend, runtime: Any) -> None:
    fake = runtime.parts.public
    vpc = await vpcs.open_vpc(backend, R, "10.61.0.0/16", {})
    pub = await vpcs.open_subnet(backend, R, vpc.id, "10.61.1.0/24", "us-east-1a", None, {})
    priv = await vpcs.open_subnet(backend, R, vpc.id, "10.61.2.0/24", "us-east-1a", None, {})
    igw = public_ips.create_internet_gateway(backend, R, {})
    await public_ips.attach_igw_live(backend, R, igw.id, vpc.id)
    main = public_ips.main_route_table(backend, R, vpc.id)
    assert main is not None
    await route_tables.create_route_live(backend, R, main.id, "0.0.0.0/0", igw.id)
    eip = public_ips.allocate_address(backend, R, {})
    nat = await nat_gateways.create_nat_gateway_live(backend, R, {"SubnetId": pub.id, "AllocationId": eip.id}, {})
    table = public_ips.create_route_table_tagged(backend, R, vpc.id, {})
    await route_tables.create_route_live(backend, R, table.id, "0.0.0.0/0", req={"NatGatewayId": nat.id})
    assert fake.nat_gateway_ips(vpc.id) == set()  # priv still uses the main table (straight to the IGW)
    assoc = await route_tables.associate_route_table_live(backend, R, table.id, priv.id)
    plan = {e.cidr: e for e in fake.egress[vpc.id]}
    assert plan["10.61.2.0/24"].direct == () and plan["10.61.2.0/24"].via_nat[0][0] == eip.data["PublicIp"]
    assert plan["10.61.1.0/24"].direct and not plan["10.61.1.0/24"].via_nat
    empty = public_ips.create_route_table_tagged(backend, R, vpc.id, {})
    await route_tables.replace_route_table_association_live(backend, R, assoc, empty.id)
    assert {e.cidr: e for e in fake.egress[vpc.id]}["10.61.2.0/24"] == SubnetEgress("10.61.2.0/24")
    assert fake.nat_gateway_ips(vpc.id) == set()


def test_a_deleted_gateway_is_shown_for_an_hour(data_dir: Path) -> None:
    with opened_backend(data_dir) as backend:
        nat_id, _ = public_nat(backend)
        nat_gateways.delete_nat_gateway(backend, R, nat_id)
        nat_gateways.finish_delete(backend, backend.store.get(nat_id))  # type: ignore[arg-type]
        assert [n["State"] for n in nat_gateways.describe_nat_gateways(backend, R, [nat_id])] == ["deleted"]
        record = backend.store.get(nat_id)
        assert record is not None
        record.data["DeleteTime"] = "2020-01-01T00:00:00.000Z"
        backend.store.update(record)
        assert nat_gateways.describe_nat_gateways(backend, R, None) == []
        with pytest.raises(errors.NotFound) as info:
            nat_gateways.describe_nat_gateways(backend, R, [nat_id])
        assert info.value.code == "NatGatewayNotFound"
