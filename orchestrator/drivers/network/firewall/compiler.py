"""Security groups -> nftables: the pure compiler (no root, no I/O).

``table inet ec2d_sg`` (stateful, forward hook; bridged IPv4 passes it via br_netfilter) and
``table bridge ec2d_as`` (:mod:`.antispoof`). SG rules never become nft *rules*: they become
*elements* of per-group interval sets, and the number of nft rules depends only on the number of
groups, group references and distinct group combinations::

    chain fwd_egress  hook forward prio 0:  established,related accept; invalid drop;
                                            broadcast/multicast drop; ip saddr vmap @out_src
    chain fwd_ingress hook forward prio 10: established,related accept; ip daddr vmap @in_dst
    map out_src / in_dst  { port IP : jump c_<combo>_out / c_<combo>_in }
    chain c_<combo>_in   { jump g_<A>_in; jump g_<B>_in; drop }      one per distinct group set
    chain g_<A>_in {
        ip saddr . meta l4proto                @g_<A>_in_p    accept  (cidr . proto range)
        ip saddr . meta l4proto . th dport     @g_<A>_in_l4   accept  (cidr . tcp/udp . ports)
        ip saddr . icmp type . icmp code       @g_<A>_in_icmp accept  (cidr . type . codes)
        ip saddr @g_<R>_m meta l4proto             @g_<A>_in_r_<R>_p    accept  per referenced R
        ip saddr @g_<R>_m meta l4proto . th dport  @g_<A>_in_r_<R>_l4   accept
        ip saddr @g_<R>_m icmp type . icmp code    @g_<A>_in_r_<R>_icmp accept }
    set g_<R>_m { member IPs }            (egress: same with ip daddr, chains *_out)

Local ports (``Port.local``: a load balancer's node addresses, held by the namespace itself) are
not forwarded but received and sent by the namespace, so they get four more base chains, present
only while the VPC has local ports, each leaving every packet not to/from ``@local`` alone::

    chain local_in     hook input  prio 0:  ip daddr != @local accept; established,related accept;
                                            ip daddr vmap @lin_dst   (the node's groups' ingress)
    chain local_in_src hook input  prio 10: ... ip saddr vmap @out_src (the sending port's egress)
    chain local_out    hook output prio 0:  ip saddr != @local accept; established,related accept;
                                            ip saddr vmap @lout_src  (the node's groups' egress)
    chain local_out_dst hook output prio 10: ... ip daddr vmap @in_dst (the target port's ingress)

Egress and ingress live in two base chains of the same hook: ``accept`` in the first one only ends
that chain, the packet still has to pass the second one (``drop`` is final). Set elements are
normalised to disjoint boxes (overlapping rules are merged) because interval sets refuse overlaps.

A :class:`Ruleset` keeps the structure (tables, chains, rules, sets without elements) apart from
the elements, so the driver can change a namespace by elements only when the structure is equal
(:func:`render_delta`), guarded by a generation element (``set gen``) the kernel must hold.
Compiling is cached per :class:`~.model.SecurityGroup` value: a change to one group recompiles
only that group.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .. import nftables as nft
from ..errors import InvalidArgument
from ..names import SG_TABLE
from ..nftables import ACCEPT, DROP, Chain, Hook, InSet, Jump, Match, SetDecl, VMap, concat
from .antispoof import bridge_table
from .model import ICMP, ICMPV6, Perm, Port, Rule, SecurityGroup, check_port, perm
from .ranges import addr_text, cidr_range, cidr_range6, disjoint, is_ipv6_cidr, merge, range_text

__all__ = [
    "INET",
    "INET_TABLE",
    "Ruleset",
    "compile_ruleset",
    "GroupPart",
    "finish",
    "gen_set",
    "group_part",
    "render",
    "render_delta",
    "touch_generation",
]

INET_TABLE = SG_TABLE
INET = f"inet {INET_TABLE}"
_DIRS = (("in", "saddr"), ("out", "daddr"))  # remote address: ingress = source, egress = destination
Elements = dict[tuple[str, str], frozenset[str]]


@dataclass(frozen=True)
class Ruleset:
    """A compiled ruleset: the structure (tables, sets without elements, chains, rules, as nft
    text) and the elements of every set/map, keyed by ``(table, set)``. Two rulesets with equal
    ``structure`` differ only by elements, which the driver can patch in place."""

    header: str
    structure: str
    elements: Mapping[tuple[str, str], frozenset[str]]
    generation: int

    def script(self) -> str:
        lines = [self.header, self.structure, nft.add_elements(INET, "gen", [str(self.generation)])]
        for (table, name), elems in sorted(self.elements.items()):
            if elems:
                lines.append(nft.add_elements(table, name, sorted(elems)))
        return "\n".join(lines) + "\n"


def gen_set() -> SetDecl:
    """The generation element's set: which compiled ruleset the kernel holds."""
    return SetDecl("gen", "mark")


def finish(header: str, tables: Sequence[nft.Table], elements: Elements, digests: Iterable[bytes] = (),
           hashed: Iterable[tuple[str, str]] | None = None) -> Ruleset:
    """The :class:`Ruleset` of ``tables``: its generation is a digest of the structure, of
    ``digests`` (precomputed per group) and of the elements of ``hashed`` (default: all)."""
    structure = "\n".join(nft.replace_table(t) for t in tables)
    digest = hashlib.sha256(structure.encode())
    for d in digests:
        digest.update(d)
    for key in sorted(elements if hashed is None else hashed):
        digest.update(repr((key, sorted(elements[key]))).encode())
    generation = int.from_bytes(digest.digest()[:4], "big") or 1
    return Ruleset(header, structure, elements, generation)


def ident(resource_id: str) -> str:
    """Short nft-safe identifier of an EC2 id: its hex part, else a sanitised form + digest."""
    m = re.match(r"^[a-z]+(?:-[a-z]+)*-([0-9a-f]{8,17})$", resource_id)
    if m:
        return m.group(1)
    safe = re.sub(r"[^A-Za-z0-9]", "", resource_id)[:20]
    return f"{safe}{hashlib.sha1(resource_id.encode()).hexdigest()[:6]}"


def _interval(name: str, type_: str) -> SetDecl:
    return SetDecl(name, type_, flags=("interval",))


# --------------------------------------------------------------------------- one group


@dataclass(frozen=True)
class GroupPart:
    """What one group adds to ``table inet ec2d_sg``: its sets, its two chains (``g_<id>_in``,
    ``g_<id>_out``), the sets' elements by set name, and a digest of all of it."""

    sets: tuple[SetDecl, ...]
    chains: tuple[Chain, ...]
    elements: tuple[tuple[str, frozenset[str]], ...]
    digest: bytes


Box = tuple[int, int, int, int]


@dataclass
class _Family:
    """One address family of one direction of one group: CIDR boxes per shape."""

    p: list[Box]
    l4: dict[int, list[Box]]
    icmp: dict[int, list[Box]]  # v4: ICMP types; v6: ICMPv6 types

    @classmethod
    def empty(cls) -> _Family:
        return cls([], defaultdict(list), defaultdict(list))


def _other_family(x: Perm, v6: bool) -> bool:
    """Whether ``x`` is ICMP of the other family (ICMP for an IPv6 CIDR, ICMPv6 for an IPv4 one)."""
    icmp, proto = ("icmp", ICMP) if v6 else ("icmp6", ICMPV6)
    return x.kind == icmp or (x.kind == "p" and x.lo == x.hi == proto)


@dataclass
class _Direction:
    """One direction of one group while it is compiled: CIDR boxes per family, group references."""

    v4: _Family
    v6: _Family
    refs: dict[str, list[Perm]]

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> _Direction:
        d = cls(_Family.empty(), _Family.empty(), defaultdict(list))
        for rule in rules:
            x = perm(rule)
            for cidr in rule.cidrs:
                v6 = is_ipv6_cidr(cidr)
                if _other_family(x, v6):
                    continue  # an ICMP rule never matches IPv6, an ICMPv6 rule never IPv4
                fam = d.v6 if v6 else d.v4
                box = (*(cidr_range6 if v6 else cidr_range)(cidr), x.lo, x.hi)
                if x.kind == "p":
                    fam.p.append(box)
                else:
                    (fam.l4 if x.kind == "l4" else fam.icmp)[x.key].append(box)  # type: ignore[index]
            for ref in rule.group_ids:
                d.refs[ref].append(x)
        return d


def _cidr_elements(f: _Family, v6: bool) -> dict[str, frozenset[str]]:
    """Elements of the three CIDR-keyed sets of one family (suffixes ``p``, ``l4``, ``icmp``)."""
    return {
        "p": frozenset(concat(addr_text(a, b, v6), range_text(c, e)) for a, b, c, e in disjoint(f.p)),
        "l4": frozenset(concat(addr_text(a, b, v6), proto, range_text(c, e))
                        for proto, boxes in f.l4.items() for a, b, c, e in disjoint(boxes)),
        "icmp": frozenset(concat(addr_text(a, b, v6), itype, range_text(c, e))
                          for itype, boxes in f.icmp.items() for a, b, c, e in disjoint(boxes)),
    }


def _ref_elements(perms: list[Perm]) -> dict[str, frozenset[str]]:
    """Elements of the four sets of one referenced group (no address: its members match)."""
    by_key: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for x in perms:
        if x.kind != "p":
            by_key[(x.kind, x.key)].append((x.lo, x.hi))  # type: ignore[index]
    out = {"p": frozenset(range_text(a, b) for a, b in merge((x.lo, x.hi) for x in perms if x.kind == "p"))}
    for kind in ("l4", "icmp", "icmp6"):
        out[kind] = frozenset(concat(key, range_text(a, b))
                              for (k, key), rs in by_key.items() if k == kind for a, b in merge(rs))
    return out


_ICMP_KEYS = {False: ("icmp type", "icmp code"), True: ("icmpv6 type", "icmpv6 code")}
_ADDR_TYPE = {False: "ipv4_addr", True: "ipv6_addr"}


def _lookups(remote: str, prefix: str, member_of: str | None = None, v6: bool = False,
             icmp_set: str | None = None) -> list[nft.Rule]:
    """The three accept rules of a rule set family: by protocol, by tcp/udp port, by icmp(v6)."""
    addr = [InSet(remote, member_of)] if member_of else []
    key = () if member_of else (remote,)
    return [
        nft.Rule(*addr, InSet((*key, "meta l4proto"), f"{prefix}_p"), ACCEPT),
        nft.Rule(*addr, InSet((*key, "meta l4proto", "th dport"), f"{prefix}_l4"), ACCEPT),
        nft.Rule(*addr, InSet((*key, *_ICMP_KEYS[v6]), icmp_set or f"{prefix}_icmp"), ACCEPT),
    ]


def _cidr_sets(base: str, v6: bool) -> list[SetDecl]:
    addr, icmp = _ADDR_TYPE[v6], ("icmpv6_type . icmpv6_code" if v6 else "icmp_type . icmp_code")
    return [_interval(f"{base}_p", f"{addr} . inet_proto"),
            _interval(f"{base}_l4", f"{addr} . inet_proto . inet_service"),
            _interval(f"{base}_icmp", f"{addr} . {icmp}")]


@functools.lru_cache(maxsize=8192)
def group_part(g: SecurityGroup) -> GroupPart:
    """Sets, chains and elements of one group (cached: unchanged groups cost a hash lookup).
    IPv6 CIDRs go to the ``<base>6_*`` sets; a group reference matches its members' IPv6
    addresses (``@g_<R>_m6``) by the same protocol and port sets, ICMPv6 by ``<ref>_icmp6``."""
    gi = ident(g.group_id)
    sets: list[SetDecl] = []
    chains: list[Chain] = []
    elements: dict[str, frozenset[str]] = {}
    for direction, field_ in _DIRS:
        d = _Direction.of(g.ingress if direction == "in" else g.egress)
        base, remote, remote6 = f"g_{gi}_{direction}", f"ip {field_}", f"ip6 {field_}"
        sets += _cidr_sets(base, False) + _cidr_sets(f"{base}6", True)
        elements.update({f"{base}_{k}": v for k, v in _cidr_elements(d.v4, False).items()})
        elements.update({f"{base}6_{k}": v for k, v in _cidr_elements(d.v6, True).items()})
        rules = _lookups(remote, base) + _lookups(remote6, f"{base}6", v6=True)
        for ref in sorted(d.refs):
            rname = f"{base}_r_{ident(ref)}"
            sets += [_interval(f"{rname}_p", "inet_proto"),
                     _interval(f"{rname}_l4", "inet_proto . inet_service"),
                     _interval(f"{rname}_icmp", "icmp_type . icmp_code"),
                     _interval(f"{rname}_icmp6", "icmpv6_type . icmpv6_code")]
            elements.update({f"{rname}_{k}": v for k, v in _ref_elements(d.refs[ref]).items()})
            rules += _lookups(remote, rname, member_of=f"g_{ident(ref)}_m")
            rules += _lookups(remote6, rname, member_of=f"g_{ident(ref)}_m6", v6=True,
                              icmp_set=f"{rname}_icmp6")
        chains.append(Chain(base, tuple(rules)))
    digest = hashlib.sha256("\n".join([s.render() for s in sets] + [c.render() for c in chains]).encode())
    for name in sorted(elements):
        digest.update(f"{name}={sorted(elements[name])!r}".encode())
    return GroupPart(tuple(sets), tuple(chains), tuple(sorted(elements.items())), digest.digest())


# --------------------------------------------------------------------------- the whole VPC


def _group_idents(ports: Sequence[Port], groups: Mapping[str, SecurityGroup]) -> dict[str, str]:
    """nft identifier of every known or referenced group; refuses an inconsistent model."""
    for gid, g in groups.items():
        if gid != g.group_id:
            raise InvalidArgument(f"groups key {gid} != group_id {g.group_id}")
    ids = {gid: ident(gid) for gid in groups}
    for p in ports:
        for gid in p.group_ids:
            if gid not in groups:
                raise InvalidArgument(f"port {p.eni_id} is in unknown group {gid}")
    for g in groups.values():
        for r in (*g.ingress, *g.egress):
            for gid in r.group_ids:
                ids.setdefault(gid, ident(gid))
    if len(set(ids.values())) != len(ids):
        raise InvalidArgument("two group ids map to the same nft identifier")
    return ids


def _members(ports: Sequence[Port], ids: Mapping[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Member IPv4 and IPv6 addresses of every group; an address may belong to one port only."""
    members: dict[str, set[str]] = {gid: set() for gid in ids}
    members6: dict[str, set[str]] = {gid: set() for gid in ids}
    owner: dict[str, str] = {}
    for p in ports:
        check_port(p)
        for ip in (*p.ips, *p.ipv6s):
            ip = str(ipaddress.ip_address(ip))
            if ip in owner and owner[ip] != p.eni_id:
                raise InvalidArgument(f"IP {ip} belongs to both {owner[ip]} and {p.eni_id}")
            owner[ip] = p.eni_id
        for gid in p.group_ids:
            members[gid].update(p.ips)
            members6[gid].update(p.ipv6s)
    return members, members6


@functools.lru_cache(maxsize=8192)
def _combo_chain(cname: str, direction: str, group_idents: tuple[str, ...]) -> Chain:
    """``c_<combo>_<direction>``: the port passes if one of its groups accepts, else drop."""
    return Chain(f"{cname}_{direction}",
                 (*(nft.Rule(Jump(f"g_{gi}_{direction}")) for gi in group_idents), nft.Rule(DROP)))


def _dispatch(ports: Sequence[Port], ids: Mapping[str, str]) -> tuple[list[Chain], dict[str, set[str]]]:
    """One chain per distinct group combination and direction, and the verdict maps keyed by port
    IP that send a packet to its port's combination."""
    combos: dict[tuple[str, ...], str] = {}
    dispatch: dict[str, set[str]] = {"out_src": set(), "in_dst": set(), "out_src6": set(), "in_dst6": set()}
    verdicts: dict[tuple[str, ...], tuple[str, str]] = {}
    for p in ports:
        combo = tuple(sorted(set(p.group_ids)))
        if combo not in combos:
            cname = combos[combo] = "c_" + hashlib.sha1(",".join(combo).encode()).hexdigest()[:12]
            # map elements are "<ip> : jump <chain>"; the verdict half is built once per combination
            verdicts[combo] = (nft.map_element("", Jump(f"{cname}_out").render()),
                               nft.map_element("", Jump(f"{cname}_in").render()))
        out, in_ = verdicts[combo]
        for ip in p.ips:
            dispatch["out_src"].add(ip + out)
            dispatch["in_dst"].add(ip + in_)
        for ip in p.ipv6s:
            dispatch["out_src6"].add(ip + out)
            dispatch["in_dst6"].add(ip + in_)
    chains = [
        _combo_chain(cname, direction, tuple(ids[gid] for gid in combo))
        for combo, cname in sorted(combos.items(), key=lambda kv: kv[1])
        for direction, _ in _DIRS
    ]
    return chains, dispatch


_ESTABLISHED = nft.Rule(Match("ct state", "established,related"), ACCEPT)
# neighbour discovery is never filtered (as on EC2); which ND a guest may send at all (no router
# advertisements, no redirects) is the anti-spoofing table's business
_ND = nft.Rule(Match("icmpv6 type", nft.anon_set(("nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit",
                                                  "nd-neighbor-advert", "nd-redirect"))), ACCEPT)
_BASE_CHAINS = (
    Chain("fwd_egress", hook=Hook("forward"), rules=(
        _ESTABLISHED,
        _ND,
        nft.Rule(Match("ct state", "invalid"), DROP),
        nft.Rule(Match("ip daddr", nft.anon_set(("255.255.255.255", "224.0.0.0/4"))), DROP),
        nft.Rule(Match("ip6 daddr", "ff00::/8"), DROP),
        # link-local addresses are for the guest and its router only: never between two ports
        nft.Rule(Match("ip6 saddr", "fe80::/10"), DROP),
        nft.Rule(Match("ip6 daddr", "fe80::/10"), DROP),
        nft.Rule(VMap("ip saddr", "out_src")),
        nft.Rule(VMap("ip6 saddr", "out_src6")),
    )),
    Chain("fwd_ingress", hook=Hook("forward", priority="filter + 10"), rules=(
        _ESTABLISHED,
        _ND,
        nft.Rule(VMap("ip daddr", "in_dst")),
        nft.Rule(VMap("ip6 daddr", "in_dst6")),
    )),
)


def _group_part_of(g: SecurityGroup) -> GroupPart:
    try:
        return group_part(g)
    except TypeError:  # unhashable (lists instead of tuples): compile without the cache
        return group_part.__wrapped__(g)


def _local_chains() -> tuple[Chain, ...]:
    def chain(name: str, hook: str, prio: str, side: str, verdict: nft.Rule) -> Chain:
        return Chain(name, hook=Hook(hook, priority=prio), rules=(
            nft.Rule(InSet(f"ip {side}", "local", negate=True), ACCEPT), _ESTABLISHED, verdict))
    return (
        chain("local_in", "input", "filter", "daddr", nft.Rule(VMap("ip daddr", "lin_dst"))),
        chain("local_in_src", "input", "filter + 10", "daddr", nft.Rule(VMap("ip saddr", "out_src"))),
        chain("local_out", "output", "filter", "saddr", nft.Rule(VMap("ip saddr", "lout_src"))),
        chain("local_out_dst", "output", "filter + 10", "saddr", nft.Rule(VMap("ip daddr", "in_dst"))),
    )


_LOCAL_CHAINS = _local_chains()


def _local_part(local: Sequence[Port], ids: Mapping[str, str], chains: list[Chain], sets: list[SetDecl],
                elements: Elements) -> None:
    """What local ports add (see the module doc): their dispatch maps, ``@local``, the base chains."""
    if not local:
        return
    local_combos, local_dispatch = _dispatch(local, ids)
    have = {c.name for c in chains}
    chains += [c for c in local_combos if c.name not in have]
    for name, new_name in (("out_src", "lout_src"), ("in_dst", "lin_dst")):
        sets.append(SetDecl(new_name, "ipv4_addr : verdict", is_map=True))
        elements[(INET, new_name)] = frozenset(local_dispatch[name])
    sets.append(SetDecl("local", "ipv4_addr"))
    elements[(INET, "local")] = frozenset(ip for p in local for ip in p.ips)
    chains += _LOCAL_CHAINS


def compile_ruleset(vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]) -> Ruleset:
    """Compile the model (see the module doc for the layout)."""
    local = [p for p in ports if p.local]
    ids = _group_idents(ports, groups)
    elements: Elements = {}
    sets: list[SetDecl] = [gen_set()]
    chains: list[Chain] = []
    members, members6 = _members(ports, ids)
    for gid in sorted(ids):
        sets.append(SetDecl(f"g_{ids[gid]}_m", "ipv4_addr"))
        elements[(INET, f"g_{ids[gid]}_m")] = frozenset(members[gid])
        sets.append(SetDecl(f"g_{ids[gid]}_m6", "ipv6_addr"))
        elements[(INET, f"g_{ids[gid]}_m6")] = frozenset(members6[gid])
    group_digests, group_sets = [], set()
    for gid in sorted(groups):
        part = _group_part_of(groups[gid])
        sets.extend(part.sets)
        chains.extend(part.chains)
        for name, elems in part.elements:
            elements[(INET, name)] = elems
            group_sets.add((INET, name))
        group_digests.append(part.digest)
    taps = [p for p in ports if not p.local]
    combo_chains, dispatch = _dispatch(taps, ids)
    chains += combo_chains
    for name, elems in dispatch.items():
        sets.append(SetDecl(name, f"{_ADDR_TYPE[name.endswith('6')]} : verdict", is_map=True))
        elements[(INET, name)] = frozenset(elems)
    chains += _BASE_CHAINS
    _local_part(local, ids, chains, sets, elements)
    for p in ports:
        check_port(p)
    bridge, bridge_elements = bridge_table(taps, lockdown=False)
    elements.update(bridge_elements)
    inet = nft.Table("inet", INET_TABLE, tuple(sets), tuple(chains))
    header = f"# ec2d security groups of {vpc_id}: {len(ports)} ports, {len(groups)} groups"
    return finish(header, (inet, bridge), elements, group_digests, set(elements) - group_sets)


def render(vpc_id: str, ports: Sequence[Port], groups: Mapping[str, SecurityGroup]) -> str:
    """The complete ``nft -f`` script for one VPC namespace (replaces ec2d's tables atomically)."""
    return compile_ruleset(vpc_id, ports, groups).script()


def render_delta(old: Ruleset, new: Ruleset) -> str | None:
    """Script turning ``old`` (as held by the kernel) into ``new`` by elements only.

    None when the structures differ (a full :meth:`Ruleset.script` is needed); "" when equal.
    The script first swaps the generation element, so it fails as a whole unless the kernel
    really holds ``old``.
    """
    if old.structure != new.structure:
        return None
    if old.generation == new.generation and old.elements == new.elements:
        return ""
    lines = [
        nft.delete_elements(INET, "gen", [str(old.generation)]),
        nft.add_elements(INET, "gen", [str(new.generation)]),
    ]
    adds = []
    for key in sorted(set(old.elements) | set(new.elements)):
        before, after = old.elements.get(key, frozenset()), new.elements.get(key, frozenset())
        if before is after:
            continue
        table, name = key
        gone = sorted(before - after)
        if gone:
            lines.append(nft.delete_elements(table, name, [e.split(" : ", 1)[0] for e in gone]))
        added = sorted(after - before)
        if added:
            adds.append(nft.add_elements(table, name, added))
    return "\n".join(lines + adds) + "\n"


def touch_generation(generation: int) -> str:
    """A transaction that changes nothing but fails unless the kernel holds ``generation``."""
    return "\n".join([nft.delete_elements(INET, "gen", [str(generation)]),
                      nft.add_elements(INET, "gen", [str(generation)])]) + "\n"
