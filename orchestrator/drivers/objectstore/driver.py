"""The object store behind ec2d's S3 front: what the API needs from an engine, whichever it is.

ec2d verifies every S3 request itself (SigV4 with ec2d's own credentials, then IAM), and only then
re-signs it with the engine's admin identity and streams it to the engine. So the engine is a
private backend: it listens on 127.0.0.1 only, knows exactly one identity (the admin, whose key
lives 0600 in the data dir and never leaves ec2d) and keeps its data under ``DATA_DIR/s3/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class EngineError(Exception):
    """The engine could not be started (missing binary, did not get ready in time, exited)."""


@dataclass(frozen=True)
class EngineEndpoint:
    """Where the engine's S3 API answers and the admin identity ec2d signs its requests with."""

    url: str  # http://127.0.0.1:PORT
    host: str  # the Host header value: 127.0.0.1:PORT
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"  # the engine ignores the region; ec2d signs with this one


class ObjectStoreEngine(ABC):
    """A started-and-stopped S3 engine owned by one ec2d (one data dir)."""

    @abstractmethod
    async def start(self) -> EngineEndpoint:
        """Start the engine and return once its S3 API answers (or raise :class:`EngineError`)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the engine and everything it started; idempotent."""

    @property
    @abstractmethod
    def endpoint(self) -> EngineEndpoint | None:
        """The running engine's endpoint, None while it is not running."""
