"""What the fake-driver fault tests share: a model-only backend with ec2d-tiny published, a storage
fake that already holds the cached images, and an IMDS stand-in that serves nothing."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.images.cache import ensure_image, list_images
from orchestrator.services import bootstrap
from orchestrator.services.backend import Backend

PREFIX = "ec2dtfake"


class NoImds:
    async def add_listener(self, key: str, sock: object) -> None: ...
    async def remove_listener(self, key: str) -> None: ...
    def set_instances(self, key: str, table: dict) -> None: ...


def open_backend(data_dir: Path) -> Backend:
    """A backend on ``data_dir`` serving one zone, with ec2d-tiny built in the cache."""
    config = Config(data_dir=data_dir, prefix=PREFIX, instances=False, regions={"us-east-1": ["a"]})
    backend = bootstrap.open(config)
    ensure_image("ec2d-tiny", config.cache_dir)
    return backend


def preload(storage, cache_dir: Path):
    """Tell a storage fake about every cached image (as if imported), and return it."""
    for artifact in list_images(cache_dir):
        storage.imports[artifact.disk] = int(artifact.manifest.get("virtual_size") or 2**27)
    return storage
