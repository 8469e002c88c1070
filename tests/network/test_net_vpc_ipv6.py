"""LinuxVpcNetwork's IPv6 side against the real kernel and dnsmasq: a subnet with a /64 gets the
router address ``::1`` on its bridge, IPv6 forwarding in the VPC namespace only, router
advertisements with the M flag and no SLAAC prefix, and DHCPv6 handing each MAC its address.

The guest side speaks DHCPv6 from Python (a Solicit with a DUID-LL, the Advertise parsed), so
the test needs no DHCPv6 client on the host. Everything stays inside the test's namespaces.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import struct
import subprocess
import time

import pytest
from test_net_vpc_linux import rid

from orchestrator.drivers.network import netlink
from orchestrator.drivers.network.dnsmasq import Lease
from orchestrator.drivers.network.names import bridge_name
from orchestrator.drivers.network.vpc import LinuxVpcNetwork

VPC, SUB, SUB4, SUB6 = rid("vpc"), rid("subnet"), rid("subnet"), rid("subnet")
NET6, NET6_ONLY = "2001:db8:77:1::/64", "2001:db8:77:2::/64"
MAC, MAC_OTHER, MAC6 = "02:00:0a:07:01:05", "02:00:0a:07:01:09", "02:00:0a:07:02:05"
ADDR6, ADDR6_ONLY = "2001:db8:77:1::1f", "2001:db8:77:2::a"


@pytest.fixture(scope="module")
def vpc6(net_driver: LinuxVpcNetwork, make_guest):
    d = net_driver
    d.ensure_vpc(VPC, "10.7.0.0/16")
    d.ensure_subnet(VPC, SUB, "10.7.1.0/24", NET6)
    d.ensure_subnet(VPC, SUB4, "10.7.2.0/24")
    d.ensure_subnet(VPC, SUB6, None, NET6_ONLY)  # IPv6-only
    d.set_leases(VPC, [Lease(MAC, "10.7.1.5", "ip-10-7-1-5", ADDR6), Lease(MAC6, None, "i-0abc", ADDR6_ONLY)])
    guest = make_guest(VPC, SUB, MAC)
    netlink.sysctl(guest.ns, "net.ipv6.conf.eth0.accept_ra", "0")  # the test reads the RA itself
    v6only = make_guest(VPC, SUB6, MAC6)
    netlink.sysctl(v6only.ns, "net.ipv6.conf.eth0.accept_ra", "0")
    yield {"guest": guest, "other": make_guest(VPC, SUB, MAC_OTHER), "v6only": v6only}
    d.delete_vpc(VPC)


def addrs6(ns: str, dev: str) -> list[str]:
    """IPv6 addresses (CIDR) of ``dev`` in ``ns``, link-local ones included."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "-6", "addr", "show", "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines()]


def _link_local(ns: str, deadline: float = 10.0) -> str:
    """eth0's link-local address."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for a in addrs6(ns, "eth0"):
            if a.startswith("fe80:"):
                return a.split("/")[0]
        time.sleep(0.1)
    raise AssertionError(f"no link-local address in {ns}")


def _wait_usable(ns: str, addr: str, deadline: float = 10.0) -> None:
    """Bind succeeds only once the address left the tentative state."""
    end = time.monotonic() + deadline
    while True:
        with netlink.netns_socket(ns, socket.AF_INET6, socket.SOCK_DGRAM) as s:
            try:
                s.bind((addr, 0, 0, _ifindex(ns)))
                return
            except OSError:
                if time.monotonic() > end:
                    raise
        time.sleep(0.2)


def _ifindex(ns: str) -> int:
    return netlink.link_info(ns, "eth0").index


def solicit(ns: str, mac: str, timeout: float = 8.0) -> list[str]:
    """A DHCPv6 Solicit from ``ns``'s eth0 (DUID-LL of ``mac``, one IA_NA); the addresses of the
    Advertise's IA_NA ([] when none came)."""
    data = advertise(ns, mac, timeout)
    return _ia_addresses(data) if data is not None else []


def advertise(ns: str, mac: str, timeout: float = 8.0, extra: bytes = b"") -> bytes | None:
    """The options of the Advertise answering a Solicit (plus ``extra`` options) from ``ns``'s eth0."""
    ll = _link_local(ns)
    _wait_usable(ns, ll)
    xid = secrets.token_bytes(3)
    duid = struct.pack("!HH", 3, 1) + bytes.fromhex(mac.replace(":", ""))
    iana = struct.pack("!III", 1, 0, 0)
    msg = (b"\x01" + xid + struct.pack("!HH", 1, len(duid)) + duid + struct.pack("!HH", 3, len(iana)) + iana
           + struct.pack("!HHH", 8, 2, 0) + extra)
    idx = _ifindex(ns)
    with netlink.netns_socket(ns, socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind((ll, 546, 0, idx))
        s.settimeout(1.0)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.sendto(msg, ("ff02::1:2", 547, 0, idx))
            try:
                data, _ = s.recvfrom(2048)
            except TimeoutError:
                continue
            if data[0] == 2 and data[1:4] == xid:
                return data[4:]
    return None


def _options(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i + 4 <= len(data):
        code, length = struct.unpack("!HH", data[i:i + 4])
        out.append((code, data[i + 4:i + 4 + length]))
        i += 4 + length
    return out


def _ia_addresses(data: bytes) -> list[str]:
    return [str(ipaddress.IPv6Address(sub[:16])) for code, body in _options(data) if code == 3
            for scode, sub in _options(body[12:]) if scode == 5]


def router_advert(ns: str, timeout: float = 20.0) -> bytes:
    """The first router advertisement seen on ``ns``'s eth0 (after sending a solicitation)."""
    _wait_usable(ns, _link_local(ns))  # a solicitation needs a source address past DAD
    with netlink.netns_socket(ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.settimeout(1.0)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0, 0, _ifindex(ns)))
            try:
                data, _ = s.recvfrom(2048)
            except TimeoutError:
                continue
            if data[0] == 134:
                return data
    raise AssertionError("no router advertisement")


def test_bridge_router_address_and_forwarding(net_driver: LinuxVpcNetwork, vpc6) -> None:
    ns = net_driver.netns_name(VPC)
    assert "2001:db8:77:1::1/64" in addrs6(ns, bridge_name(SUB))
    assert all(a.startswith("fe80:") for a in addrs6(ns, bridge_name(SUB4)))
    assert netlink.read_sysctl(ns, "net.ipv6.conf.all.forwarding") == "1"
    conf = open(os.path.join(net_driver.run_dir, ns, "dnsmasq.conf")).read()
    assert f"dhcp-range=set:{bridge_name(SUB)},2001:db8:77:1::,static,64,3600" in conf and "enable-ra" in conf
    assert "slaac" not in conf and "ra-stateless" not in conf


def test_router_advert_managed_without_slaac(vpc6) -> None:
    ra = router_advert(vpc6["guest"].ns)
    flags, lifetime = ra[5], struct.unpack("!H", ra[6:8])[0]
    assert flags & 0x80 and lifetime > 0  # M flag: addresses by DHCPv6; a default router
    prefixes = [body for code, body in _nd_options(ra[16:]) if code == 3]
    assert all(not (p[1] & 0x40) for p in prefixes)  # no prefix with the A (autonomous) flag


def _nd_options(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i + 2 <= len(data) and data[i + 1]:
        out.append((data[i], data[i + 2:i + 8 * data[i + 1]]))
        i += 8 * data[i + 1]
    return out


def test_dhcpv6_hands_each_mac_its_address(vpc6) -> None:
    assert solicit(vpc6["guest"].ns, MAC) == [ADDR6]
    assert solicit(vpc6["other"].ns, MAC_OTHER, timeout=4.0) == []  # static only: no lease for strangers


def test_removing_the_block_removes_the_router_address(net_driver: LinuxVpcNetwork, vpc6) -> None:
    ns = net_driver.netns_name(VPC)
    net_driver.ensure_subnet(VPC, SUB, "10.7.1.0/24")
    try:
        assert all(a.startswith("fe80:") for a in addrs6(ns, bridge_name(SUB)))
        conf = open(os.path.join(net_driver.run_dir, ns, "dnsmasq.conf")).read()
        assert "2001:db8:77:1::" not in conf  # (enable-ra stays: the IPv6-only subnet still has RAs)
    finally:
        net_driver.ensure_subnet(VPC, SUB, "10.7.1.0/24", NET6)
    assert "2001:db8:77:1::1/64" in addrs6(ns, bridge_name(SUB))


def test_ipv6_only_subnet_bridge_has_no_ipv4_and_serves_dhcpv6(net_driver: LinuxVpcNetwork, vpc6) -> None:
    ns = net_driver.netns_name(VPC)
    v4 = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "-4", "addr", "show", "dev", bridge_name(SUB6)],
                        capture_output=True, text=True, check=True).stdout
    assert v4.strip() == ""
    assert "2001:db8:77:2::1/64" in addrs6(ns, bridge_name(SUB6))
    conf = open(os.path.join(net_driver.run_dir, ns, "dnsmasq.conf")).read()
    assert f"dhcp-range=set:{bridge_name(SUB6)},2001:db8:77:2::,static,64,3600" in conf
    assert f"dhcp-option=tag:{bridge_name(SUB6)}" not in conf
    assert "listen-address=fd00:ec2::253" in conf and "dhcp-option=option6:dns-server,[fd00:ec2::253]" in conf
    assert solicit(vpc6["v6only"].ns, MAC6) == [ADDR6_ONLY]
    answer = advertise(vpc6["v6only"].ns, MAC6, extra=struct.pack("!HHH", 6, 2, 23))  # ORO: DNS servers
    assert answer is not None
    assert [str(ipaddress.IPv6Address(body[:16])) for code, body in _options(answer) if code == 23] == [
        "fd00:ec2::253"]
    ra = router_advert(vpc6["v6only"].ns)
    assert ra[5] & 0x80 and struct.unpack("!H", ra[6:8])[0] > 0  # managed, a default router
    net_driver.ensure_vpc(VPC, "10.7.0.0/16")  # rebuilt from the state file (as after a restart): still IPv6-only
    assert "2001:db8:77:2::1/64" in addrs6(ns, bridge_name(SUB6))
