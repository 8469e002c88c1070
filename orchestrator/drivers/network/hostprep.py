"""Host preconditions security groups rely on, and the root-only work that establishes them.

Security groups are enforced by ``table inet ec2d_sg`` in each VPC namespace's ``forward`` hook.
Traffic between two ports of ONE subnet is bridged, not routed: it reaches that hook only through
``br_netfilter`` with ``net.bridge.bridge-nf-call-iptables=1`` in the VPC namespace. Without it,
instances of one subnet reach each other on every port whatever their groups say. On the
development kernel ``br_netfilter`` is built in and the sysctl is per network namespace (1 in a
fresh one); stock Debian 12 ships it as a module that nothing loads. So:

* :func:`ensure_br_netfilter` loads the module when ``/proc/sys/net/bridge`` is missing
  (``modprobe br_netfilter``) and raises :class:`PreconditionError` when it still is;
* :func:`ensure_netns` checks the sysctls in one VPC namespace at every sync and writes them
  when they differ;
* :func:`host_checks` / :func:`netns_checks` report every precondition (``ec2d status``), and
  :func:`probe_fresh_netns` checks in a scratch namespace what a new VPC namespace gets
  (sysctl default, nft able to load a ``ct state`` forward chain and a bridge table).

The firewall driver calls :func:`ensure_netns` before it applies a ruleset and installs a
lockdown ruleset (bridge-family drop, which needs no ``br_netfilter``) when it fails: never
silently open. Not relied on: ``rp_filter`` (anti-spoofing is done per tap in the bridge family)
and ``bridge-nf-call-arptables`` (ARP is checked in the bridge family too).
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass

from . import netlink, rootops
from . import nftables as nft
from .errors import NetworkDriverError, NftError
from .names import ANTISPOOF_TABLE, LOCKDOWN_CHAIN, SG_TABLE

BRIDGE_PROC = "/proc/sys/net/bridge"
# what the inet forward hook needs: bridged IPv4 and bridged IPv6 both pass it (without the second,
# IPv6 between two ports of one subnet would bypass the security groups)
NS_SYSCTLS = {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}
SG_TABLES = (("inet", SG_TABLE), ("bridge", ANTISPOOF_TABLE))


class PreconditionError(NetworkDriverError):
    """A host precondition of security-group enforcement is missing and cannot be established."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}: {self.detail}"


_lock = threading.Lock()
_modprobe_tried = False


def br_netfilter_present() -> bool:
    return os.path.isdir(BRIDGE_PROC)


def _modprobe(module: str) -> str:
    try:
        return rootops.modprobe(module).message
    except rootops.CommandFailed as exc:
        return str(exc)


def ensure_br_netfilter() -> None:
    """Load br_netfilter if the kernel does not have it yet (tried once per process)."""
    global _modprobe_tried
    if br_netfilter_present():
        return
    with _lock:
        detail = "not tried"
        if not _modprobe_tried:
            _modprobe_tried = True
            detail = _modprobe("br_netfilter")
        if not br_netfilter_present():
            raise PreconditionError(
                "br_netfilter is not available (modprobe br_netfilter: "
                f"{detail}): bridged traffic between instances of one subnet would bypass security "
                "groups, so ec2d refuses to enforce them and cuts forwarded traffic instead")


def ensure_netns(ns: str) -> None:
    """Make ``ns`` pass bridged IPv4 and IPv6 through the inet hooks; :class:`PreconditionError` if it can't.

    Read every time (about 1 ms) and written only when it differs, so a sysctl turned off behind
    ec2d's back, or a re-created namespace, is noticed at the next sync."""
    ensure_br_netfilter()
    for key, value in NS_SYSCTLS.items():
        try:
            if netlink.read_sysctl(ns, key) == value:
                continue
            netlink.sysctl(ns, key, value)
            got = netlink.read_sysctl(ns, key)
        except NetworkDriverError as exc:
            raise PreconditionError(f"cannot set {key}={value} in {ns}: {exc}") from exc
        if got != value:
            raise PreconditionError(f"{key} is {got} in {ns} after writing {value}")


def _read(ns: str | None, key: str) -> str:
    try:
        return netlink.read_sysctl(ns, key)
    except NetworkDriverError as exc:
        return f"unreadable ({exc})"


def _nft_version() -> Check:
    try:
        res = rootops.nft_version()
    except rootops.CommandFailed as exc:
        return Check("nft", False, f"nft --version: {exc}")
    if res is None:
        return Check("nft", False, "nft not found")
    return Check("nft", res.ok, (res.stdout or res.stderr).strip() or f"exit {res.returncode}")


def host_checks() -> list[Check]:
    """Host-wide preconditions (read-only; loads nothing)."""
    present = br_netfilter_present()
    checks = [
        Check("br_netfilter", present,
              "loaded (bridged IPv4 passes the inet forward hook)" if present else
              "missing: `modprobe br_netfilter` (ec2d tries at start and cuts forwarded traffic without it)"),
        _nft_version(),
    ]
    if present:
        value = _read(None, "net.bridge.bridge-nf-call-iptables")
        checks.append(Check("bridge-nf-call-iptables (root namespace)", True,
                            f"{value} (informational: ec2d sets it in each VPC namespace)"))
    return checks


def netns_checks(ns: str) -> list[Check]:
    """What one VPC namespace needs: the bridge sysctl, forwarding, ec2d's tables."""
    out = []
    for key, want in (*NS_SYSCTLS.items(), ("net.ipv4.ip_forward", "1")):
        got = _read(ns, key)
        out.append(Check(f"{ns} {key}", got == want, f"{got} (needs {want})"))
    inet, bridge = (rootops.nft_list(ns, family, table) for family, table in SG_TABLES)
    if not inet.ok or not bridge.ok:
        out.append(Check(f"{ns} security groups", False,
                         f"ec2d's tables are not loaded ({(inet.stderr or bridge.stderr).strip()})"))
    elif LOCKDOWN_CHAIN in inet.stdout:
        out.append(Check(f"{ns} security groups", False,
                         "LOCKDOWN: nothing is forwarded (the groups could not be enforced; see ec2d's log)"))
    else:
        out.append(Check(f"{ns} security groups", True, "enforced (ec2d_sg + ec2d_as anti-spoofing)"))
    return out


# what the firewall needs of nft: a stateful forward chain with a concatenated lookup, a bridge table
_PROBE_TABLES = (
    nft.Table("inet", "ec2d_probe", chains=(nft.Chain("probe_forward", hook=nft.Hook("forward"), rules=(
        nft.Rule(nft.Match("ct state", "established,related"), nft.ACCEPT),
        nft.Rule(nft.Match("ip saddr", "192.0.2.1"),
                 nft.Match(("meta l4proto", "th dport"), nft.anon_set([nft.concat("tcp", 22)])), nft.ACCEPT),
    )),)),
    nft.Table("bridge", "ec2d_probe", chains=(nft.Chain("pre", hook=nft.Hook("prerouting"), rules=(
        nft.Rule(nft.Match("ether type", nft.anon_set(("ip", "arp")), negate=True), nft.DROP),
    )),)),
)


def probe_fresh_netns(prefix: str) -> list[Check]:
    """Create a scratch namespace ``{prefix}-probe<hex>``: sysctl default there, can it be set,
    does nft load a stateful forward chain and a bridge table in it. Removed afterwards."""
    ns = f"{prefix}-probe{secrets.token_hex(3)}"
    out: list[Check] = []
    try:
        netlink.ensure_netns(ns)
        default = _read(ns, "net.bridge.bridge-nf-call-iptables")
        out.append(Check("bridge-nf-call-iptables in a new namespace", default == "1",
                         f"{default} by default (per namespace; ec2d writes 1 in each VPC namespace)"))
        try:
            ensure_netns(ns)
            out.append(Check("bridge-nf-call-iptables settable per namespace", True, "1 written and read back"))
        except PreconditionError as exc:
            out.append(Check("bridge-nf-call-iptables settable per namespace", False, str(exc)))
        try:
            rootops.run_nft("\n".join(t.render() for t in _PROBE_TABLES) + "\n", ns)
            out.append(Check("nft conntrack forward chain + bridge table", True, "loaded in a scratch namespace"))
        except NftError as exc:
            out.append(Check("nft conntrack forward chain + bridge table", False, exc.stderr.strip() or str(exc)))
    except (NetworkDriverError, OSError) as exc:
        out.append(Check("scratch namespace probe", False, str(exc)))
    finally:
        try:
            netlink.delete_netns(ns)
        except NetworkDriverError:
            pass
    return out
