"""The "public" network: one namespace (``{prefix}-public``) standing for the internet side of
every internet gateway, joined to each VPC namespace whose IGW is attached by a veth pair.

- VPC side: ``igw0`` in the VPC namespace, the VPC's default route points across it.
- Public side: ``g`` + 12 hex of the VPC id; a /32 route per public IP of that VPC points back.
- 1:1 NAT in the VPC namespace (``table ip ec2d_nat``), as EC2's IGW does it: packets to a public
  IP are DNATed to the instance's private IP, and the instance's packets leaving through the IGW
  are SNATed to its public IP. Rendered as one nft script and applied atomically.

Each link is a /30 out of 100.64.0.0/16 (carrier-grade NAT space, never routed to the uplink),
picked from the VPC id so it is stable. The root namespace keeps an ``unreachable`` route for the
public pool: nothing reaches it, or leaves through the uplink, unless ``--host-routes`` asks for a
link from the root namespace (then only the pool is routed into the public namespace).

Every object here carries the data dir's prefix (``{prefix}-public``, host link ``{prefix}-h``, root
nft table ``inet {prefix}_host``), so two daemons have separate public networks even though their
pools are the same range. Only the root route of the pool itself cannot be shared: one ec2d per
host may use ``--host-routes``/``--uplink-nat``, a second one refuses (:class:`PoolRouteTaken`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
import threading
from collections.abc import Mapping

from . import netlink
from .names import check_prefix, id_hex

IGW_IFNAME = "igw0"
LINK_BLOCK = ipaddress.IPv4Network("100.64.0.0/16")
HOST_LINK_BLOCK = ipaddress.IPv4Network("100.65.0.0/16")  # root <-> public links, one /30 per prefix
HOST_PEER_IFNAME = "host0"  # the public namespace's end of the host link
POOL_ROUTE_METRIC = 10  # the root route of the pool into the public namespace (one owner per host)
# never reachable from guests through --uplink-nat (plus the pool and the uplink's own networks)
PRIVATE_RANGES = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
)


class PublicNetworkError(Exception):
    pass


class PoolRouteTaken(PublicNetworkError):
    """Another route (another ec2d's host link) already covers the public pool in the root namespace."""


def _link_net(vpc_id: str, taken: set[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    n = int(hashlib.sha256(vpc_id.encode()).hexdigest(), 16) % (LINK_BLOCK.num_addresses // 4)
    for i in range(LINK_BLOCK.num_addresses // 4):
        net = ipaddress.IPv4Network((int(LINK_BLOCK.network_address) + 4 * ((n + i) % 16384), 30))
        if net not in taken:
            return net
    raise PublicNetworkError("no free link networks left")


def _nft(ns: str, script: str) -> None:
    out = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        raise PublicNetworkError(f"nft in {ns}: {out.stderr.strip()}")


def render_nat(mapping: Mapping[str, str]) -> str:
    """The VPC namespace's 1:1 NAT for ``{public ip: private ip}`` (atomic: table replaced)."""
    lines = ["table ip ec2d_nat", "delete table ip ec2d_nat", "table ip ec2d_nat {"]
    lines.append("  chain pre { type nat hook prerouting priority dstnat; policy accept;")
    if mapping:
        pairs = ", ".join(f"{pub} : {priv}" for pub, priv in sorted(mapping.items()))
        lines.append(f"    dnat ip to ip daddr map {{ {pairs} }}")
    lines.append("  }")
    lines.append("  chain post { type nat hook postrouting priority srcnat; policy accept;")
    if mapping:
        pairs = ", ".join(f"{priv} : {pub}" for pub, priv in sorted(mapping.items()))
        lines.append(f'    oifname "{IGW_IFNAME}" snat ip to ip saddr map {{ {pairs} }}')
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


class PublicNetwork:
    def __init__(self, prefix: str, pool: str = "198.18.0.0/15") -> None:
        self.prefix = check_prefix(prefix)
        self.pool = ipaddress.IPv4Network(pool)
        self.ns = f"{self.prefix}-public"
        self._lock = threading.Lock()

    def peer_ifname(self, vpc_id: str) -> str:
        return "g" + id_hex(vpc_id)[-12:]

    @property
    def host_ifname(self) -> str:
        """The root namespace's end of the host link (named after the prefix, for sweeps)."""
        return f"{self.prefix[:12]}-h"

    def host_link_net(self) -> ipaddress.IPv4Network:
        n = int(hashlib.sha256(self.prefix.encode()).hexdigest(), 16) % (HOST_LINK_BLOCK.num_addresses // 4)
        return ipaddress.IPv4Network((int(HOST_LINK_BLOCK.network_address) + 4 * n, 30))

    def ensure(self, host_routes: bool = False, uplink: str | None = None) -> None:
        """The public namespace; with ``host_routes`` a link from the host routing just the pool
        into it; with ``uplink`` (explicit opt-in, never in tests) guests with public IPs may reach
        the real internet through the host's interface ``uplink``, masqueraded. Both filter in the
        root namespace first (:func:`render_host_filter`): guests never open connections to the
        host, and through the uplink reach neither private nor link-local ranges. Without either
        option, a host link left by an earlier start is removed (the options are the truth)."""
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
            _nft_root(render_host_filter(self.prefix, self.host_ifname, str(self.pool), uplink, deny))
            subprocess.run(["nft", "delete", "table", "ip", uplink_table(self.prefix)], capture_output=True,
                           timeout=30)  # an older release's unfiltered NAT table
            self._ensure_host_link()
            root_addr, pub_addr = (str(h) for h in list(self.host_link_net().hosts())[:2])
            # only the pool goes into the public namespace (also the way back for NATed replies);
            # its unreachable route stays behind it
            netlink.ensure_route(None, str(self.pool), via=pub_addr, metric=POOL_ROUTE_METRIC)
            if uplink:
                netlink.ensure_route(self.ns, "0.0.0.0/0", via=root_addr)
                netlink.sysctl(None, "net.ipv4.ip_forward", "1")
            else:
                netlink.delete_route(self.ns, "0.0.0.0/0")

    def _check_pool_free(self) -> None:
        """Only one ec2d on a host can route the pool from the root namespace: refuse clearly when
        another route (another data dir's host link, or the host's own network) covers it."""
        for r in netlink.list_routes(None):
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
        out = subprocess.run(["ip", "-n", self.ns, "-4", "-o", "addr"], capture_output=True, text=True)
        taken = set()
        for line in out.stdout.splitlines():
            parts = line.split()
            if "inet" in parts:
                taken.add(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).network)
        return taken

    def attach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        """Join the VPC namespace to the public one (IGW attached); idempotent."""
        with self._lock:
            peer = self.peer_ifname(vpc_id)
            if netlink.link_exists(vpc_ns, IGW_IFNAME) and netlink.link_exists(self.ns, peer):
                return
            netlink.delete_link(vpc_ns, IGW_IFNAME)
            net = _link_net(vpc_id, self._taken())
            pub_addr, vpc_addr = (f"{h}/30" for h in list(net.hosts())[:2])
            netlink.create_veth(vpc_ns, IGW_IFNAME, peer, peer_ns=self.ns)
            netlink.add_address(self.ns, peer, pub_addr)
            netlink.add_address(vpc_ns, IGW_IFNAME, vpc_addr)
            netlink.set_up(self.ns, peer)
            netlink.set_up(vpc_ns, IGW_IFNAME)
            netlink.ensure_route(vpc_ns, "0.0.0.0/0", via=pub_addr.split("/")[0])

    def detach_vpc(self, vpc_id: str, vpc_ns: str) -> None:
        with self._lock:
            if netlink.netns_exists(vpc_ns):
                netlink.delete_link(vpc_ns, IGW_IFNAME)
                subprocess.run(["ip", "netns", "exec", vpc_ns, "nft", "delete", "table", "ip", "ec2d_nat"],
                               capture_output=True)
            if netlink.netns_exists(self.ns):
                netlink.delete_link(self.ns, self.peer_ifname(vpc_id))

    def set_public_ips(self, vpc_id: str, vpc_ns: str, mapping: Mapping[str, str]) -> None:
        """Make exactly ``{public ip: private ip}`` reachable through this VPC's IGW."""
        with self._lock:
            info = subprocess.run(["ip", "-n", vpc_ns, "-4", "-o", "addr", "show", "dev", IGW_IFNAME],
                                  capture_output=True, text=True).stdout.split()
            if "inet" not in info:
                raise PublicNetworkError(f"VPC {vpc_id} has no internet gateway link")
            via = info[info.index("inet") + 1].split("/")[0]
            _nft(vpc_ns, render_nat(mapping))
            wanted = {f"{ip}/32" for ip in mapping}
            for r in netlink.list_routes(self.ns):
                if r.gateway == via and r.dst not in wanted:
                    netlink.delete_route(self.ns, r.dst)
            for dst in wanted:
                netlink.ensure_route(self.ns, dst, via=via)

    def delete(self) -> None:
        netlink.delete_link(None, self.host_ifname)  # its routes go with it
        _delete_root_tables(self.prefix)
        netlink.delete_netns(self.ns)


def host_table(prefix: str) -> str:
    """The root-namespace nft table (``inet``) of ``prefix``: host-link filter and uplink NAT."""
    return f"{prefix.replace('-', '_')}_host"


def uplink_table(prefix: str) -> str:
    """Name of the uplink NAT table of older releases (``ip``), removed when found."""
    return f"{prefix.replace('-', '_')}_uplink"


def _nft_root(script: str) -> None:
    out = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise PublicNetworkError(f"nft (root namespace): {out.stderr.strip()}")


def _delete_root_tables(prefix: str) -> None:
    for family, table in (("inet", host_table(prefix)), ("ip", uplink_table(prefix))):
        subprocess.run(["nft", "delete", "table", family, table], capture_output=True, timeout=30)


def render_host_filter(prefix: str, host_if: str, pool: str, uplink: str | None = None,
                       deny: list[str] | tuple[str, ...] = PRIVATE_RANGES) -> str:
    """The root namespace's table for the host link ``host_if`` (applied atomically, replaced whole).

    - input: from the host link only replies (``ct state established,related``); every connection
      a guest opens to the host itself (sshd, libvirtd, ec2d on 0.0.0.0, any host address) is
      rejected.
    - forward: nothing crosses the host between the host link and anything else, except (with
      ``uplink``) new connections from the pool out of ``uplink`` to addresses outside ``deny``
      (private, link-local, CGNAT, loopback, multicast ranges, the pool, the uplink's own
      networks), and their replies.
    - postrouting (``uplink`` only): the pool is masqueraded behind the uplink's address.
    """
    table = host_table(prefix)
    lines = [f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    if uplink:
        lines.append("  set blocked { type ipv4_addr; flags interval; auto-merge;")
        lines.append(f"    elements = {{ {', '.join(sorted(set(deny)))} }} }}")
    lines += [
        "  chain input { type filter hook input priority filter - 10; policy accept;",
        f'    iifname "{host_if}" ct state established,related accept',
        f'    iifname "{host_if}" counter reject with icmpx type admin-prohibited',
        "  }",
        "  chain forward { type filter hook forward priority filter - 10; policy accept;",
        f'    iifname "{host_if}" ct state established,related accept',
        f'    oifname "{host_if}" ct state established,related accept',
    ]
    if uplink:
        lines.append(f'    iifname "{host_if}" oifname "{uplink}" ip saddr {pool} ip daddr != @blocked accept')
    lines += [
        f'    iifname "{host_if}" counter drop',
        f'    oifname "{host_if}" counter drop',
        "  }",
    ]
    if uplink:
        lines += [
            "  chain post { type nat hook postrouting priority srcnat; policy accept;",
            f'    oifname "{uplink}" ip saddr {pool} masquerade',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"
