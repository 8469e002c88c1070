"""The services decide which VPCs' networks must follow a change (the handler only carries the
answer to the runtime): an Elastic IP moved between instances of two VPCs names both, a route
change names its table's VPC, a disassociation names the VPC the address left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_only import in_loop

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images, instances, public_ips, vpcs
from orchestrator.services.backend import Backend

R = "us-east-1"


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    b = bootstrap.open(Config(data_dir=tmp_path, instances=False))
    ensure_image("ec2d-tiny", b.config.cache_dir)
    images.sync_published(b)
    yield b
    b.close()


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
    assert public_ips.create_route(backend, R, table.id, "0.0.0.0/0", igw.id) == vpc.id
    assert public_ips.delete_route(backend, R, table.id, "0.0.0.0/0") == vpc.id
    subnet = vpcs.create_subnet(backend, R, vpc.id, "10.30.1.0/24", "us-east-1a", None, {})
    assoc, follows = public_ips.associate_route_table(backend, R, table.id, subnet.id)
    assert follows == vpc.id and assoc.startswith("rtbassoc-")
    shown = public_ips.describe_route_tables(backend, R, [table.id])
    assert shown[0]["Tags"] == [{"Key": "k", "Value": "v"}] and shown[0]["Associations"][0]["SubnetId"] == subnet.id
