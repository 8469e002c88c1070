"""Fixtures for the IAM and STS tests (helpers: ``iam_api_lib``): one API-only backend per module,
served on loopback, in one region that is not us-east-1 (IAM clients still sign for us-east-1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback_api import LoopbackApi

from orchestrator.config import Config
from orchestrator.services.backend import Backend


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    # one region that is not us-east-1: IAM clients still sign for us-east-1 and must be served
    backend = Backend.open(Config(data_dir=tmp_path_factory.mktemp("iam"), instances=False,
                                  regions={"us-west-2": ["a", "b"]}))
    server = LoopbackApi(backend).start()
    yield server
    server.stop()
    backend.close()


@pytest.fixture(scope="module")
def iam(api: LoopbackApi) -> Any:
    return api.client("iam")


@pytest.fixture(scope="module")
def sts(api: LoopbackApi) -> Any:
    return api.client("sts", region="us-west-2")
