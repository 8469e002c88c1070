"""One API-only ec2d with its S3 engine for the module's tests (unique data dir and ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ec2d_server import RunningEc2d
from s3lib import start_with_s3


@pytest.fixture(scope="package")
def s3d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    server = start_with_s3(tmp_path_factory.mktemp("s3-data"))
    yield server
    server.stop()
