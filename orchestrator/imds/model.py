"""What an instance's metadata is made of: plain value objects, no database, no HTTP.

The daemon renders one `InstanceMetadata` per running instance (and hands a *new* object to the
server whenever something changes: treat these objects as immutable once handed over; the server
caches the rendered tree per object).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# A credentials provider returns a mapping with AccessKeyId, SecretAccessKey, Token,
# Expiration (datetime) and optionally LastUpdated (datetime), or a Code other than "Success" with
# a Message (no keys: the role cannot be assumed). It is called on every request of
# the credentials leaf, so it must be cheap (cache and rotate inside it, at least 5 minutes before
# Expiration) and must not block.
CredentialsProvider = Callable[[], Mapping[str, Any]]
# What the provider would return, when that is known at once (no store, no lock, no minting: it runs
# on the service's event loop), else None: the provider is then called off the loop.
CachedCredentials = Callable[[], Mapping[str, Any] | None]

HTTP_TOKENS = ("optional", "required")
HTTP_ENDPOINT = ("enabled", "disabled")
INSTANCE_METADATA_TAGS = ("enabled", "disabled")


def default_hostname(private_ip: str, region: str) -> str:
    """EC2's private DNS name: ip-10-0-1-23.ec2.internal (us-east-1), else <region>.compute.internal."""
    base = "ip-" + private_ip.replace(".", "-")
    if region == "us-east-1":
        return f"{base}.ec2.internal"
    return f"{base}.{region}.compute.internal"


@dataclass(kw_only=True)
class MetadataOptions:
    """The instance's MetadataOptions (ModifyInstanceMetadataOptions)."""

    http_tokens: str = "optional"
    http_endpoint: str = "enabled"
    http_put_response_hop_limit: int = 1
    instance_metadata_tags: str = "disabled"

    def __post_init__(self) -> None:
        if self.http_tokens not in HTTP_TOKENS:
            raise ValueError(f"http_tokens must be one of {HTTP_TOKENS}")
        if self.http_endpoint not in HTTP_ENDPOINT:
            raise ValueError(f"http_endpoint must be one of {HTTP_ENDPOINT}")
        if self.instance_metadata_tags not in INSTANCE_METADATA_TAGS:
            raise ValueError(f"instance_metadata_tags must be one of {INSTANCE_METADATA_TAGS}")
        if not 1 <= int(self.http_put_response_hop_limit) <= 64:
            raise ValueError("http_put_response_hop_limit must be 1..64")


@dataclass(kw_only=True)
class IamRole:
    """An instance profile's role. Only present when the instance has an instance profile."""

    name: str
    credentials: CredentialsProvider
    cached_credentials: CachedCredentials | None = None
    instance_profile_arn: str | None = None  # default arn:aws:iam::<account>:instance-profile/<name>
    instance_profile_id: str = "AIPAEC2DINSTANCEPROFILE"
    last_updated: datetime | None = None  # iam/info LastUpdated; default: the launch time


@dataclass(kw_only=True)
class NetworkInterface:
    """One ENI as seen under network/interfaces/macs/<mac>/."""

    mac: str
    interface_id: str
    device_number: int
    private_ips: list[str]  # primary first (none in an IPv6-only subnet: then ipv6s)
    local_hostname: str
    owner_id: str
    subnet_id: str
    subnet_cidr: str | None  # None: an IPv6-only subnet
    vpc_id: str
    vpc_cidrs: list[str]  # primary first
    security_groups: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    public_ip: str | None = None
    public_hostname: str | None = None
    ipv6s: list[str] = field(default_factory=list)  # the ENI's IPv6 addresses (none: no ipv6s entry)
    subnet_ipv6_cidrs: list[str] = field(default_factory=list)
    vpc_ipv6_cidrs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mac = self.mac.lower()
        if not self.private_ips and not self.ipv6s:
            raise ValueError("a network interface needs at least one private IP or IPv6 address")


@dataclass(kw_only=True)
class InstanceMetadata:
    """Everything the metadata service tells one instance."""

    instance_id: str
    image_id: str
    instance_type: str
    reservation_id: str
    region: str
    availability_zone: str
    availability_zone_id: str
    account_id: str
    private_ip: str | None  # None: an instance of an IPv6-only subnet (give its hostname)
    mac: str
    subnet_id: str
    subnet_cidr: str | None
    vpc_id: str
    vpc_cidrs: list[str]
    interface_id: str
    launched_at: datetime
    hostname: str | None = None  # local-hostname; default from private_ip and region
    ami_launch_index: int = 0
    device_number: int = 0
    public_ip: str | None = None
    public_hostname: str | None = None
    security_groups: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    public_keys: list[tuple[str, str]] = field(default_factory=list)  # (key name, OpenSSH public key)
    user_data: bytes | None = None
    block_device_mapping: dict[str, str] = field(default_factory=dict)  # {"ami": "/dev/xvda", ...}
    iam_role: IamRole | None = None
    # identity-credentials/ec2/...: served only when a provider is given
    identity_credentials: CredentialsProvider | None = None
    tags: dict[str, str] = field(default_factory=dict)
    options: MetadataOptions = field(default_factory=MetadataOptions)
    # Extra ENIs (or all of them). Empty: the primary one is derived from the fields above.
    # When given, the primary interface (device_number 0) comes first and its mac equals `mac`.
    network_interfaces: list[NetworkInterface] = field(default_factory=list)
    architecture: str = "x86_64"
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    ami_manifest_path: str = "(unknown)"
    instance_life_cycle: str = "on-demand"
    profile: str = "default-hvm"

    def __post_init__(self) -> None:
        if not self.instance_id.startswith("i-"):
            raise ValueError("instance_id must start with 'i-'")
        self.mac = self.mac.lower()
        if self.hostname is None:
            if self.private_ip is None:
                raise ValueError("an instance without a private IPv4 address needs its hostname")
            self.hostname = default_hostname(self.private_ip, self.region)
        if self.public_ip and not self.public_hostname:
            self.public_hostname = public_hostname_for(self.public_ip, self.region)
        if self.network_interfaces and self.network_interfaces[0].mac != self.mac:
            raise ValueError("the first network interface must be the primary one (same mac)")

    @property
    def local_hostname(self) -> str:
        assert self.hostname is not None
        return self.hostname

    def interfaces(self) -> list[NetworkInterface]:
        """All ENIs, primary first."""
        if self.network_interfaces:
            return list(self.network_interfaces)
        return [
            NetworkInterface(
                mac=self.mac,
                interface_id=self.interface_id,
                device_number=self.device_number,
                private_ips=[self.private_ip] if self.private_ip else [],
                local_hostname=self.local_hostname,
                owner_id=self.account_id,
                subnet_id=self.subnet_id,
                subnet_cidr=self.subnet_cidr,
                vpc_id=self.vpc_id,
                vpc_cidrs=list(self.vpc_cidrs),
                security_groups=list(self.security_groups),
                security_group_ids=list(self.security_group_ids),
                public_ip=self.public_ip,
                public_hostname=self.public_hostname,
            )
        ]


def public_hostname_for(public_ip: str, region: str) -> str:
    """EC2's public DNS name: ec2-203-0-113-25.compute-1.amazonaws.com (us-east-1) or
    ec2-...<region>.compute.amazonaws.com."""
    base = "ec2-" + public_ip.replace(".", "-")
    if region == "us-east-1":
        return f"{base}.compute-1.amazonaws.com"
    return f"{base}.{region}.compute.amazonaws.com"
