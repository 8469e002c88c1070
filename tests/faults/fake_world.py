"""What the fake-driver fault tests share: a backend with ec2d-tiny built in the cache (the runtime
each test builds imports it: ``FakeStorage`` reads a cached disk's header as the real driver does)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image
from orchestrator.services import bootstrap
from orchestrator.services.backend import Backend

PREFIX = "ec2dtfake"


def open_backend(data_dir: Path) -> Backend:
    """A backend on ``data_dir`` serving one zone, with ec2d-tiny built in the cache."""
    config = Config(data_dir=data_dir, prefix=PREFIX, instances=False, regions={"us-east-1": ["a"]})
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    return backend
