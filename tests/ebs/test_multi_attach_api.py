"""Multi-Attach in API-only mode (the runtime on the fake drivers): which volumes may enable it,
attaching one io2 volume to several instances of its zone, DescribeVolumes' attachments, detaching
one, termination, and EC2's errors. The shared block device on real guests:
tests/ebs/test_multi_attach.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_only import in_loop, opened_backend, reaches, until
from test_ebs_api import call, code_of

from orchestrator.domain import errors, multi_attach
from orchestrator.runtime.core import Runtime
from orchestrator.services.backend import Backend

ZONE = "us-east-1b"


@pytest.fixture()
def backend(tmp_path: Path):
    with opened_backend(tmp_path, image=True) as b:
        yield b


def test_create_and_modify_rules(backend: Backend) -> None:
    in_loop(backend, lambda runtime: create_rules(backend, runtime))


async def create_rules(backend: Backend, runtime: Runtime) -> None:
    for vtype in ("gp3", "gp2", "st1", "standard"):
        with pytest.raises(errors.ApiError) as info:
            call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 500, "VolumeType": vtype,
                                           "MultiAttachEnabled": True})
        assert info.value.code == "InvalidParameterCombination", vtype
        assert "io1 and io2" in info.value.message
    assert code_of(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "io2", "Iops": 100,
                                             "MultiAttachEnabled": True, "Encrypted": True}) \
        == "InvalidParameterCombination"
    io1 = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "io1", "Iops": 100,
                                         "MultiAttachEnabled": True})
    assert io1["MultiAttachEnabled"] is True
    plain = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "io2", "Iops": 100})
    assert plain["MultiAttachEnabled"] is False
    await reaches(backend, io1["VolumeId"], "available")
    await reaches(backend, plain["VolumeId"], "available")
    shown = call(backend, "DescribeVolumes", {"Filters": [{"Name": "multi-attach-enabled", "Values": ["true"]}]})
    assert [v["VolumeId"] for v in shown["Volumes"]] == [io1["VolumeId"]]
    # io1: Multi-Attach only at creation, and its size, type and IOPS are fixed
    for change in ({"MultiAttachEnabled": False}, {"Size": 8}, {"VolumeType": "gp3"}):
        assert code_of(backend, "ModifyVolume", {"VolumeId": io1["VolumeId"], **change}) \
            == "InvalidParameterCombination", change
    gp3 = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "gp3"})["VolumeId"]
    await reaches(backend, gp3, "available")
    assert code_of(backend, "ModifyVolume", {"VolumeId": gp3, "MultiAttachEnabled": True}) \
        == "InvalidParameterCombination"
    # an unattached io2 volume enables it (its file becomes raw) and disables it again (qcow2)
    vid, storage = plain["VolumeId"], runtime.parts.storage
    for enabled, name in ((True, "shared.raw"), (False, "gen-000001.qcow2")):
        out = call(backend, "ModifyVolume", {"VolumeId": vid, "MultiAttachEnabled": enabled})["VolumeModification"]
        assert (out["OriginalMultiAttachEnabled"], out["TargetMultiAttachEnabled"]) == (not enabled, enabled)
        await until(lambda: call(backend, "DescribeVolumesModifications", {"VolumeIds": [vid]})[
            "VolumesModifications"][0]["ModificationState"] == "completed" or None, "modified")
        assert call(backend, "DescribeVolumes", {"VolumeIds": [vid]})["Volumes"][0]["MultiAttachEnabled"] is enabled
        assert storage.volume_path(vid).name == name
        assert code_of(backend, "ModifyVolume", {"VolumeId": vid, "MultiAttachEnabled": enabled}) \
            == "InvalidParameterValue"  # no change


async def acall(backend: Backend, name: str, req: dict[str, Any]) -> Any:
    """An action whose handler is a coroutine (it awaits the host's change)."""
    return await call(backend, name, req)  # type: ignore[misc]


def launch(backend: Backend, image_id: str, n: int, itype: str = "t3.nano") -> list[str]:
    r = call(backend, "RunInstances", {"ImageId": image_id, "MinCount": n, "MaxCount": n, "InstanceType": itype,
                                       "Placement": {"AvailabilityZone": ZONE}})
    return [i["InstanceId"] for i in r["Instances"]]


def attachments(backend: Backend, volume_id: str) -> list[dict[str, Any]]:
    return call(backend, "DescribeVolumes", {"VolumeIds": [volume_id]})["Volumes"][0]["Attachments"]


def test_attach_to_several(backend: Backend) -> None:
    in_loop(backend, lambda runtime: attach_to_several(backend, runtime))


async def attach_to_several(backend: Backend, runtime: Runtime) -> None:
    tiny = next(i["ImageId"] for i in call(backend, "DescribeImages", {"Owners": ["ec2d"]})["Images"]
                if i["Name"].startswith("ec2d-tiny"))
    a, b, c = launch(backend, tiny, 3)
    vol = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "io2", "Iops": 100,
                                         "MultiAttachEnabled": True})["VolumeId"]
    gp3 = call(backend, "CreateVolume", {"AvailabilityZone": ZONE, "Size": 4, "VolumeType": "gp3"})["VolumeId"]
    other_zone = launch_elsewhere(backend, tiny)
    xen = launch(backend, tiny, 1, "t2.nano")[0]
    for rid in (vol, gp3):
        await reaches(backend, rid, "available")
    for iid in (a, b, c, other_zone, xen):
        await reaches(backend, iid, "running")
    assert runtime.parts.storage.volume_path(vol).name == "shared.raw"
    for iid in (a, b):
        out = call(backend, "AttachVolume", {"VolumeId": vol, "InstanceId": iid, "Device": "/dev/sdf"})
        assert out["InstanceId"] == iid and out["State"] in ("attaching", "attached")
    await until(lambda: len([x for x in attachments(backend, vol) if x["State"] == "attached"]) == 2 or None,
                "both attachments attached")
    assert sorted(x["InstanceId"] for x in attachments(backend, vol)) == sorted([a, b])
    shown = call(backend, "DescribeVolumes", {"Filters": [{"Name": "attachment.instance-id", "Values": [b]}]})
    assert vol in [v["VolumeId"] for v in shown["Volumes"]]  # with b's root volume
    devices = {i["InstanceId"]: i["BlockDeviceMappings"] for r in call(backend, "DescribeInstances", {
        "InstanceIds": [a, b]})["Reservations"] for i in r["Instances"]}
    assert all(any(m["DeviceName"] == "/dev/sdf" and m["Ebs"]["Status"] == "attached" for m in devices[i])
               for i in (a, b))
    assert code_of(backend, "ModifyVolume", {"VolumeId": vol, "MultiAttachEnabled": False}) \
        == "InvalidParameterCombination"  # not while attached
    with pytest.raises(errors.ApiError) as info:  # one attachment per instance
        call(backend, "AttachVolume", {"VolumeId": vol, "InstanceId": a, "Device": "/dev/sdg"})
    assert info.value.code == "VolumeInUse"
    assert code_of(backend, "AttachVolume", {"VolumeId": vol, "InstanceId": other_zone, "Device": "/dev/sdf"}) \
        == "InvalidVolume.ZoneMismatch"
    with pytest.raises(errors.ApiError) as info:  # Nitro instances only (t2 is Xen)
        call(backend, "AttachVolume", {"VolumeId": vol, "InstanceId": xen, "Device": "/dev/sdf"})
    assert info.value.code == "UnsupportedOperation" and "Nitro" in info.value.message
    # a volume without Multi-Attach: a second attachment is refused as EC2 refuses it
    call(backend, "AttachVolume", {"VolumeId": gp3, "InstanceId": a, "Device": "/dev/sdg"})
    with pytest.raises(errors.ApiError) as info:
        call(backend, "AttachVolume", {"VolumeId": gp3, "InstanceId": b, "Device": "/dev/sdg"})
    assert (info.value.code, info.value.message) == ("VolumeInUse", f"{gp3} is already attached to an instance")
    # detaching: which instance must be said; one leaves, the other stays attached
    assert code_of(backend, "DetachVolume", {"VolumeId": vol}) == "MissingParameter"
    assert code_of(backend, "DetachVolume", {"VolumeId": vol, "InstanceId": c}) == "IncorrectState"
    out = call(backend, "DetachVolume", {"VolumeId": vol, "InstanceId": a})
    assert out["InstanceId"] == a and out["State"] == "detaching"
    await until(lambda: [x["InstanceId"] for x in attachments(backend, vol)] == [b] or None, "a detached")
    assert call(backend, "DescribeVolumes", {"VolumeIds": [vol]})["Volumes"][0]["State"] == "in-use"
    assert attachments(backend, vol)[0]["State"] == "attached"
    # a third instance joins; terminating it leaves the volume to b (DeleteOnTermination or not)
    call(backend, "AttachVolume", {"VolumeId": vol, "InstanceId": c, "Device": "/dev/sdh"})
    await acall(backend, "ModifyInstanceAttribute", {"InstanceId": c, "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdh", "Ebs": {"DeleteOnTermination": True}}]})
    call(backend, "TerminateInstances", {"InstanceIds": [c]})
    await reaches(backend, c, "terminated")
    assert [x["InstanceId"] for x in attachments(backend, vol)] == [b]
    # the last instance, with DeleteOnTermination, takes the volume with it
    await acall(backend, "ModifyInstanceAttribute", {"InstanceId": b, "BlockDeviceMappings": [
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": True}}]})
    call(backend, "TerminateInstances", {"InstanceIds": [b]})
    await reaches(backend, b, "terminated")
    assert backend.store.get(vol) is None


def launch_elsewhere(backend: Backend, image_id: str) -> str:
    r = call(backend, "RunInstances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.nano",
                                       "Placement": {"AvailabilityZone": "us-east-1a"}})
    return str(r["Instances"][0]["InstanceId"])


def test_sixteen_instances_at_most() -> None:
    atts = [{"InstanceId": f"i-{n:017x}"} for n in range(multi_attach.MAX_ATTACHMENTS - 1)]
    multi_attach.check_attach("vol-1", "i-new", atts)  # the 16th
    with pytest.raises(errors.ApiError) as info:
        multi_attach.check_attach("vol-1", "i-new", [*atts, {"InstanceId": "i-16th"}])
    assert info.value.code == "AttachmentLimitExceeded"
