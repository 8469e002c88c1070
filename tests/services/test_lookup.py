"""The one get-by-id-and-region lookup (services/lookup.py): each resource keeps EC2's exact
Malformed/NotFound codes and messages, another region's resource does not exist here, and states
EC2 no longer shows (deleted volume or snapshot, deregistered AMI) read as not found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_only import in_loop, opened_backend, reaches
from record_samples import sample

from orchestrator.domain import errors
from orchestrator.services import lookup, security_groups, volumes, vpcs
from orchestrator.services.backend import Backend
from orchestrator.store.sqlite import Record

R = "us-east-1"
OTHER = "us-west-2"


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    with opened_backend(tmp_path) as b:
        yield b


def error_of(backend: Backend, prefix: str, rid: str, region: str = R) -> tuple[str, str]:
    with pytest.raises(errors.ApiError) as e:
        lookup.get(backend, region, prefix, rid)
    return e.value.code, e.value.message


@pytest.mark.parametrize(("prefix", "code", "message"), [
    ("i", "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"),
    ("vol", "InvalidVolume.NotFound", "The volume ID 'vol-0123456789abcdef0' does not exist"),
    ("snap", "InvalidSnapshot.NotFound", "The snapshot ID 'snap-0123456789abcdef0' does not exist"),
    ("ami", "InvalidAMIID.NotFound", "The image id '[ami-0123456789abcdef0]' does not exist"),
    ("vpc", "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist"),
    ("subnet", "InvalidSubnetID.NotFound", "The subnet ID 'subnet-0123456789abcdef0' does not exist"),
    ("sg", "InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist"),
    ("eni", "InvalidNetworkInterfaceID.NotFound",
     "The network interface ID 'eni-0123456789abcdef0' does not exist"),
    ("igw", "InvalidInternetGatewayID.NotFound",
     "The internet gateway ID 'igw-0123456789abcdef0' does not exist"),
    ("rtb", "InvalidRouteTableID.NotFound", "The route table ID 'rtb-0123456789abcdef0' does not exist"),
    ("key", "InvalidKeyPair.NotFound", "The key pair ID 'key-0123456789abcdef0' does not exist"),
])
def test_unknown_ids_get_the_resources_own_not_found(backend: Backend, prefix: str, code: str,
                                                     message: str) -> None:
    assert error_of(backend, prefix, f"{prefix}-0123456789abcdef0") == (code, message)


@pytest.mark.parametrize(("prefix", "code"), [
    ("i", "InvalidInstanceID.Malformed"), ("vol", "InvalidVolumeID.Malformed"),
    ("ami", "InvalidAMIID.Malformed"), ("sg", "InvalidGroupId.Malformed"), ("vpc", "InvalidVpcID.Malformed"),
])
def test_malformed_ids_get_the_kinds_malformed_code(backend: Backend, prefix: str, code: str) -> None:
    assert error_of(backend, prefix, "nonsense") == (code, f'Invalid id: "nonsense" (expecting "{prefix}-...")')


def test_a_resource_of_another_region_does_not_exist_here(backend: Backend) -> None:
    vpc = vpcs.default_vpc(backend, OTHER)
    assert vpc is not None
    assert lookup.get(backend, OTHER, "vpc", vpc.id).id == vpc.id
    assert error_of(backend, "vpc", vpc.id)[0] == "InvalidVpcID.NotFound"
    group = next(g for g in backend.store.list(vpcs.SECURITY_GROUP, OTHER) if g.data["VpcId"] == vpc.id)
    assert security_groups.get(backend, OTHER, group.id).id == group.id
    assert error_of(backend, "sg", group.id)[0] == "InvalidGroup.NotFound"


def test_hidden_states_read_as_not_found(backend: Backend) -> None:
    async def created(_: object) -> Record:
        vol = volumes.create(backend, R, {"AvailabilityZone": "us-east-1a", "Size": 1})
        return await reaches(backend, vol.id, "available")

    vol = in_loop(backend, created)
    assert lookup.get(backend, R, "vol", vol.id).state == "available"
    volumes.move(backend, vol.id, volumes.V.AVAILABLE, volumes.V.DELETING)
    backend.store.transition(vol.id, "deleting", "deleted")
    assert error_of(backend, "vol", vol.id) == ("InvalidVolume.NotFound", f"The volume ID '{vol.id}' does not exist")
    backend.store.insert(Record(id="snap-0123456789abcdef1", type="snapshot", region=R, state="pending",
                                data=sample("snapshot")))
    backend.store.transition("snap-0123456789abcdef1", "pending", "deleted")
    assert error_of(backend, "snap", "snap-0123456789abcdef1")[0] == "InvalidSnapshot.NotFound"


def test_select_keeps_the_named_order_and_refuses_unknown_ids(backend: Backend) -> None:
    records = backend.store.list(vpcs.SUBNET, R)
    assert lookup.select(records, None, "subnet") == records
    picked = [records[2].id, records[0].id]
    assert [r.id for r in lookup.select(records, picked, "subnet")] == picked
    with pytest.raises(errors.ApiError) as e:
        lookup.select(records, ["subnet-0123456789abcdef0"], "subnet")
    assert e.value.code == "InvalidSubnetID.NotFound"
    with pytest.raises(errors.ApiError) as e:
        lookup.select(records, ["vpc-0123456789abcdef0"], "subnet")
    assert e.value.code == "InvalidSubnetID.Malformed"
