"""ec2d's configuration: where state lives, what it listens on, which regions and zones it serves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGIONS: dict[str, list[str]] = {
    "us-east-1": ["a", "b", "c"],
    "us-west-2": ["a", "b", "c"],
}
DEFAULT_LISTEN = "127.0.0.1:8773"


def parse_regions(spec: str) -> dict[str, list[str]]:
    """``"us-east-1=a,b,c;eu-west-1=a,b"`` -> ``{"us-east-1": ["a", "b", "c"], ...}``."""
    out: dict[str, list[str]] = {}
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, zones = part.partition("=")
        letters = [z.strip() for z in zones.split(",") if z.strip()] or ["a", "b", "c"]
        bad = [z for z in letters if len(z) != 1 or not z.isalpha() or not z.islower()]
        if bad or not name.strip():
            raise ValueError(f"bad region spec {part!r}: zones are single lowercase letters")
        out[name.strip()] = letters
    if not out:
        raise ValueError("no regions configured")
    return out


@dataclass
class Config:
    data_dir: Path = Path("/var/lib/ec2d")
    cache_dir: Path = Path(os.environ.get("EC2D_CACHE_DIR", "/var/cache/ec2d"))
    listen: str = DEFAULT_LISTEN
    regions: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_REGIONS))
    prefix: str = "ec2d"  # name prefix of every host object ec2d creates (domains, namespaces, taps)
    libvirt_uri: str = "qemu:///system"
    memory_overcommit: float = 1.0  # instances may promise this many times the host's memory
    memory_reserve_mib: int = 2048  # kept for the host itself
    storage_overcommit: float = 1.0  # thin volumes may promise this many times the space they can get
    storage_reserve_mib: int = 1024  # kept free on the data dir's filesystem (state.db, logs)
    stop_timeout: float = 30.0  # seconds an ACPI shutdown may take before the domain is forced off
    public_pool: str = "198.18.0.0/15"  # public IPs and Elastic IPs (a range reserved for testing)
    host_routes: bool = False  # route the public pool from the host into ec2d's public namespace
    uplink_nat: str | None = None  # opt-in: masquerade guests with public IPs out of this host interface
    max_chain_depth: int = 16  # a volume's qcow2 chain is flattened in the background past this depth
    instances: bool = True  # run instances for real (libvirt, namespaces); off: API and model only
    build_images: bool = True  # build ec2d-tiny at start when missing or outdated

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0] or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def endpoint_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def default_region(self) -> str:
        return next(iter(self.regions))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"
