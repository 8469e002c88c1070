"""NAT gateways' decisions on a store (no server): an interrupted create or delete settles at the
next start, and the Elastic IP and interface go with a deleted gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_only import opened_backend

from orchestrator.services import bootstrap, nat_gateways, public_ips, vpcs
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
