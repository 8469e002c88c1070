"""Host networking for VPCs, in the shape of ``drivers/compute``: interface, Linux implementation
and fake per driver.

* :mod:`.vpc` - namespaces, bridges, taps, dnsmasq, root safety routes
  (:class:`VpcNetworkDriver`, :class:`LinuxVpcNetwork`, :class:`FakeVpcNetwork`);
* :mod:`.firewall` - security groups as nftables (``FirewallDriver``, ``NftFirewall``,
  ``FakeFirewall``), its pure model and compiler;
* :mod:`.public` - the internet side of IGWs (``PublicNetworkDriver``, ``LinuxPublicNetwork``,
  ``FakePublicNetwork``).

Underneath: :mod:`.netlink` (pyroute2) for links, addresses, routes and sysctls; :mod:`.rootops`,
the one module that runs ``ip``/``nft``/helper commands; :mod:`.nftables`, rulesets as objects;
:mod:`.names`, the naming scheme; :mod:`.hostprep`, :mod:`.imds_limit`, :mod:`.routes`,
:mod:`.dnsmasq`.
"""

from .dnsmasq import Lease
from .vpc import FakeVpcNetwork, LinuxVpcNetwork, SweepReport, VpcNetworkDriver

__all__ = ["FakeVpcNetwork", "Lease", "LinuxVpcNetwork", "SweepReport", "VpcNetworkDriver"]
