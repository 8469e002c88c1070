"""What every part of the runtime shares: the model, the drivers, the job runner and the few
facts the process keeps in memory (which VPCs have a metadata listener, which instances' NICs this
process plugged)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.drivers.compute.driver import ComputeDriver
from orchestrator.drivers.network.firewall import FirewallDriver
from orchestrator.drivers.network.public.driver import SubnetEgress, SubnetEgress6
from orchestrator.drivers.network.vpc import VpcNetworkDriver
from orchestrator.drivers.storage.driver import StorageDriver
from orchestrator.imds.model import InstanceMetadata
from orchestrator.runtime.jobs import Jobs
from orchestrator.runtime.port import Model


class MetadataService(Protocol):
    """The metadata service (``imds.server.IMDSServer``): one listener and table per VPC."""

    async def add_listener(self, key: str, sock: socket.socket) -> None: ...

    async def remove_listener(self, key: str) -> None: ...

    def set_instances(self, key: str, instances: Mapping[str, InstanceMetadata]) -> None: ...


class SocketServer(Protocol):
    """Something serving per-VPC listening sockets (``api.endpoint_sites.EndpointSites``)."""

    async def add_listener(self, key: str, sock: socket.socket, tls: bool = True) -> None: ...

    async def remove_listener(self, key: str) -> None: ...


Opener = Callable[[str], socket.socket]  # makes a listening socket in the VPC namespace named


@dataclass(frozen=True)
class VpcEndpoint:
    """ec2d's in-VPC service endpoint: ``open`` makes its listening socket (169.254.169.250:443) in
    a VPC namespace, ``server`` serves it; ``more`` are S3's listeners, ``(name, opener, tls)``
    (its address of each region, HTTPS on 443 and HTTP on 80, as S3 answers both)."""

    open: Opener
    server: SocketServer
    more: tuple[tuple[str, Opener, bool], ...] = ()
    # a listening socket at (namespace, address):443, for the interface endpoints' ENI addresses
    open_address: Callable[[str, str], socket.socket] | None = None

    def listeners(self, vpc_id: str) -> list[tuple[str, Opener, bool]]:
        """``(key, opener, tls)`` of every listener of ``vpc_id`` (the key starts with the VPC id)."""
        return [(vpc_id, self.open, True)] + [(f"{vpc_id}/{name}", opener, tls) for name, opener, tls in self.more]


class PublicSide(Protocol):
    """ec2d's public network (``drivers.network.public.PublicNetwork``): gateways and 1:1 NAT."""

    def ensure(self, host_routes: bool = False, uplink: str | None = None) -> None: ...

    def attach_vpc(self, vpc_id: str, vpc_ns: str) -> None: ...

    def detach_vpc(self, vpc_id: str, vpc_ns: str) -> None: ...

    def set_public_ips(self, vpc_id: str, vpc_ns: str, mapping: Mapping[str, str],
                       egress: Sequence[SubnetEgress] | None = None) -> None: ...

    def set_ipv6(self, vpc_id: str, vpc_ns: str, blocks: Sequence[str], egress6: Sequence[SubnetEgress6]) -> None: ...

    def set_host_names(self, names: Mapping[str, Sequence[str]]) -> None: ...


@dataclass
class Parts:
    model: Model
    compute: ComputeDriver
    networks: Mapping[str, VpcNetworkDriver]
    storage: StorageDriver
    imds: MetadataService
    virt_type: str
    jobs: Jobs = field(default_factory=Jobs)
    open_listener: Callable[[str], socket.socket] | None = None  # a socket in a netns (None: no IMDS)
    public: PublicSide | None = None  # None: no public side (no gateways, no NAT)
    firewall: FirewallDriver | None = None  # None: no filtering
    listening: set[str] = field(default_factory=set)  # VPCs whose metadata listener is open
    endpoint: VpcEndpoint | None = None  # None: no in-VPC service endpoint
    endpoint_listening: set[str] = field(default_factory=set)  # VPCs whose endpoint listener is open
    endpoint_addresses: dict[str, set[str]] = field(default_factory=dict)  # VPC -> interface endpoint listeners
    plugged: set[str] = field(default_factory=set)  # instances whose NICs this process put in their VPC
    # the metadata service's socket at [fd00:ec2::254] in a netns (None: no IMDS over IPv6); its
    # listener is keyed ``<vpc id>#ipv6`` and answers only instances with HttpProtocolIpv6 enabled
    open_listener6: Callable[[str], socket.socket] | None = None

    @property
    def prefix(self) -> str:
        return self.model.config.prefix or "ec2d"  # resolved by the server before the runtime is built

    def domain_name(self, instance_id: str) -> str:
        return f"{self.prefix}-{instance_id}"

    def instance_of_domain(self, name: str) -> str | None:
        head = f"{self.prefix}-"
        return name[len(head):] if name.startswith(head) and name[len(head):].startswith("i-") else None

    def instance_dir(self, instance_id: str) -> Path:
        path = self.model.config.data_dir / "instances" / instance_id
        path.mkdir(mode=0o700, parents=True, exist_ok=True)  # console log: owner-only
        return path

    def console_path(self, instance_id: str) -> Path:
        """The instance's serial console log (written by virtlogd, appended across boots)."""
        return self.instance_dir(instance_id) / "console.log"

    def console_bytes(self, instance_id: str) -> int:
        """How much the instance's serial console has written, ever (one stat: the status checks
        ask it of every running instance every few seconds; a missing directory means 0)."""
        try:
            return os.stat(self.model.config.data_dir / "instances" / instance_id / "console.log").st_size
        except OSError:
            return 0

    def any_network(self) -> VpcNetworkDriver:
        """Host-wide network work (root routes, orphan sweeps) goes through any region's driver."""
        return next(iter(self.networks.values()))
