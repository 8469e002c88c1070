"""Host networking for VPCs: namespaces, bridges, taps, dnsmasq, root safety routes.

Entry points: :class:`~.vpc.VpcNetworkDriver` (interface), :class:`~.vpc.LinuxVpcNetwork` (real),
:class:`~.vpc.FakeVpcNetwork` (tests of services). Naming scheme: :mod:`.names`.
"""

from .dnsmasq import Lease
from .vpc import FakeVpcNetwork, LinuxVpcNetwork, SweepReport, VpcNetworkDriver

__all__ = ["FakeVpcNetwork", "Lease", "LinuxVpcNetwork", "SweepReport", "VpcNetworkDriver"]
