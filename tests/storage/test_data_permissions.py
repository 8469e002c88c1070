"""Nothing ec2d keeps on disk is readable by other users: the data dir and every directory under
it are 0700, every file 0600, snapshot/AMI layers 0400 (owner read-only: immutable). Checked by
stat on every file after a real launch, a live snapshot and a volume made from it; and an older
data dir (0755/0644) is fixed when ec2d opens it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ec2d_server import start_ec2d
from guests import wait_state
from waiting import until

from orchestrator.config import Config
from orchestrator.drivers.storage import qcow2
from orchestrator.drivers.storage.volumes import Qcow2Storage
from orchestrator.services import bootstrap


def modes(root: Path) -> dict[str, int]:
    """Relative path -> permission bits of ``root`` and everything under it (symlinks: lstat)."""
    out = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def wrong_modes(root: Path) -> dict[str, str]:
    """Every entry whose mode is not what it should be: dirs 0700, layers 0400, files 0600."""
    bad = {}
    for rel, mode in modes(root).items():
        p = root / rel
        if p.is_symlink():
            continue
        want = 0o700 if p.is_dir() else 0o400 if p.parent.name == "layers" else 0o600
        if mode != want:
            bad[rel] = f"{mode:04o} (want {want:04o})"
    return bad


def test_an_older_data_dir_is_made_owner_only_on_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old_umask = os.umask(0o022)
    try:
        bootstrap.open(Config(data_dir=data, instances=False)).close()
        storage = Qcow2Storage(data / "storage")
        storage.create_volume("vol-old", 1024**2)
        storage.snapshot_volume("vol-old", "snap-old")
        (data / "instances" / "i-old").mkdir()
        (data / "instances" / "i-old" / "console.log").write_text("secret output\n")
    finally:
        os.umask(old_umask)
    # what an older ec2d left: world-readable everything
    for rel in modes(data):
        p = data / rel
        os.chmod(p, 0o755 if p.is_dir() else 0o644 if p.parent.name != "layers" else 0o444)
    assert wrong_modes(data)
    creds_before = json.loads((data / "credentials.json").read_text())

    backend = bootstrap.open(Config(data_dir=data, instances=False))
    try:
        Qcow2Storage(data / "storage")
        assert wrong_modes(data) == {}
        assert backend.credentials.access_key_id == creds_before["AccessKeyId"]  # same account
        assert backend.store.integrity_check() == ["ok"]
    finally:
        backend.close()


def test_new_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o000)  # the worst a caller could run ec2d with
    try:
        backend = bootstrap.open(Config(data_dir=tmp_path / "data", instances=False))
        backend.store.set_setting("probe", "x")
        storage = Qcow2Storage(tmp_path / "data" / "storage")
        storage.create_volume("vol-a", 1024**2)
        storage.snapshot_volume("vol-a", "snap-a")
        storage.create_volume("vol-b", None, "snap-a")
        storage.import_image(storage.layer_path("snap-a"), "ami-layer")
        qcow2.flatten(storage.volume_path("vol-b"), storage.volume_path("vol-b"))
        assert {"state.db-wal", "state.db-shm"} <= set(os.listdir(tmp_path / "data"))
        assert wrong_modes(tmp_path / "data") == {}
        backend.close()
    finally:
        os.umask(old_umask)


def test_every_file_after_a_real_launch_and_snapshot_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_ec2d(data)
    ec2 = server.client()
    instance_id = None
    try:
        ec2.create_key_pair(KeyName="perm-key")
        image = max(ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": ["ec2d-tiny-*"]}])[
            "Images"], key=lambda i: i["CreationDate"])
        inst = ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                 KeyName="perm-key", UserData="#!/bin/sh\necho hunter2\n")["Instances"][0]
        instance_id = inst["InstanceId"]
        inst = wait_state(ec2, instance_id, "running", timeout=300)
        root = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        until("a console log", lambda: (data / "instances" / instance_id / "console.log").exists())
        snap = ec2.create_snapshot(VolumeId=root)["SnapshotId"]  # live: the guest runs
        until("the snapshot", lambda: ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"]
              == "completed")
        vol = ec2.create_volume(AvailabilityZone=inst["Placement"]["AvailabilityZone"], SnapshotId=snap)["VolumeId"]
        until("the volume", lambda: ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available")

        seen = modes(data)
        assert any(rel.startswith("storage/layers/") for rel in seen)
        assert any(rel.startswith(f"storage/volumes/{vol}/") for rel in seen)
        assert any(rel.startswith(f"storage/volumes/{root}/") for rel in seen)
        assert f"instances/{instance_id}/console.log" in seen
        assert {"state.db", "state.db-wal", "state.db-shm", "credentials.json"} <= set(seen)
        assert wrong_modes(data) == {}

        ec2.terminate_instances(InstanceIds=[instance_id])
        wait_state(ec2, instance_id, "terminated", timeout=300)
        instance_id = None
        ec2.delete_volume(VolumeId=vol)
        ec2.delete_snapshot(SnapshotId=snap)
        assert wrong_modes(data) == {}
    finally:
        if instance_id:
            ec2.terminate_instances(InstanceIds=[instance_id])
            wait_state(ec2, instance_id, "terminated", timeout=300)
        server.stop()
