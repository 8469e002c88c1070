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


class PublicNetworkError(Exception):
    pass


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
        the real internet through the host's interface ``uplink``, masqueraded."""
        with self._lock:
            netlink.ensure_netns(self.ns)
            netlink.sysctl(self.ns, "net.ipv4.ip_forward", "1")
            netlink.set_up(self.ns, "lo")
            if host_routes or uplink:
                self._ensure_host_link()
            if host_routes:
                root_addr, pub_addr = (str(h) for h in list(self.host_link_net().hosts())[:2])
                # only the pool goes into the public namespace; its unreachable route stays behind it
                netlink.ensure_route(None, str(self.pool), via=pub_addr, metric=10)
            if uplink:
                self._ensure_uplink(uplink)

    def _ensure_host_link(self) -> None:
        root_addr, pub_addr = (f"{h}/30" for h in list(self.host_link_net().hosts())[:2])
        if not netlink.link_exists(None, self.host_ifname):
            netlink.create_veth(None, self.host_ifname, HOST_PEER_IFNAME, peer_ns=self.ns)
        netlink.add_address(None, self.host_ifname, root_addr)
        netlink.add_address(self.ns, HOST_PEER_IFNAME, pub_addr)
        netlink.set_up(None, self.host_ifname)
        netlink.set_up(self.ns, HOST_PEER_IFNAME)

    def _ensure_uplink(self, uplink: str) -> None:
        root_addr = str(list(self.host_link_net().hosts())[0])
        netlink.ensure_route(self.ns, "0.0.0.0/0", via=root_addr)
        netlink.sysctl(None, "net.ipv4.ip_forward", "1")
        script = render_uplink_nat(self.prefix, uplink, [str(self.pool)])
        out = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise PublicNetworkError(f"nft (uplink NAT): {out.stderr.strip()}")

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
        subprocess.run(["nft", "delete", "table", "ip", uplink_table(self.prefix)], capture_output=True)
        netlink.delete_netns(self.ns)


def uplink_table(prefix: str) -> str:
    return f"{prefix.replace('-', '_')}_uplink"


def render_uplink_nat(prefix: str, uplink: str, sources: list[str]) -> str:
    """Root-namespace masquerade of public-pool sources leaving through ``uplink`` (opt-in only)."""
    table = uplink_table(prefix)
    nets = ", ".join(sources)
    return (f"table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n"
            f"  chain post {{ type nat hook postrouting priority srcnat; policy accept;\n"
            f'    ip saddr {{ {nets} }} oifname "{uplink}" masquerade\n  }}\n}}\n')
