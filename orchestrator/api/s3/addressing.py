"""Where an S3 request's bucket and key are: path-style (``/bucket/key``) or virtual-hosted style
(``bucket.s3.amazonaws.com``, ``bucket.s3.REGION.amazonaws.com``, ``bucket.s3-REGION.amazonaws.com``,
or ``bucket.<the endpoint's own host name>``, e.g. ``bucket.localhost:8773``).

The engine is always addressed path-style; the key part of the path is passed on as the client
sent it (its percent-encoding untouched), so what the client signed and what the engine sees name
the same object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

_AWS_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?s3(?:[.-]dualstack)?(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")


@dataclass(frozen=True)
class Target:
    bucket: str | None
    key: str | None
    raw_key: str  # the key as sent, percent-encoded ("" for none)
    virtual: bool  # the bucket came from the Host header

    @property
    def engine_path(self) -> str:
        """The path-style path for the engine."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.raw_key}" if self.raw_key else f"/{self.bucket}"

    @property
    def auth_path(self) -> str:
        """The path a SigV2 signer signed: ``/bucket/key`` (raw) whichever the addressing style."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.raw_key}" if self.virtual or self.raw_key else f"/{self.bucket}"

    @property
    def resource(self) -> str:
        """The ``Resource`` of an S3 error: ``/bucket/key``."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def virtual_bucket(host: str | None, endpoint_hosts: Iterable[str]) -> str | None:
    """The bucket a virtual-hosted Host header names, or None (path-style)."""
    if not host:
        return None
    name = _hostname(host)
    if _is_ip(name):
        return None
    match = _AWS_HOST.match(name)
    if match:
        return match.group("bucket") or None
    for own in endpoint_hosts:
        own = own.lower()
        if own and not _is_ip(own) and name.endswith("." + own):
            return name[: -len(own) - 1]
    return None


def target(host: str | None, raw_path: str, endpoint_hosts: Iterable[str]) -> Target:
    """The bucket and key of a request (``raw_path`` without the query string)."""
    path = raw_path or "/"
    bucket = virtual_bucket(host, endpoint_hosts)
    if bucket is not None:
        raw_key = path[1:] if path.startswith("/") else path
        return Target(bucket, unquote(raw_key) or None, raw_key, True)
    rest = path.lstrip("/")
    raw_bucket, slash, raw_key = rest.partition("/")
    if not raw_bucket:
        return Target(None, None, "", False)
    return Target(unquote(raw_bucket), unquote(raw_key) or None, raw_key, False) if slash else \
        Target(unquote(raw_bucket), None, "", False)
