"""Disk full, for real: ec2d's data dir on a small tmpfs made for the test, filled with a filler
file. Writes fail with a clear, retryable EC2 error (never a 500), reads keep working, state.db
stays consistent (PRAGMA integrity_check), nothing of a failed call is kept, and everything works
again once the filler is deleted - without a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from ec2d_server import start_ec2d
from record_samples import sample
from small_fs import fill, small_filesystem

from orchestrator.drivers.storage.qcow2 import StorageError
from orchestrator.drivers.storage.volumes import Qcow2Storage

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl disk-full"


def integrity(db: Path) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def error_of(call, **kw) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value


def test_api_survives_a_full_disk(tmp_path: Path) -> None:
    with small_filesystem(tmp_path, "24m") as mnt:
        data = mnt / "data"
        # the volume accounting would refuse everything on 24 MiB; let it promise a lot, so that
        # the store itself meets the full disk (the accounting has its own test)
        server = start_ec2d(data, instances=False, build_images=False, storage_overcommit=100000.0,
                            storage_reserve_mib=0)
        try:
            ec2 = server.client()
            vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
            before = ec2.import_key_pair(KeyName="before-full", PublicKeyMaterial=PUBLIC_KEY.encode())
            filler = fill(mnt)

            # writes fail with ServiceUnavailable (503, retryable) once the WAL cannot grow
            tags = [{"Key": f"k{n:03d}-" + "x" * 100, "Value": "v" * 250} for n in range(40)]
            written, failure = 0, None
            for _ in range(400):
                try:
                    ec2.create_tags(Resources=[vpc_id], Tags=tags)
                    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": t["Key"]} for t in tags])
                    tags = [{"Key": t["Key"] + "y", "Value": t["Value"]} for t in tags]
                    written += 1
                except ClientError as exc:
                    failure = exc
                    break
            assert failure is not None, "400 tag writes on a full 24 MiB filesystem all succeeded"
            err = failure.response["Error"]
            assert (err["Code"], failure.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailable", 503)
            assert "free space on the data dir" in err["Message"] and "Traceback" not in err["Message"]

            e = error_of(ec2.import_key_pair, KeyName="during-full", PublicKeyMaterial=PUBLIC_KEY.encode())
            assert e.response["Error"]["Code"] == "ServiceUnavailable"
            e = error_of(ec2.create_volume, AvailabilityZone="us-east-1a", Size=1)
            assert e.response["Error"]["Code"] == "InsufficientVolumeCapacity"  # the accounting sees it first
            # reads keep working and see nothing of the failed calls
            names = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
            assert "before-full" in names and "during-full" not in names
            assert ec2.describe_volumes()["Volumes"] == []
            assert integrity(data / "state.db") == ["ok"]

            # space back: the same daemon takes writes again, no restart
            filler.unlink()
            after = ec2.import_key_pair(KeyName="during-full", PublicKeyMaterial=PUBLIC_KEY.encode())
            ec2.create_tags(Resources=[vpc_id], Tags=tags)
            vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
            assert vol["State"] in ("creating", "available")
        finally:
            server.stop()
        assert integrity(data / "state.db") == ["ok"]
        # a fresh daemon on the same data dir sees exactly the successful writes
        again = start_ec2d(data, instances=False, build_images=False, storage_overcommit=100000.0,
                           storage_reserve_mib=0)
        try:
            ec2 = again.client()
            pairs = {k["KeyName"]: k["KeyPairId"] for k in ec2.describe_key_pairs()["KeyPairs"]}
            assert pairs == {"before-full": before["KeyPairId"], "during-full": after["KeyPairId"]}
            got = {t["Key"] for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]}
            assert {t["Key"] for t in tags} <= got
            assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [vol["VolumeId"]]
        finally:
            again.stop()


def test_volume_files_on_a_full_disk_leave_nothing_behind(tmp_path: Path) -> None:
    """The storage driver on the full filesystem: qemu-img fails, the driver raises StorageError
    and leaves no file or directory of the volume; with space back the same create works."""
    with small_filesystem(tmp_path, "8m") as mnt:
        storage = Qcow2Storage(mnt / "storage")
        storage.create_volume("vol-base", 64 * 1024**2)
        layer = storage.snapshot_volume("vol-base", "snap-base")
        filler = fill(mnt)
        before = sorted(p.relative_to(mnt) for p in (mnt / "storage").rglob("*"))
        for args in (("vol-blank", 64 * 1024**2, None), ("vol-overlay", None, "snap-base")):
            with pytest.raises(StorageError):
                storage.create_volume(*args)
        assert sorted(p.relative_to(mnt) for p in (mnt / "storage").rglob("*")) == before
        filler.unlink()
        assert storage.create_volume("vol-overlay", None, "snap-base").exists()
        assert storage.chain_depth("vol-overlay") == 2 and layer.exists()


def test_store_on_a_full_disk_rolls_back_and_recovers(tmp_path: Path) -> None:
    """The store itself: the chosen pragmas are in force; a write on the full disk raises
    StoreUnavailable("full"), leaves no transaction open and no trace; after the space is freed it
    writes again."""
    from orchestrator.store.sqlite import BUSY_TIMEOUT_MS, Record, Store, StoreUnavailable

    with small_filesystem(tmp_path, "4m") as mnt:
        store = Store(mnt / "state.db")
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
        store.insert(Record(id="vol-kept", type="volume", region="r", state="creating", data=sample("volume", Size=1)))
        filler = fill(mnt)
        failures = 0
        for n in range(200):
            try:
                with store.transaction():
                    store.insert(Record(id=f"vol-{n:04d}", type="volume", region="r", state="creating",
                                        data=sample("volume", ClientToken="p" * 4000)))
                    store.set_tags(f"vol-{n:04d}", "volume", "r", {"Name": "x" * 200})
            except StoreUnavailable as exc:
                assert exc.reason == "full"
                failures += 1
                assert not store._db.in_transaction
                assert store.get(f"vol-{n:04d}") is None and store.tags_of(f"vol-{n:04d}") == {}
                break
        assert failures == 1
        assert store.get("vol-kept").data == sample("volume", Size=1)  # reads work on the full disk
        assert store.integrity_check() == ["ok"]
        filler.unlink()
        store.insert(Record(id="vol-after", type="volume", region="r", state="creating", data=sample("volume")))
        store.close()
        again = Store(mnt / "state.db")
        assert {r.id for r in again.list("volume")} >= {"vol-kept", "vol-after"}
        assert again.integrity_check() == ["ok"]
        again.close()


def test_a_write_lock_held_by_another_process_is_a_retryable_error(tmp_path: Path) -> None:
    """Only another process can hold the write lock (ec2d serialises its own access): past the
    busy timeout the write fails as StoreUnavailable("busy") instead of hanging, and works once
    the lock is gone."""
    from orchestrator.store.sqlite import Record, Store, StoreUnavailable

    store = Store(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable) as info:
        store.insert(Record(id="vol-busy", type="volume", region="r", state="creating", data=sample("volume")))
    assert info.value.reason == "busy" and not store._db.in_transaction
    other.execute("ROLLBACK")
    other.close()
    store.insert(Record(id="vol-busy", type="volume", region="r", state="creating", data=sample("volume")))
    assert store.get("vol-busy") is not None
    store.close()


def private_cache(base: Path) -> Path:
    """A cache dir holding only ec2d-tiny (links into the host's cache), so that a real daemon's
    storage on a small filesystem only has to import that one small layer."""
    from orchestrator.images.cache import default_cache_dir, ensure_image

    real = ensure_image("ec2d-tiny", default_cache_dir())
    cache = base / "cache"
    (cache / "images").mkdir(parents=True)
    (cache / "kernel").mkdir()
    (cache / "images" / real.path.name).symlink_to(real.path)
    (cache / "ca").symlink_to(default_cache_dir() / "ca")  # the image's key holds the CA's fingerprint
    for entry in (default_cache_dir() / "kernel").iterdir():
        if entry.is_dir():
            (cache / "kernel" / entry.name).symlink_to(entry)
        elif entry.name == "resolved.json":
            (cache / "kernel" / entry.name).write_bytes(entry.read_bytes())
    probe = default_cache_dir() / "virt-type.json"
    if probe.exists():
        (cache / "virt-type.json").write_bytes(probe.read_bytes())
    return cache


def test_real_volumes_on_a_full_disk(tmp_path: Path) -> None:
    """A daemon with its runtime (real qcow2 files) on a 64 MiB tmpfs: a volume is a real file;
    on the full disk CreateVolume is InsufficientVolumeCapacity and other writes ServiceUnavailable,
    nothing is made; with the space back a real volume is created again."""
    import time

    cache = private_cache(tmp_path)
    with small_filesystem(tmp_path, "64m") as mnt:
        data = mnt / "data"
        server = start_ec2d(data, cache_dir=cache, regions={"us-east-1": ["a"]}, storage_overcommit=1000.0,
                            storage_reserve_mib=0)
        try:
            ec2 = server.client()

            def available(volume_id: str) -> Path:
                deadline = time.monotonic() + 120
                while ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] != "available":
                    assert time.monotonic() < deadline, f"{volume_id} not available"
                    time.sleep(0.2)
                return data / "storage" / "volumes" / volume_id / "gen-000001.qcow2"

            first = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
            assert available(first).is_file()
            filler = fill(mnt)
            assert error_of(ec2.create_volume, AvailabilityZone="us-east-1a", Size=1).response["Error"]["Code"] \
                == "InsufficientVolumeCapacity"
            assert error_of(ec2.create_tags, Resources=[first], Tags=[{"Key": "k", "Value": "v"}]).response[
                "Error"]["Code"] == "ServiceUnavailable"
            assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [first]
            assert sorted(p.name for p in (data / "storage" / "volumes").iterdir()) == [first]
            assert integrity(data / "state.db") == ["ok"]

            filler.unlink()
            second = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
            assert available(second).is_file()
            ec2.create_tags(Resources=[first], Tags=[{"Key": "k", "Value": "v"}])
            for volume_id in (first, second):
                ec2.delete_volume(VolumeId=volume_id)
        finally:
            server.stop()
        assert integrity(data / "state.db") == ["ok"]
