"""``LinuxPublicNetwork``: the public side as a network namespace, veth pairs, routes and nft tables
(links, addresses and routes through :mod:`..netlink`, nft through :mod:`..rootops`)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Mapping, Sequence

from .. import host_names, netlink, netlink_routes, rootops
from ..errors import NamespaceNotFound, NftError
from .driver import (
    HOST_PEER_IFNAME,
    IGW_IFNAME,
    POOL_ROUTE_METRIC,
    PRIVATE_RANGES,
    PoolRouteTaken,
    PublicNetworkDriver,
    PublicNetworkError,
    SubnetEgress,
    SubnetEgress6,
    link6,
    link_net,
)
from .rules import (
    NAT_TABLE,
    ROUTE6_TABLE,
    host_table,
    render_host_filter,
    render_nat,
    render_route6,
    uplink_table,
)

__all__ = ["LinuxPublicNetwork"]

_HAS_IPV6 = os.path.exists("/proc/net/if_inet6")  # False on a kernel booted with ipv6.disable=1


def _load(script: str, netns: str | None) -> None:
    try:
        rootops.run_nft(script, netns)
    except NftError as exc:
        raise PublicNetworkError(str(exc)) from exc


def _delete_root_tables(prefix: str) -> None:
    for family, table in (("inet", host_table(prefix)), ("ip", uplink_table(prefix))):
        rootops.nft_delete_table(None, family, table)


class LinuxPublicNetwork(PublicNetworkDriver):
    def __init__(self, prefix: str, pool: str = "198.18.0.0/15") -> None:
        super().__init__(prefix, pool)
        self._lock = threading.Lock()

    def ensure(self, host_routes: bool = False, uplink: str | None = None) -> None:
        """See :meth:`PublicNetworkDriver.ensure`. Both options filter in the root namespace first
        (:func:`~.rules.render_host_filter`): guests never open connections to the host, and
        through the uplink reach neither private nor link-local ranges."""
        with self._lock:
            netlink.ensure_netns(self.ns)
            netlink.sysctl(self.ns, "net.ipv4.ip_forward", "1")
            netlink.set_up(self.ns, "lo")
            if not (host_routes or uplink):
                self._release_host_link()
                return
            self._check_pool_free()
            deny = list(PRIVATE_RANGES) + [str(self.pool)]
            if uplink:
                info = netlink.link_info(None, uplink)
                if info is None:
                    raise PublicNetworkError(f"--uplink-nat: no interface {uplink} on this host")
                deny += [str(ipaddress.IPv4Interface(a).network) for a in info.addresses]
            _load(render_host_filter(self.prefix, self.host_ifname, str(self.pool), uplink, deny), None)
            rootops.nft_delete_table(None, "ip", uplink_table(self.prefix))  # an older release's NAT table
            self._ensure_host_link()
            root_addr, pub_addr = (str(h) for h in list(self.host_link_net().hosts())[:2])
            # only the pool goes into the public namespace (also the way back for NATed replies);
            # its unreachable route stays behind it
            netlink_routes.ensure_route(None, str(self.pool), via=pub_addr, metric=POOL_ROUTE_METRIC)
            if uplink:
                netlink_routes.ensure_route(self.ns, "0.0.0.0/0", via=root_addr)
                netlink.sysctl(None, "net.ipv4.ip_forward", "1")
            else:
                netlink_routes.delete_route(self.ns, "0.0.0.0/0")

    def _check_pool_free(self) -> None:
        """Only one ec2d on a host can route the pool from the root namespace: refuse clearly when
        another route (another data dir's host link, or the host's own network) covers it."""
        for r in netlink_routes.list_routes(None):
            if r.type != "unicast" or r.dev == self.host_ifname:
                continue
            if ipaddress.IPv4Network(r.dst).overlaps(self.pool) and r.dst != "0.0.0.0/0":
                owner = f"the host link of ec2d prefix {r.dev[:-2]}" if r.dev and r.dev.endswith("-h") \
                    else f"dev {r.dev}"
                raise PoolRouteTaken(
                    f"--host-routes/--uplink-nat: the public pool {self.pool} is already routed on this "
                    f"host ({r.dst} via {owner}); only one ec2d per host can route it. Start this one "
                    f"without the option, or stop the other and restart it without the option "
                    f"(or `ec2d uninstall --data-dir` its data dir)")

    def _ensure_host_link(self) -> None:
        root_addr, pub_addr = (f"{h}/30" for h in list(self.host_link_net().hosts())[:2])
        if not netlink.link_exists(None, self.host_ifname):
            netlink.create_veth(None, self.host_ifname, HOST_PEER_IFNAME, peer_ns=self.ns)
        netlink.add_address(None, self.host_ifname, root_addr)
        netlink.add_address(self.ns, HOST_PEER_IFNAME, pub_addr)
        netlink.set_up(None, self.host_ifname)
        netlink.set_up(self.ns, HOST_PEER_IFNAME)

    def _release_host_link(self) -> None:
        netlink.delete_link(None, self.host_ifname)  # the pool route and the public default go with it
        _delete_root_tables(self.prefix)

    def _taken(self) -> set[ipaddress.IPv4Network]:
        """Link networks already used in the public namespace."""
        if not netlink.netns_exists(self.ns):
            return set()
        return {ipaddress.IPv4Interface(a).network for a in netlink.list_addresses(self.ns)}

    def attach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        with self._lock:
            peer = self.peer_ifname(vpc_id)
            if netlink.link_exists(vpc_ns, IGW_IFNAME) and netlink.link_exists(self.ns, peer):
                return
            netlink.delete_link(vpc_ns, IGW_IFNAME)
            net = link_net(vpc_id, self._taken())
            pub_addr, vpc_addr = (f"{h}/30" for h in list(net.hosts())[:2])
            netlink.create_veth(vpc_ns, IGW_IFNAME, peer, peer_ns=self.ns)
            netlink.add_address(self.ns, peer, pub_addr)
            netlink.add_address(vpc_ns, IGW_IFNAME, vpc_addr)
            netlink.set_up(self.ns, peer)
            netlink.set_up(vpc_ns, IGW_IFNAME)
            netlink_routes.ensure_route(vpc_ns, "0.0.0.0/0", via=pub_addr.split("/")[0])

    def detach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        with self._lock:
            if netlink.netns_exists(vpc_ns):
                netlink.delete_link(vpc_ns, IGW_IFNAME)
                rootops.nft_delete_table(vpc_ns, "ip", NAT_TABLE)
                rootops.nft_delete_table(vpc_ns, "ip6", ROUTE6_TABLE)
            if netlink.netns_exists(self.ns):
                netlink.delete_link(self.ns, self.peer_ifname(vpc_id))

    def _igw_address(self, vpc_id: str, vpc_ns: str) -> str:
        """The VPC side's address on its IGW link (the public side routes public IPs to it)."""
        return self._igw_interface(vpc_id, vpc_ns).split("/")[0]

    def _igw_interface(self, vpc_id: str, vpc_ns: str) -> str:
        """The VPC side's IPv4 address on its IGW link, with its /30."""
        try:
            info = netlink.link_info(vpc_ns, IGW_IFNAME)
        except NamespaceNotFound:
            info = None
        v4 = [a for a in info.addresses if ":" not in a] if info is not None else []
        if not v4:
            raise PublicNetworkError(f"VPC {vpc_id} has no internet gateway link")
        return v4[0]

    def set_public_ips(self, vpc_id: str, vpc_ns: str, mapping: Mapping[str, str],
                       egress: Sequence[SubnetEgress] | None = None) -> None:
        with self._lock:
            via = self._igw_address(vpc_id, vpc_ns)
            _load(render_nat(mapping, egress), vpc_ns)
            wanted = {f"{ip}/32" for ip in mapping} | {f"{ip}/32" for e in egress or () for ip, _ in e.via_nat}
            for r in netlink_routes.list_routes(self.ns):
                if r.gateway == via and r.dst not in wanted:
                    netlink_routes.delete_route(self.ns, r.dst)
            for dst in wanted:
                netlink_routes.ensure_route(self.ns, dst, via=via)

    def set_ipv6(self, vpc_id: str, vpc_ns: str, blocks: Sequence[str], egress6: Sequence[SubnetEgress6]) -> None:
        if not _HAS_IPV6:
            return  # a kernel without IPv6: nothing to carry (nor to filter)
        with self._lock:
            link = ipaddress.IPv4Interface(self._igw_interface(vpc_id, vpc_ns)).network
            pub6, vpc6 = (link6(h) for h in list(link.hosts())[:2])
            _load(render_route6(egress6), vpc_ns)  # the filter first: nothing crosses unchecked
            netlink.sysctl(self.ns, "net.ipv6.conf.all.forwarding", "1")
            netlink.add_address6(self.ns, self.peer_ifname(vpc_id), f"{pub6}/126")
            netlink.add_address6(vpc_ns, IGW_IFNAME, f"{vpc6}/126")
            netlink_routes.ensure_route(vpc_ns, "::/0", via=str(pub6))
            wanted = {str(ipaddress.IPv6Network(b)) for b in blocks}
            for r in netlink_routes.list_routes(self.ns, family=socket.AF_INET6):
                if r.gateway == str(vpc6) and r.dst not in wanted:
                    netlink_routes.delete_route(self.ns, r.dst)
            for dst in sorted(wanted):
                netlink_routes.ensure_route(self.ns, dst, via=str(vpc6))

    def set_host_names(self, names: Mapping[str, Sequence[str]]) -> None:
        host_names.write(self.prefix, names)

    def delete(self) -> None:
        host_names.write(self.prefix, {})
        netlink.delete_link(None, self.host_ifname)  # its routes go with it
        _delete_root_tables(self.prefix)
        netlink.delete_netns(self.ns)
