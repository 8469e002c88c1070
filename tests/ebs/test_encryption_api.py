"""Encrypted EBS volumes and snapshots in API-only mode (the runtime on the fake drivers, whose
storage records the passphrase each file would be encrypted with): which volumes and snapshots
are encrypted and under which key, the account's default encryption and default key, key
lineages (a volume from a snapshot shares its data key; a copy under another key does not),
and EC2's errors. The data really encrypted on disk: tests/storage/test_encrypted_chain.py and
the guest test tests/ebs/test_encrypted_volumes.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from api_only import in_loop, opened_backend, reaches, until

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import HANDLERS
from orchestrator.domain import errors
from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend

KEY_ARN = re.compile(r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[0-9a-f-]{36}$")
OTHER_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture()
def backend(tmp_path: Path):
    with opened_backend(tmp_path, image=True) as b:
        yield b


def call(backend: Backend, name: str, req: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    ctx = RequestContext("req-enc", name, region, backend.account_id, "AKIA", backend)
    return HANDLERS[name](ctx, req) or {}


def error_of(backend: Backend, name: str, req: dict[str, Any]) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as info:
        call(backend, name, req)
    return info.value


def passphrase(runtime: Runtime, resource_id: str) -> str | None:
    return runtime.storage.encrypted_with(resource_id)  # type: ignore[attr-defined]


async def volume(backend: Backend, req: dict[str, Any]) -> dict[str, Any]:
    out = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1, **req})
    await reaches(backend, out["VolumeId"], "available")
    return out


async def snapshot(backend: Backend, volume_id: str) -> dict[str, Any]:
    out = call(backend, "CreateSnapshot", {"VolumeId": volume_id})
    await reaches(backend, out["SnapshotId"], "completed")
    return out


def test_default_key_and_encryption_by_default(backend: Backend) -> None:
    in_loop(backend, lambda runtime: default_key_and_encryption_by_default(backend, runtime))


async def default_key_and_encryption_by_default(backend: Backend, runtime: Runtime) -> None:
    assert call(backend, "GetEbsEncryptionByDefault", {})["EbsEncryptionByDefault"] is False
    default = call(backend, "GetEbsDefaultKmsKeyId", {})["KmsKeyId"]
    m = KEY_ARN.match(default)
    assert m and m["region"] == "us-east-1" and m["account"] == backend.account_id
    assert call(backend, "GetEbsDefaultKmsKeyId", {})["KmsKeyId"] == default  # made once
    west = call(backend, "GetEbsDefaultKmsKeyId", {}, region="us-west-2")["KmsKeyId"]
    assert KEY_ARN.match(west) and ":us-west-2:" in west and west != default  # one per region

    plain = await volume(backend, {})
    assert plain["Encrypted"] is False and "KmsKeyId" not in plain and passphrase(runtime, plain["VolumeId"]) is None

    assert call(backend, "EnableEbsEncryptionByDefault", {}) == {"EbsEncryptionByDefault": True}
    assert call(backend, "GetEbsEncryptionByDefault", {})["EbsEncryptionByDefault"] is True
    assert call(backend, "GetEbsEncryptionByDefault", {}, region="us-west-2")["EbsEncryptionByDefault"] is False
    by_default = await volume(backend, {"Encrypted": False})  # ignored: the account encrypts
    assert by_default["Encrypted"] is True and by_default["KmsKeyId"] == default
    assert passphrase(runtime, by_default["VolumeId"])

    other_arn = f"arn:aws:kms:us-east-1:{backend.account_id}:key/{OTHER_KEY}"
    assert call(backend, "ModifyEbsDefaultKmsKeyId", {"KmsKeyId": OTHER_KEY})["KmsKeyId"] == other_arn
    assert call(backend, "GetEbsDefaultKmsKeyId", {})["KmsKeyId"] == other_arn
    assert (await volume(backend, {}))["KmsKeyId"] == other_arn
    assert call(backend, "ResetEbsDefaultKmsKeyId", {})["KmsKeyId"] == default
    assert call(backend, "GetEbsDefaultKmsKeyId", {})["KmsKeyId"] == default
    assert call(backend, "DisableEbsEncryptionByDefault", {}) == {"EbsEncryptionByDefault": False}
    assert (await volume(backend, {}))["Encrypted"] is False

    described = call(backend, "DescribeVolumes", {"Filters": [{"Name": "encrypted", "Values": ["true"]}]})["Volumes"]
    assert {v["VolumeId"] for v in described} == {by_default["VolumeId"]} | {
        v["VolumeId"] for v in described if v["KmsKeyId"] == other_arn}
    assert all(v["Encrypted"] and KEY_ARN.match(v["KmsKeyId"]) for v in described) and len(described) == 2


def test_lineages_snapshots_and_copies(backend: Backend) -> None:
    in_loop(backend, lambda runtime: lineages_snapshots_and_copies(backend, runtime))


async def lineages_snapshots_and_copies(backend: Backend, runtime: Runtime) -> None:
    default = call(backend, "GetEbsDefaultKmsKeyId", {})["KmsKeyId"]
    enc = await volume(backend, {"Encrypted": True})
    assert enc["Encrypted"] is True and enc["KmsKeyId"] == default
    key = passphrase(runtime, enc["VolumeId"])
    assert key and re.fullmatch(r"[0-9a-f]{64}", key)
    record = backend.store.get(enc["VolumeId"])
    assert record is not None and key not in str(record.data)  # stored wrapped only

    snap = await snapshot(backend, enc["VolumeId"])
    assert snap["Encrypted"] is True and snap["KmsKeyId"] == default
    shown = call(backend, "DescribeSnapshots", {"SnapshotIds": [snap["SnapshotId"]]})["Snapshots"][0]
    assert shown["Encrypted"] is True and shown["KmsKeyId"] == default

    # from an encrypted snapshot: encrypted whatever Encrypted says, in the snapshot's lineage, in another zone
    clone = await volume(backend, {"SnapshotId": snap["SnapshotId"], "AvailabilityZone": "us-east-1b"})
    assert clone["Encrypted"] is True and clone["KmsKeyId"] == default
    assert passphrase(runtime, clone["VolumeId"]) == key
    # under another KMS key: the same data key re-wrapped (the chain must open with one key)
    rewrapped = await volume(backend, {"SnapshotId": snap["SnapshotId"], "Encrypted": True, "KmsKeyId": OTHER_KEY})
    assert rewrapped["KmsKeyId"].endswith(f":key/{OTHER_KEY}") and passphrase(runtime, rewrapped["VolumeId"]) == key

    # a clear snapshot made into an encrypted volume: a new lineage
    plain = await volume(backend, {})
    plain_snap = await snapshot(backend, plain["VolumeId"])
    assert plain_snap["Encrypted"] is False and "KmsKeyId" not in plain_snap
    from_plain = await volume(backend, {"SnapshotId": plain_snap["SnapshotId"], "Encrypted": True})
    assert from_plain["Encrypted"] is True and passphrase(runtime, from_plain["VolumeId"]) not in (None, key)

    # CopySnapshot: same key -> same lineage; Encrypted on a clear one or another key -> re-encrypted
    same = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"]})
    other = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"],
                                           "Encrypted": True, "KmsKeyId": "alias/aws/ebs"})
    recrypted = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"],
                                               "Encrypted": True, "KmsKeyId": OTHER_KEY})
    encrypted_copy = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "Encrypted": True,
                                                    "SourceSnapshotId": plain_snap["SnapshotId"]})
    for s in (same, other, recrypted, encrypted_copy):
        await reaches(backend, s["SnapshotId"], "completed")
    assert passphrase(runtime, same["SnapshotId"]) == key == passphrase(runtime, other["SnapshotId"])
    assert passphrase(runtime, recrypted["SnapshotId"]) not in (None, key)
    assert passphrase(runtime, encrypted_copy["SnapshotId"]) is not None
    copies = {s["SnapshotId"]: s for s in call(backend, "DescribeSnapshots", {"SnapshotIds": [
        same["SnapshotId"], recrypted["SnapshotId"], encrypted_copy["SnapshotId"]]})["Snapshots"]}
    assert copies[recrypted["SnapshotId"]]["KmsKeyId"].endswith(f":key/{OTHER_KEY}")
    assert copies[encrypted_copy["SnapshotId"]]["Encrypted"] is True
    assert copies[same["SnapshotId"]]["KmsKeyId"] == default
    # a copy to another region takes that region's default key, re-encrypted
    west = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"]},
                region="us-west-2")
    await reaches(backend, west["SnapshotId"], "completed")
    west_shown = call(backend, "DescribeSnapshots", {"SnapshotIds": [west["SnapshotId"]]}, region="us-west-2")
    assert ":us-west-2:" in west_shown["Snapshots"][0]["KmsKeyId"]
    assert passphrase(runtime, west["SnapshotId"]) not in (None, key)


def test_errors_and_unusable_keys(backend: Backend) -> None:
    in_loop(backend, lambda runtime: errors_and_unusable_keys(backend, runtime))


async def errors_and_unusable_keys(backend: Backend, runtime: Runtime) -> None:
    e = error_of(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1, "KmsKeyId": OTHER_KEY})
    assert (e.code, e.message) == ("InvalidParameterDependency",
                                   "The parameter KmsKeyId requires the parameter Encrypted to be set.")
    plain = await volume(backend, {})
    snap = await snapshot(backend, plain["VolumeId"])
    e = error_of(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"],
                                           "KmsKeyId": OTHER_KEY})
    assert e.code == "InvalidParameterDependency"
    assert error_of(backend, "ModifyEbsDefaultKmsKeyId", {"KmsKeyId": ""}).code == "MissingParameter"

    # a key that names no key (another region's, an unknown alias): accepted, then the volume
    # goes away (as on AWS, which checks keys asynchronously) and a copy ends in error
    for bad in ("alias/no-such-key", f"arn:aws:kms:us-west-2:{backend.account_id}:key/{OTHER_KEY}", "not a key"):
        out = call(backend, "CreateVolume", {"AvailabilityZone": "us-east-1a", "Size": 1, "Encrypted": True,
                                             "KmsKeyId": bad})
        assert out["State"] == "creating" and out["Encrypted"] is True
        await until(lambda vid=out["VolumeId"]: backend.store.get(vid) is None, f"{out['VolumeId']} to go")
        assert error_of(backend, "DescribeVolumes", {"VolumeIds": [out["VolumeId"]]}).code == "InvalidVolume.NotFound"
    copy = call(backend, "CopySnapshot", {"SourceRegion": "us-east-1", "SourceSnapshotId": snap["SnapshotId"],
                                          "Encrypted": True, "KmsKeyId": "alias/no-such-key"})
    failed = await reaches(backend, copy["SnapshotId"], "error")
    assert failed.data.get("StateMessage")


def test_run_instances_encrypted_mappings(backend: Backend) -> None:
    in_loop(backend, lambda runtime: run_instances_encrypted_mappings(backend, runtime))


async def run_instances_encrypted_mappings(backend: Backend, runtime: Runtime) -> None:
    tiny = next(i["ImageId"] for i in call(backend, "DescribeImages", {"Owners": ["ec2d"]})["Images"]
                if i["Name"].startswith("ec2d-tiny"))
    root_name = call(backend, "DescribeImages", {"ImageIds": [tiny]})["Images"][0]["RootDeviceName"]
    bad = {"ImageId": tiny, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
           "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "KmsKeyId": OTHER_KEY}}]}
    assert error_of(backend, "RunInstances", bad).code == "InvalidParameterDependency"
    r = call(backend, "RunInstances", {
        "ImageId": tiny, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
        "BlockDeviceMappings": [{"DeviceName": root_name, "Ebs": {"Encrypted": True}},
                                {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "Encrypted": True,
                                                                   "KmsKeyId": OTHER_KEY}},
                                {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 1}}]})
    iid = r["Instances"][0]["InstanceId"]
    await reaches(backend, iid, "running")
    vols = {v["Attachments"][0]["Device"]: v for v in call(backend, "DescribeVolumes", {"Filters": [
        {"Name": "attachment.instance-id", "Values": [iid]}]})["Volumes"]}
    assert vols[root_name]["Encrypted"] is True and KEY_ARN.match(vols[root_name]["KmsKeyId"])
    assert vols["/dev/sdf"]["KmsKeyId"].endswith(f":key/{OTHER_KEY}")
    assert vols["/dev/sdg"]["Encrypted"] is False
    assert passphrase(runtime, vols[root_name]["VolumeId"]) and passphrase(runtime, vols["/dev/sdf"]["VolumeId"])
    # the hypervisor got each encrypted disk's secret and the disks name it
    domain = runtime.compute.get_config(runtime.parts.domain_name(iid))
    secrets_named = {d.target_dev: d.secret_uuid for d in domain.disks}
    assert secrets_named["vda"] and secrets_named["vdf"] and secrets_named["vdg"] is None
    assert runtime.compute.secrets[secrets_named["vdf"]] == passphrase(runtime, vols["/dev/sdf"]["VolumeId"])  # type: ignore[attr-defined]
    call(backend, "TerminateInstances", {"InstanceIds": [iid]})
    await reaches(backend, iid, "terminated")
    # the volumes deleted with the instance: the hypervisor forgets their lineages' secrets
    await until(lambda: secrets_named["vdf"] not in runtime.compute.secrets, "the secret to go")  # type: ignore[attr-defined]


def test_images_of_encrypted_snapshots(backend: Backend) -> None:
    in_loop(backend, lambda runtime: images_of_encrypted_snapshots(backend, runtime))


async def images_of_encrypted_snapshots(backend: Backend, runtime: Runtime) -> None:
    tiny = next(i for i in call(backend, "DescribeImages", {"Owners": ["ec2d"]})["Images"]
                if i["Name"].startswith("ec2d-tiny"))
    assert tiny["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is False
    e = error_of(backend, "CopyImage", {"SourceRegion": "us-east-1", "SourceImageId": tiny["ImageId"],
                                        "Name": "enc-copy", "KmsKeyId": OTHER_KEY})
    assert e.code == "InvalidParameterDependency"
    made = call(backend, "CopyImage", {"SourceRegion": "us-east-1", "SourceImageId": tiny["ImageId"],
                                       "Name": "enc-copy", "Encrypted": True, "KmsKeyId": OTHER_KEY})
    await reaches(backend, made["ImageId"], "available")
    image = call(backend, "DescribeImages", {"ImageIds": [made["ImageId"]]})["Images"][0]
    ebs = image["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["KmsKeyId"].endswith(f":key/{OTHER_KEY}")
    assert passphrase(runtime, ebs["SnapshotId"])  # re-encrypted from the clear published layer
    # an instance of the encrypted AMI has an encrypted root volume in the snapshot's lineage
    r = call(backend, "RunInstances", {"ImageId": made["ImageId"], "MinCount": 1, "MaxCount": 1,
                                       "InstanceType": "t3.nano"})
    iid = r["Instances"][0]["InstanceId"]
    await reaches(backend, iid, "running")
    root = call(backend, "DescribeVolumes", {"Filters": [{"Name": "attachment.instance-id", "Values": [iid]}]})
    assert root["Volumes"][0]["Encrypted"] is True
    assert passphrase(runtime, root["Volumes"][0]["VolumeId"]) == passphrase(runtime, ebs["SnapshotId"])
    # RegisterImage from an encrypted snapshot shows it encrypted
    registered = call(backend, "RegisterImage", {"Name": "enc-reg", "RootDeviceName": "/dev/xvda",
                                                 "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
                                                     "SnapshotId": ebs["SnapshotId"]}}]})
    reg = call(backend, "DescribeImages", {"ImageIds": [registered["ImageId"]]})["Images"][0]
    assert reg["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    call(backend, "TerminateInstances", {"InstanceIds": [iid]})
    await reaches(backend, iid, "terminated")
