"""The one constructor per resource kind: a security group (a VPC's default group and
CreateSecurityGroup) and a snapshot (of a volume, or a copy of another snapshot) are each built in
one place, with the keys EC2's answers need and nothing a type does not list (the store checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_only import opened_backend

from orchestrator.domain import records
from orchestrator.services import lookup, snapshots, volumes, vpcs
from orchestrator.services.backend import Backend

R = "us-east-1"


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[Backend]:
    with opened_backend(tmp_path) as b:
        yield b


def test_a_vpcs_default_group_and_a_created_group_share_one_builder(backend: Backend) -> None:
    with backend.store.transaction():
        vpc = vpcs.create_vpc_record(backend, R, "10.9.0.0/16")
        made = vpcs.new_security_group(backend, R, vpc.id, "web", "web servers")
    default = next(g for g in backend.store.list(vpcs.SECURITY_GROUP, R)
                   if g.data["VpcId"] == vpc.id and g.data["GroupName"] == "default")
    for group in (default, made):
        assert lookup.security_group(backend, R, group.id).data == group.data
        records.check("security-group", group.data)
        egress = [r for r in group.data["Rules"] if r["IsEgress"]]
        assert [(r["IpProtocol"], r["CidrIpv4"], r["GroupId"]) for r in egress] == [("-1", "0.0.0.0/0", group.id)]
    ingress = [r for r in default.data["Rules"] if not r["IsEgress"]]
    assert [(r["ReferencedGroupId"], r["CidrIpv4"]) for r in ingress] == [(default.id, None)]  # members talk
    assert not [r for r in made.data["Rules"] if not r["IsEgress"]]  # a new group admits nothing
    assert (made.data["GroupName"], made.data["Description"], made.data["OwnerId"]) == (
        "web", "web servers", backend.account_id)


def test_a_snapshot_of_a_volume_and_a_copy_share_one_builder(backend: Backend) -> None:
    with backend.store.transaction():
        vol = volumes.new_volume(backend, R, "us-east-1a", 4, "gp3", 3000, 125, None, {})
    snap = snapshots.snapshot_of_volume(backend, R, vol, "nightly", {"team": "a"})
    copy = snapshots.new_snapshot(backend, "us-west-2", volume_id="vol-ffffffff", size=4, description="copy",
                                  boot={}, source=snap)
    for rec in (snap, copy):
        assert rec.state == "pending" and backend.store.get(rec.id).data == rec.data
        records.check("snapshot", rec.data)
        assert (rec.data["OwnerId"], rec.data["Progress"], rec.data["CreateVolumePermissions"]) == (
            backend.account_id, "0%", [])
    assert (snap.data["VolumeId"], snap.data["VolumeSize"], snap.data["AvailabilityZone"]) == (vol.id, 4, "us-east-1a")
    assert "SourceSnapshotId" not in snap.data and backend.store.tags_of(snap.id) == {"team": "a"}
    assert (copy.data["SourceSnapshotId"], copy.data["SourceRegion"]) == (snap.id, R)
    assert "AvailabilityZone" not in copy.data and copy.region == "us-west-2"
    assert set(copy.data) - {"SourceSnapshotId", "SourceRegion"} == set(snap.data) - {"AvailabilityZone"}
