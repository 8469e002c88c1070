"""The one place a volume record is born (services/volumes.new_volume): CreateVolume's
``creating`` volume and RunInstances' ``in-use`` volume attaching to its instance, both accepted by
the volume lifecycle the store enforces."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.domain.lifecycle import VOLUME
from orchestrator.services import bootstrap, volumes


def test_created_and_launched_volumes_share_one_builder(tmp_path: Path) -> None:
    backend = bootstrap.open(Config(data_dir=tmp_path, instances=False))
    try:
        with backend.store.transaction():
            made = volumes.new_volume(backend, "us-east-1", "us-east-1a", 8, "gp3", 3000, 125, None,
                                      {"team": "a"}, client_token="tok")
            born = volumes.new_volume(backend, "us-east-1", "us-east-1b", 10, "io1", None, None, "snap-1",
                                      {}, attached={"InstanceId": "i-0123456789abcdef0", "Device": "/dev/xvda",
                                                    "DeleteOnTermination": True})
        assert made.state == "creating" and made.state in VOLUME.initial
        assert made.data["Attachments"] == [] and made.data["ClientToken"] == "tok"
        assert made.data["SnapshotId"] == "" and backend.store.tags_of(made.id) == {"team": "a"}
        assert born.state == "in-use" and born.state in VOLUME.initial
        att = born.data["Attachments"][0]
        assert (att["InstanceId"], att["Device"], att["State"], att["DeleteOnTermination"]) == (
            "i-0123456789abcdef0", "/dev/xvda", "attaching", True)
        assert "ClientToken" not in born.data and born.data["SnapshotId"] == "snap-1"
        assert set(made.data) - {"ClientToken"} == set(born.data)
        described = volumes.describe_volumes(backend, "us-east-1", [born.id, made.id])
        assert [v["VolumeId"] for v in described] == [born.id, made.id]
        assert described[1]["Tags"] == [{"Key": "team", "Value": "a"}]
    finally:
        backend.close()
