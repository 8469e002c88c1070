"""Fixtures of tests/enforcement (helpers in enforced_api.py: a module name of its own, as pytest
imports every directory's conftest under the same name)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from enforced_api import REGIONS, EnforcedApi, wait_for

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap, images


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnforcedApi]:
    backend = bootstrap.open(Config(data_dir=tmp_path_factory.mktemp("enforce"), instances=False, regions=REGIONS))
    ensure_image("ec2d-tiny", backend.config.cache_dir)  # cached on a test host: a hash check
    images.sync_published(backend)
    server_ = EnforcedApi(backend).start()
    yield server_
    server_.stop()
    backend.close()


@pytest.fixture(scope="module")
def ec2(api: EnforcedApi) -> Any:
    return api.client("ec2")


@pytest.fixture(scope="module")
def image_id(ec2: Any) -> str:
    found = wait_for(lambda: [i for i in ec2.describe_images(Owners=["ec2d"])["Images"]
                              if i["Name"].startswith("ec2d-tiny") and i["State"] == "available"], "the AMI")
    return str(found[0]["ImageId"])


@pytest.fixture(scope="module")
def team_instances(ec2: Any, image_id: str) -> dict[str, str]:
    """Two running instances tagged team=a and team=b (launched with the root key)."""
    out = {}
    for team in ("a", "b"):
        made = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                 TagSpecifications=[{"ResourceType": "instance",
                                                     "Tags": [{"Key": "team", "Value": team}]}])
        out[team] = made["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=list(out.values()),
                                           WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return out
