"""VPC networks on the host: interface (:mod:`.driver`), Linux implementation (:mod:`.linux`) and
fake (:mod:`.fake`)."""

from ..dnsmasq import Lease
from .driver import SweepReport, VpcNetworkDriver, check_subnet_in_vpc
from .fake import FakeVpc, FakeVpcNetwork
from .linux import LinuxVpcNetwork

__all__ = ["FakeVpc", "FakeVpcNetwork", "Lease", "LinuxVpcNetwork", "SweepReport", "VpcNetworkDriver",
           "check_subnet_in_vpc"]
