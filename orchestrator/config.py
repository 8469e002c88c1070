"""ec2d's configuration: where state lives, what it listens on, which regions and zones it serves."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REGIONS: dict[str, list[str]] = {
    "us-east-1": ["a", "b", "c"],
    "us-west-2": ["a", "b", "c"],
}
DEFAULT_LISTEN = "127.0.0.1:8773"
DEFAULT_DATA_DIR = Path("/var/lib/ec2d")
DEFAULT_PREFIX = "ec2d"  # the host-object prefix of the default data dir
PREFIX_FILE = "host-prefix"  # in the data dir: the prefix of every host object made for it
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")  # a host-object prefix: lowercase alnum, <= 16


def valid_prefix(prefix: str) -> str:
    """``prefix`` if it is a usable host-object prefix, else ``ValueError``."""
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"bad host-object prefix {prefix!r}")
    return prefix


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
    data_dir: Path = DEFAULT_DATA_DIR
    cache_dir: Path = Path(os.environ.get("EC2D_CACHE_DIR", "/var/cache/ec2d"))
    listen: str = DEFAULT_LISTEN
    regions: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_REGIONS))
    # Name prefix of every host object ec2d creates (domains, namespaces, taps, routes, nft tables,
    # /run/{prefix}). None: the data dir's own, see resolve_prefix(); an explicit one wins.
    prefix: str | None = None
    prefix_base: str = DEFAULT_PREFIX  # what a data dir's generated prefix starts with (tests: ec2dt)
    libvirt_uri: str = "qemu:///system"
    # instances may promise this many times the host's memory (bench/api_scale.py raises it: 10,000
    # instances on the fake drivers)
    memory_overcommit: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_MEMORY_OVERCOMMIT", "1.0")))
    memory_reserve_mib: int = 2048  # kept for the host itself
    # thin volumes may promise this many times the space they can get (EC2D_STORAGE_OVERCOMMIT likewise)
    storage_overcommit: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_STORAGE_OVERCOMMIT", "1.0")))
    storage_reserve_mib: int = 1024  # kept free on the data dir's filesystem (state.db, logs)
    stop_timeout: float = 30.0  # seconds an ACPI shutdown may take before the domain is forced off
    public_pool: str = "198.18.0.0/15"  # public IPs and Elastic IPs (a range reserved for testing)
    host_routes: bool = False  # route the public pool from the host into ec2d's public namespace
    uplink_nat: str | None = None  # opt-in: masquerade guests with public IPs out of this host interface
    max_chain_depth: int = 16  # a volume's qcow2 chain is flattened in the background past this depth
    instances: bool = True  # run instances for real (libvirt, namespaces); off: API and model only
    build_images: bool = True  # build ec2d-tiny at start when missing or outdated
    s3: bool = True  # serve S3: start the object store engine (SeaweedFS) under DATA_DIR/s3 (--no-s3: off)
    # Lifetime of an instance role's credentials (IMDS iam/security-credentials/ROLE); tests shorten it.
    role_credential_seconds: int = field(
        default_factory=lambda: int(os.environ.get("EC2D_ROLE_CREDENTIAL_SECONDS", "21600")))
    # Seconds between two passes of the Auto Scaling controller over every group (health, capacity,
    # balance); API changes run a group's pass at once. Tests shorten it.
    autoscaling_interval: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_AUTOSCALING_INTERVAL", "10")))
    # Seconds between two looks at every load balancer's proxy process: a dead one is started again
    # from the store (it outlives ec2d, so it is not ec2d's child and cannot be waited for).
    lb_supervise_interval: float = 2.0
    # The length of one datapoint of target tracking's metrics (AWS: one minute): its alarms want
    # 3 periods above the target to scale out, 15 below to scale in. Tests shorten it.
    autoscaling_metric_period: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_AUTOSCALING_METRIC_PERIOD", "60")))
    # The system status check (runtime/status_checks.py): seconds between two looks at every running
    # instance, and how long a boot may show nothing on its console (or a domain stay paused) before
    # the check fails and automatic recovery resets it. A kernel's first line comes within seconds.
    status_check_interval: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_STATUS_CHECK_INTERVAL", "5")))
    status_check_deadline: float = field(
        default_factory=lambda: float(os.environ.get("EC2D_STATUS_CHECK_DEADLINE", "60")))

    def resolve_prefix(self, create: bool = True, generate: Callable[[str], str] | None = None) -> str | None:
        """The host-object prefix of this data dir, set on ``self.prefix``.

        An explicit ``prefix`` wins. Otherwise the data dir's ``host-prefix`` file holds it; on first
        use it is written: ``ec2d`` for the default ``/var/lib/ec2d``, ``generate(prefix_base)`` for
        any other data dir (the caller passes a generator that knows the host's names, e.g.
        :func:`orchestrator.drivers.network.prefixes.free_prefix`), so two data dirs never share a
        namespace, route, domain or tap. With ``create=False`` a data dir without the file gives
        None (nothing was ever made for it), except the default one (ec2d).
        """
        if self.prefix:
            return self.prefix
        path = self.data_dir / PREFIX_FILE
        try:
            self.prefix = valid_prefix(path.read_text().strip())
            return self.prefix
        except FileNotFoundError:
            pass
        default = _same_dir(self.data_dir, DEFAULT_DATA_DIR)
        if not create:
            return DEFAULT_PREFIX if default else None
        if not default and generate is None:
            raise ValueError(f"{self.data_dir} has no host prefix yet and no generator was given")
        prefix = DEFAULT_PREFIX if default else valid_prefix(generate(self.prefix_base))  # type: ignore[misc]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(PREFIX_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(prefix + "\n")
        try:  # first writer wins if two processes race on a new data dir
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        self.prefix = valid_prefix(path.read_text().strip())
        return self.prefix

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
    def s3_dir(self) -> Path:
        return self.data_dir / "s3"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
