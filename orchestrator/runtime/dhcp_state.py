"""What a VPC's DHCP server hands out, as a pure function of the VPC and its DHCP options set.

* a set: its domain name (option 15, verbatim), its name servers in order (``AmazonProvidedDNS``
  is the VPC's resolver, base + 2), NTP and NetBIOS servers and the NetBIOS node type; IPv6
  addresses are DHCPv6's, not handed out over DHCPv4; a set without name servers gives none;
* ``default`` (no set; or a set that is gone): as EC2 does for Nitro instances, only the
  link-local resolver 169.254.169.253 as name server, no domain name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from orchestrator.domain import dhcp_options as dopt
from orchestrator.drivers.network.dnsmasq import DhcpOptions
from orchestrator.drivers.network.names import LINK_LOCAL_DNS_IP, vpc_dns_ip
from orchestrator.store.sqlite import Record

NO_SET = DhcpOptions(domain_name=None, dns_servers=(LINK_LOCAL_DNS_IP,))


def _ipv4(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        try:
            ip = ipaddress.ip_address(v)
        except ValueError:
            continue
        if ip.version == 4 and v not in out:
            out.append(v)
    return tuple(out)


def vpc_dhcp_options(vpc: Record, options_set: Record | None) -> DhcpOptions:
    """The options the VPC's DHCP server hands out; ``options_set`` is the record the VPC's
    ``DhcpOptionsId`` names (None for ``default`` or a missing one)."""
    if options_set is None or options_set.id != vpc.data["DhcpOptionsId"]:
        return NO_SET
    confs = options_set.data["DhcpConfigurations"]
    resolver = vpc_dns_ip(vpc.data["CidrBlock"])
    domain = dopt.values_of(confs, dopt.DOMAIN_NAME)
    dns = [resolver if v == dopt.AMAZON_PROVIDED_DNS else v for v in dopt.values_of(confs, dopt.DNS_SERVERS)]
    node_type = dopt.values_of(confs, dopt.NETBIOS_NODE_TYPE)
    return DhcpOptions(
        domain_name=domain[0] if domain else None,
        dns_servers=_ipv4(dns),
        ntp_servers=_ipv4(dopt.values_of(confs, dopt.NTP_SERVERS)),
        netbios_name_servers=_ipv4(dopt.values_of(confs, dopt.NETBIOS_SERVERS)),
        netbios_node_type=int(node_type[0]) if node_type else None,
    )
