"""Security groups as nftables in each VPC namespace: the model, its compiler and the drivers.

* :mod:`.model` - :class:`Rule`, :class:`SecurityGroup`, :class:`Port` and :func:`check_rule`
  (the checks the API runs on every rule it stores); pure, importable without root.
* :mod:`.compiler` - the model -> ``table inet ec2d_sg`` (with :mod:`.antispoof`'s
  ``table bridge ec2d_as``), built from :mod:`..nftables` objects; :mod:`.ranges` the interval
  arithmetic; :mod:`.failclosed` degraded groups and the lockdown ruleset; pure.
* :mod:`.semantics` - :func:`allows`, the reference semantics in Python.
* :mod:`.driver` - :class:`FirewallDriver`, the interface; :mod:`.nft_driver` :class:`NftFirewall`
  (loads rulesets through :mod:`.loader` and :mod:`..rootops`); :mod:`.fake` :class:`FakeFirewall`.

EC2 semantics implemented
-------------------------
* allow-lists; a port with several groups gets the union of their rules; a port without groups
  gets nothing (EC2 always has at least one);
* stateful: ``ct state established,related`` is accepted before any group rule, so replies of an
  allowed connection pass both ways whatever the egress/ingress rules of the replying side, and
  ICMP errors about a tracked flow pass too (``related``);
* traffic between two ports is checked twice, egress of the sender's groups AND ingress of the
  receiver's groups;
* a rule naming a group matches any port member of that group, by the member ENIs' IPs;
* the default new group (``SecurityGroup(group_id)``): no ingress, egress all;
* the VPC router, DNS (base+2, 169.254.169.253), metadata (169.254.169.254), DHCP and ARP are never
  filtered: guest <-> namespace traffic uses the ``input``/``output`` hooks, which ec2d leaves
  open; only the ``forward`` hook (port <-> port, bridged or routed between subnets) is filtered;
* changing rules affects NEW connections at once; connections that are already established keep
  flowing after their rule is revoked, as EC2 does for *tracked* connections. (EC2 does not track
  flows allowed by 0.0.0.0/0-all-traffic rules in both directions and cuts those at once; ec2d
  tracks every flow, so revoking such a rule also leaves established flows alone.)

* IPv6: rules with IPv6 CIDRs (``::/0``, /128s) and ICMPv6 (58, with type/code) compile to the
  ``ip6`` half of every group chain (``<base>6_*`` sets, ``@g_<R>_m6`` members); an icmp rule
  never opens ICMPv6 nor the reverse; neighbour discovery is never filtered; link-local traffic
  is never forwarded between ports; bridged IPv6 reaches the hook through
  ``bridge-nf-call-ip6tables`` (:mod:`..hostprep` sets it with the IPv4 one);

Limits: prefix lists are not modelled; a port with
``source_dest_check=False`` forwarding others' traffic is filtered only on the keys it matches
(its own IPs); subnet-directed broadcasts (x.y.z.255) are not recognised as broadcasts.
"""

from ..errors import InvalidArgument
from .antispoof import BRIDGE_TABLE
from .compiler import INET_TABLE, Ruleset, compile_ruleset, render, render_delta
from .driver import FirewallDriver, FirewallError, SyncOutcome
from .failclosed import compile_tolerant, lockdown_ruleset
from .fake import FakeFirewall
from .loader import apply, check, remove
from .model import ALLOW_ALL_EGRESS, Port, Rule, SecurityGroup, check_group, check_rule, local_port
from .nft_driver import NftFirewall, SyncStats
from .semantics import allows

__all__ = [
    "ALLOW_ALL_EGRESS",
    "BRIDGE_TABLE",
    "INET_TABLE",
    "FakeFirewall",
    "FirewallDriver",
    "FirewallError",
    "InvalidArgument",
    "NftFirewall",
    "Port",
    "Rule",
    "Ruleset",
    "SecurityGroup",
    "SyncOutcome",
    "SyncStats",
    "allows",
    "apply",
    "check",
    "check_group",
    "check_rule",
    "compile_ruleset",
    "compile_tolerant",
    "local_port",
    "lockdown_ruleset",
    "remove",
    "render",
    "render_delta",
]
