"""``FakePublicNetwork``: the public side in memory, for fast tests and the API-only mode. It keeps
what a real host would hold (attached VPCs, their NAT tables, the host link options), refuses what
the real driver refuses (public IPs for a VPC without an IGW link, a pool routed by someone else)
and records every call in ``calls``."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from .driver import PoolRouteTaken, PublicNetworkDriver, PublicNetworkError, SubnetEgress, SubnetEgress6

__all__ = ["FakePublicNetwork"]


class FakePublicNetwork(PublicNetworkDriver):
    def __init__(self, prefix: str = "ec2d", pool: str = "198.18.0.0/15") -> None:
        super().__init__(prefix, pool)
        self.exists = False
        self.host_routes = False
        self.uplink: str | None = None
        self.attached: dict[str, str] = {}  # vpc id -> VPC namespace
        self.nat: dict[str, dict[str, str]] = {}  # vpc id -> {public ip: private ip}
        self.egress: dict[str, list[SubnetEgress] | None] = {}  # vpc id -> what may leave each subnet
        self.ipv6: dict[str, tuple[list[str], list[SubnetEgress6]]] = {}  # vpc id -> (its /56s, per subnet)
        self.pool_routed_by: str | None = None  # tests: another ec2d routes the pool already
        self.host_names: dict[str, list[str]] = {}  # what the host would resolve
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()

    def _rec(self, name: str, *args: object) -> None:
        self.calls.append((name, args))

    def ensure(self, host_routes: bool = False, uplink: str | None = None) -> None:
        self._rec("ensure", host_routes, uplink)
        with self._lock:
            self.exists = True
            if (host_routes or uplink) and self.pool_routed_by is not None:
                raise PoolRouteTaken(f"the public pool {self.pool} is already routed on this host "
                                     f"({self.pool_routed_by})")
            self.host_routes, self.uplink = bool(host_routes or uplink), uplink

    def attach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        self._rec("attach_vpc", vpc_id, vpc_ns)
        with self._lock:
            self.attached[vpc_id] = vpc_ns

    def detach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        self._rec("detach_vpc", vpc_id, vpc_ns)
        with self._lock:
            self.attached.pop(vpc_id, None)
            self.nat.pop(vpc_id, None)
            self.egress.pop(vpc_id, None)
            self.ipv6.pop(vpc_id, None)

    def set_public_ips(self, vpc_id: str, vpc_ns: str, mapping: Mapping[str, str],
                       egress: Sequence[SubnetEgress] | None = None) -> None:
        self._rec("set_public_ips", vpc_id, vpc_ns, dict(mapping))
        with self._lock:
            if self.attached.get(vpc_id) != vpc_ns:
                raise PublicNetworkError(f"VPC {vpc_id} has no internet gateway link")
            self.nat[vpc_id] = dict(mapping)
            self.egress[vpc_id] = list(egress) if egress is not None else None

    def set_ipv6(self, vpc_id: str, vpc_ns: str, blocks: Sequence[str], egress6: Sequence[SubnetEgress6]) -> None:
        self._rec("set_ipv6", vpc_id, vpc_ns, list(blocks))
        with self._lock:
            if self.attached.get(vpc_id) != vpc_ns:
                raise PublicNetworkError(f"VPC {vpc_id} has no internet gateway link")
            self.ipv6[vpc_id] = (list(blocks), list(egress6))

    def set_host_names(self, names: Mapping[str, Sequence[str]]) -> None:
        self._rec("set_host_names", {k: list(v) for k, v in names.items()})
        with self._lock:
            self.host_names = {k: list(v) for k, v in names.items()}

    def delete(self) -> None:
        self._rec("delete")
        with self._lock:
            self.host_names = {}
            self.exists, self.host_routes, self.uplink = False, False, None
            self.attached.clear()
            self.nat.clear()
            self.egress.clear()
            self.ipv6.clear()

    def nat_gateway_ips(self, vpc_id: str) -> set[str]:
        """The NAT gateways' addresses the VPC's subnets leave through."""
        return {ip for e in self.egress.get(vpc_id) or () for ip, _ in e.via_nat}

    def route_of(self, public_ip: str) -> str | None:
        """The private IP a packet to ``public_ip`` reaches (None: not routed), as the NAT does."""
        for mapping in self.nat.values():
            if public_ip in mapping:
                return mapping[public_ip]
        return None
