"""Security-group fuzzing, shared by tests/instances/test_sg_fuzz.py and bench/sgfuzz.py.

Two parts, both seeded (the seed is printed so a failure can be replayed):

* :class:`RuleFuzz`: random rule sets, valid and invalid mixed (IPv6 in IpRanges, ICMP type/code out
  of range, port ranges, protocol names and numbers, prefix lists, bad group references, ...) sent
  through the API's validation (the security-group service, or boto3 against a real ec2d). Every
  accepted rule set must compile (the strict compiler, no quarantine) and ``nft -c`` must accept it
  in a scratch namespace; every rejected one must be an EC2 error of a known code (status 400).
* :class:`TrafficFuzz`: random VALID rule sets applied through boto3 to the groups of two real
  guests, then real flows between them (TCP to dropbear and busybox ``nc`` listeners, ICMP echo)
  compared with the reference semantics :func:`firewall.allows`: allowed flows connect, the
  others do not.
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator.drivers.network import firewall as fw
from orchestrator.drivers.network import netlink

EC2_CODES = {
    "InvalidParameterValue", "InvalidPermission.Malformed", "MissingParameter", "UnsupportedOperation",
    "InvalidPrefixListId.Malformed", "InvalidPrefixListID.NotFound", "InvalidGroup.NotFound",
    "InvalidGroupId.Malformed", "InvalidPermission.Duplicate", "RulesPerSecurityGroupLimitExceeded",
    "InvalidParameter", "InvalidSecurityGroupRuleId.NotFound",
    "InvalidPrefixListModification", "PrefixListMaxEntriesExceeded", "PrefixListVersionMismatch",
}
LISTEN_PORTS = (7001, 7002, 7003)
TCP_PORTS = (22, *LISTEN_PORTS)  # 22: dropbear


# --------------------------------------------------------------------------- random rule sets


def _cidr(rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.75:  # valid IPv4, often with host bits set (EC2 canonicalises them)
        prefix = rnd.choice([0, 8, 16, 20, 24, 28, 31, 32, rnd.randint(0, 32)])
        return f"{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}/{prefix}"
    return rnd.choice(["::/0", "2001:db8::/32", "10.0.0.1", "1.2.3.4/33", "1.2.3/24", "256.1.1.1/8", "junk", "",
                       "10.0.0.0/-1", "010.0.0.0/8", " 10.0.0.0/8", "10.0.0.0/8\n", "0.0.0.0/0.0.0.0"])


def _port(rnd: random.Random) -> int | None:
    return rnd.choice([None, -1, 0, 1, 8, 22, 255, 256, 7001, 7003, 65535, 65536, -2, 2**31 - 1,
                       rnd.randint(-5, 70000)])


def _valid_permission(rnd: random.Random, group_ids: list[str], lists: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A permission EC2 accepts (edges included: port 0/65535, ICMP 255, any protocol number)."""
    proto = rnd.choice(["tcp", "udp", "icmp", "-1", "6", "17", "1", "47", "132", "0", "255", "icmpv6", "UDP"])
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto.lower() in ("tcp", "udp", "6", "17"):
        lo = rnd.choice([0, 1, 22, 7001, 65535, rnd.randint(0, 65535)])
        perm.update(FromPort=lo, ToPort=rnd.choice([lo, 65535, rnd.randint(lo, 65535)]))
    elif proto in ("icmp", "1"):
        t = rnd.choice([-1, 0, 3, 8, 255, rnd.randint(0, 255)])
        perm.update(FromPort=t, ToPort=-1 if t == -1 else rnd.choice([-1, 0, 255, rnd.randint(0, 255)]))
    elif rnd.random() < 0.3:  # ignored for other protocols
        perm.update(FromPort=rnd.randint(-1, 65535), ToPort=rnd.randint(-1, 65535))
    prefix = rnd.randint(0, 32)
    perm["IpRanges"] = [{"CidrIp": f"{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}."
                                   f"{rnd.randint(0, 255)}/{rnd.choice([prefix, 32, 24, 0])}"}
                        for _ in range(rnd.randint(0, 3))]
    if not perm["IpRanges"] or rnd.random() < 0.3:
        perm["UserIdGroupPairs"] = [{"GroupId": rnd.choice(group_ids)}]
    if lists and rnd.random() < 0.3:  # a managed prefix list: compiled with its CIDRs
        perm["PrefixListIds"] = [{"PrefixListId": rnd.choice(lists)}]
    return perm


def random_entries(rnd: random.Random, n: int) -> list[dict[str, str]]:
    """Valid prefix-list entries (host bits set, /0, overlapping ones), distinct once canonical."""
    seen: dict[str, dict[str, str]] = {}
    for _ in range(n):
        prefix = rnd.choice([0, 8, 16, 24, 30, 32, rnd.randint(0, 32)])
        cidr = f"{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}/{prefix}"
        seen.setdefault(str(ipaddress.IPv4Network(cidr, strict=False)), {"Cidr": cidr})
    return list(seen.values())


def random_permission(rnd: random.Random, group_ids: list[str], lists: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    if rnd.random() < 0.5:
        return _valid_permission(rnd, group_ids, lists)
    proto = rnd.choice(["tcp", "udp", "icmp", "-1", "all", "6", "17", "1", "47", "132", "58", "icmpv6", "TCP",
                        "Udp", "0", "255", "256", "-2", "foo", "", "1.5", "0x6"])
    perm: dict[str, Any] = {"IpProtocol": proto}
    for key in ("FromPort", "ToPort"):
        value = _port(rnd)
        if value is not None:
            perm[key] = value
    if rnd.random() < 0.8:
        perm["IpRanges"] = [{"CidrIp": _cidr(rnd)} for _ in range(rnd.randint(0, 3))]
        if perm["IpRanges"] and rnd.random() < 0.1:
            perm["IpRanges"][0]["Description"] = rnd.choice(["web", "x" * 256, "tab\there", "ok (1)"])
    if rnd.random() < 0.3 and group_ids:
        perm["UserIdGroupPairs"] = [{"GroupId": rnd.choice([*group_ids, "sg-0000000000000dead", "sg-bad"])}]
    if rnd.random() < 0.05:
        perm["Ipv6Ranges"] = [{"CidrIpv6": rnd.choice(["::/0", "10.0.0.0/8", "x"])}]
    if rnd.random() < (0.2 if lists else 0.05):
        perm["PrefixListIds"] = [{"PrefixListId": rnd.choice([*lists, *lists, "pl-0123abcd", "pl-x"])}]
    return perm


def random_rule_request(rnd: random.Random, group_ids: list[str], lists: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A ModifySecurityGroupRules ``SecurityGroupRule``: one random permission's protocol and ports
    with one of its peers (sometimes none or two: EC2 refuses those)."""
    perm = random_permission(rnd, group_ids, lists)
    request = {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in perm}
    peers = [("CidrIpv4", r["CidrIp"]) for r in perm.get("IpRanges") or []]
    peers += [("ReferencedGroupId", p["GroupId"]) for p in perm.get("UserIdGroupPairs") or []]
    peers += [("CidrIpv6", r["CidrIpv6"]) for r in perm.get("Ipv6Ranges") or []]
    peers += [("PrefixListId", p["PrefixListId"]) for p in perm.get("PrefixListIds") or []]
    rnd.shuffle(peers)
    request.update(peers[:rnd.choice([1, 1, 1, 1, 0, 2])])
    return request


def model_of(groups: list[dict[str, Any]], lists: dict[str, tuple[str, ...]] | None = None
             ) -> dict[str, fw.SecurityGroup]:
    """The firewall model of groups as DescribeSecurityGroupRules shows them (-1: unset ports); a
    rule naming a prefix list gets the list's CIDRs (``lists``: GetManagedPrefixListEntries')."""
    out: dict[str, fw.SecurityGroup] = {}
    for g in groups:
        ingress, egress = [], []
        for r in g["rules"]:
            ref = r.get("ReferencedGroupInfo", {}).get("GroupId")
            cidrs = (r["CidrIpv4"],) if r.get("CidrIpv4") else ()
            if r.get("PrefixListId"):
                cidrs += (lists or {})[r["PrefixListId"]]
            rule = fw.Rule(r["IpProtocol"], r["FromPort"], r["ToPort"], cidrs=cidrs, group_ids=(ref,) if ref else ())
            (egress if r["IsEgress"] else ingress).append(rule)
        out[g["id"]] = fw.SecurityGroup(g["id"], tuple(ingress), tuple(egress))
    return out


@dataclass
class FuzzStats:
    rule_sets: int = 0
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    uncompilable: list[str] = field(default_factory=list)  # accepted by the API, refused by compiler/nft
    bad_errors: list[str] = field(default_factory=list)  # not an EC2 error of a known code
    prefix_list_rules: int = 0  # accepted requests with a rule naming an existing managed prefix list
    flows: int = 0
    open_flows: int = 0  # flows the rules allow (the rest must be closed)
    mismatches: list[str] = field(default_factory=list)


class ScratchNs:
    """A throwaway namespace for ``nft -c`` (removed by :meth:`close`)."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}-sgfz{secrets.token_hex(2)}"
        netlink.ensure_netns(self.name)

    def check(self, script: str) -> str | None:
        proc = subprocess.run(["ip", "netns", "exec", self.name, "nft", "-c", "-f", "-"], input=script,
                              capture_output=True, text=True, timeout=60, check=False)
        return None if proc.returncode == 0 else proc.stderr.strip()

    def close(self) -> None:
        netlink.delete_netns(self.name)


class RuleFuzz:
    """Random rule sets through an ``authorize(group_id, egress, permissions) -> error code|None``
    callable; ``describe(group_ids)`` gives the stored rules back (DescribeSecurityGroupRules
    shape) and ``new_groups(n)`` makes fresh groups in one VPC."""

    def __init__(self, seed: int, authorize: Any, describe: Any, new_groups: Any, scratch: ScratchNs,
                 modify: Any = None, new_lists: Any = None, modify_list: Any = None) -> None:
        self.rnd = random.Random(seed)
        self.authorize, self.describe, self.new_groups, self.scratch = authorize, describe, new_groups, scratch
        self.modify = modify  # optional ``modify(group_id, n, rule_request) -> error code|None`` (nth rule)
        # optional ``new_lists(entries per list) -> pl ids`` (managed prefix lists the rules may name)
        # and ``modify_list(pl id, add, remove) -> error code|None`` (ModifyManagedPrefixList)
        self.new_lists, self.modify_list = new_lists, modify_list
        self.stats = FuzzStats()

    def run(self, rule_sets: int) -> FuzzStats:
        for _ in range(rule_sets):
            self.one()
        return self.stats

    def one(self) -> None:
        st, rnd = self.stats, self.rnd
        gids = self.new_groups(2)
        lists = self.new_lists([random_entries(rnd, rnd.randint(0, 4)) for _ in range(2)]) if self.new_lists else []
        st.rule_sets += 1
        for _ in range(rnd.randint(1, 4)):
            perms = [random_permission(rnd, gids, lists) for _ in range(rnd.randint(1, 3))]
            st.requests += 1
            code = self.authorize(rnd.choice(gids), rnd.random() < 0.4, perms)
            if code is None:
                st.accepted += 1
                st.prefix_list_rules += any(p["PrefixListId"] in lists for perm in perms
                                            for p in perm.get("PrefixListIds") or [])
            else:
                st.rejected += 1
                st.by_code[code] = st.by_code.get(code, 0) + 1
                if code not in EC2_CODES:
                    st.bad_errors.append(f"{code}: {perms}")
        for _ in range(rnd.randint(0, 2) if self.modify else 0):
            request = random_rule_request(rnd, gids, lists)
            st.requests += 1
            code = self.modify(rnd.choice(gids), rnd.randrange(8), request)
            st.accepted += code is None
            if code is not None:
                st.rejected += 1
                st.by_code[code] = st.by_code.get(code, 0) + 1
                if code not in EC2_CODES:
                    st.bad_errors.append(f"{code}: modify {request}")
        for pl in lists if self.modify_list else []:  # the lists change under the rules naming them
            self._record(self.modify_list(pl, random_entries(rnd, rnd.randint(0, 3)), rnd.random() < 0.5),
                         f"modify list {pl}")
        groups = self.describe(gids)
        for g in groups.values():
            for rule in (*g.ingress, *g.egress):
                try:
                    fw.check_rule(rule)
                except fw.InvalidArgument as exc:
                    st.uncompilable.append(f"{g.group_id}: {rule}: {exc}")
        ports = [fw.Port(f"eni-{i:017x}", f"tapfz{i}", f"02:66:00:00:00:{i:02x}", (f"10.66.0.{i + 4}",), (gid,))
                 for i, gid in enumerate(gids)]
        try:
            script = fw.render("vpc-0fuzz0000000000f", ports, groups)
        except Exception as exc:  # noqa: BLE001 - anything here is a finding
            st.uncompilable.append(f"compile: {exc!r}")
            return
        err = self.scratch.check(script)
        if err:
            st.uncompilable.append(f"nft -c: {err[:300]}")


    def _record(self, code: str | None, what: str) -> None:
        st = self.stats
        st.requests += 1
        st.accepted += code is None
        if code is not None:
            st.rejected += 1
            st.by_code[code] = st.by_code.get(code, 0) + 1
            if code not in EC2_CODES:
                st.bad_errors.append(f"{code}: {what}")


# --------------------------------------------------------------------------- real traffic


@dataclass
class Node:
    name: str
    ip: str
    group_id: str
    guest: Any  # tests.guests.Guest (SSH)


def random_valid_rules(rnd: random.Random, a: Node, b: Node, subnet: str) -> list[tuple[str, bool, dict]]:
    """(group id, egress, IpPermission) for a random valid rule set over a's and b's groups."""
    out = []
    for node in (a, b):
        for egress in (False, True):
            if egress and rnd.random() < 0.5:  # EC2's default egress (else flows are mostly closed)
                out.append((node.group_id, True, {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}))
                continue
            for _ in range(rnd.choice([0, 1, 2, 2, 3, 4])):
                proto = rnd.choice(["tcp"] * 5 + ["icmp"] * 2 + ["-1", "udp", "47"])
                perm: dict[str, Any] = {"IpProtocol": proto}
                if proto in ("tcp", "udp"):
                    lo, hi = rnd.choice([(22, 22), (7001, 7001), (7002, 7002), (7003, 7003), (7001, 7002),
                                         (7002, 7003), (0, 65535), (1000, 7001), (7003, 9000), (23, 7000)])
                    perm.update(FromPort=lo, ToPort=hi)
                elif proto == "icmp":
                    t, c = rnd.choice([(-1, -1), (8, -1), (8, 0), (0, -1), (3, -1), (8, 1)])
                    perm.update(FromPort=t, ToPort=c)
                other = b if node is a else a
                peer = rnd.choice(["own", "other", "other", "subnet", "world", "none", "other/31", "gown",
                                   "gother", "gother"])
                if peer.startswith("g"):
                    perm["UserIdGroupPairs"] = [{"GroupId": (node if peer == "gown" else other).group_id}]
                else:
                    cidr = {"own": f"{node.ip}/32", "other": f"{other.ip}/32", "subnet": subnet,
                            "world": "0.0.0.0/0", "none": "10.99.0.0/16", "other/31": f"{other.ip}/31"}[peer]
                    perm["IpRanges"] = [{"CidrIp": cidr}]
                out.append((node.group_id, egress, perm))
    return out


def _probe_script(dst: str) -> str:
    """One shell line probing every flow to ``dst`` in parallel; prints ``tcp:PORT:ok`` / ``icmp:ok``."""
    parts = [f"(busybox nc -w 3 {dst} {p} </dev/null 2>/dev/null | head -c 3 | grep -q . && echo tcp:{p}:ok) &"
             for p in TCP_PORTS]
    parts.append(f"(sudo busybox ping -c 1 -W 3 {dst} >/dev/null 2>&1 && echo icmp:ok) &")
    return " ".join(parts) + " wait"


def start_listeners(node: Node) -> None:
    for p in LISTEN_PORTS:
        node.guest.run(f"setsid busybox nc -ll -p {p} -e /bin/echo ok{p} </dev/null >/dev/null 2>&1 &")


def revoke_all(ec2: Any, group_ids: list[str]) -> None:
    """Revoke every rule of the groups (through the API)."""
    for gid in group_ids:
        rules = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
        for egress, call in ((False, ec2.revoke_security_group_ingress), (True, ec2.revoke_security_group_egress)):
            ids = [r["SecurityGroupRuleId"] for r in rules if r["IsEgress"] == egress]
            if ids:
                call(GroupId=gid, SecurityGroupRuleIds=ids)


class TrafficFuzz:
    def __init__(self, seed: int, ec2: Any, a: Node, b: Node, subnet: str) -> None:
        self.rnd = random.Random(seed)
        self.ec2, self.a, self.b, self.subnet = ec2, a, b, subnet
        self.stats = FuzzStats()

    def _clear(self) -> None:
        revoke_all(self.ec2, [self.a.group_id, self.b.group_id])

    def model(self) -> tuple[list[fw.Port], dict[str, fw.SecurityGroup]]:
        groups = []
        for gid in (self.a.group_id, self.b.group_id):
            rules = self.ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]
            groups.append({"id": gid, "rules": rules})
        ports = [fw.Port(n.name, "tap" + n.name, "02:00:00:00:00:01", (n.ip,), (n.group_id,)) for n in (self.a, self.b)]
        return ports, model_of(groups)

    def calibrate(self) -> None:
        """One known rule set first: everything open between the two (so every listener is up and
        a probe can succeed; the fuzz then cannot pass by everything being closed)."""
        rules = [(n.group_id, False, {"IpProtocol": "-1", "IpRanges": [{"CidrIp": self.subnet}]})
                 for n in (self.a, self.b)]
        deadline = time.monotonic() + 120
        while True:
            before = len(self.stats.mismatches)
            self.one(rules)
            if len(self.stats.mismatches) == before or time.monotonic() > deadline:
                return
            del self.stats.mismatches[before:]  # listeners still starting: try again
            self.stats.flows -= 10
            self.stats.rule_sets -= 1

    def one(self, rules: list[tuple[str, bool, dict]] | None = None) -> None:
        st = self.stats
        st.rule_sets += 1
        self._clear()
        if rules is None:
            rules = random_valid_rules(self.rnd, self.a, self.b, self.subnet)
        else:  # calibration: default egress back as well
            rules = rules + [(n.group_id, True, {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
                             for n in (self.a, self.b)]
        for gid, egress, perm in rules:
            call = self.ec2.authorize_security_group_egress if egress else self.ec2.authorize_security_group_ingress
            st.requests += 1
            try:
                call(GroupId=gid, IpPermissions=[perm])
                st.accepted += 1
            except Exception as exc:  # duplicates of an earlier rule of this set are fine
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
                st.rejected += 1
                st.by_code[code] = st.by_code.get(code, 0) + 1
                if code != "InvalidPermission.Duplicate":
                    st.bad_errors.append(f"{code}: {perm}")
        ports, groups = self.model()
        seen: dict[str, set[str]] = {}

        def probe(src: Node, dst: Node) -> None:
            out = src.guest.run(_probe_script(dst.ip), timeout=60, check=False)
            seen[src.name] = set(out.split())

        threads = [threading.Thread(target=probe, args=pair) for pair in ((self.a, self.b), (self.b, self.a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            flows = [(f"tcp:{p}:ok", "tcp", p, None) for p in TCP_PORTS] + [("icmp:ok", "icmp", 8, 0)]
            for token, proto, port, code in flows:
                want = fw.allows(ports, groups, src.ip, dst.ip, proto, port, code)
                got = token in seen.get(src.name, set())
                st.flows += 1
                st.open_flows += want
                if want != got:
                    st.mismatches.append(f"{src.name}->{dst.name} {token.rsplit(':', 1)[0]}: "
                                         f"expected {'open' if want else 'closed'}, got {'open' if got else 'closed'}")


# --------------------------------------------------------------------------- targets for RuleFuzz


class ServiceTarget:
    """The security-group service on a model-only backend (no HTTP): thousands of rule sets fast."""

    def __init__(self, backend: Any, region: str = "us-east-1") -> None:
        self.backend, self.region, self.made, self.lists = backend, region, [], []

    def new_lists(self, entries: list[list[dict[str, str]]]) -> list[str]:
        from orchestrator.services import prefix_lists

        self.lists = [prefix_lists.create_tagged(self.backend, self.region, {
            "PrefixListName": f"fz-{secrets.token_hex(6)}", "AddressFamily": "IPv4", "MaxEntries": 8,
            "Entries": e})[0].id for e in entries]
        return self.lists

    def modify_list(self, pl_id: str, add: list[dict[str, str]], clear: bool) -> str | None:
        """ModifyManagedPrefixList: ``add`` (after removing every entry with ``clear``)."""
        from orchestrator.domain import errors
        from orchestrator.services import prefix_lists

        current = prefix_lists.entries(self.backend, self.region, pl_id, None)
        req = {"PrefixListId": pl_id, "AddEntries": add,
               "RemoveEntries": [{"Cidr": e["Cidr"]} for e in current] if clear else []}
        try:
            record, moving = prefix_lists.modify(self.backend, self.region, req)
            if moving:  # what modify_live does once the VPCs followed
                self.backend.store.transition(record.id, record.state, "modify-complete")
        except errors.ApiError as exc:
            return exc.code if exc.status == 400 else f"HTTP {exc.status} {exc.code}"
        except Exception as exc:  # noqa: BLE001 - would be a 500 with a traceback
            return f"CRASH {type(exc).__name__}: {exc}"
        return None

    def new_groups(self, n: int) -> list[str]:
        from orchestrator.services import security_groups as sgs

        self.cleanup()
        self.made = [sgs.create(self.backend, self.region, f"fz-{secrets.token_hex(6)}", "fuzz", None, None).id
                     for _ in range(n)]
        return self.made

    def authorize(self, gid: str, egress: bool, perms: list[dict]) -> str | None:
        from orchestrator.domain import errors
        from orchestrator.services import security_groups as sgs

        try:
            sgs.authorize(self.backend, self.region, {"GroupId": gid, "IpPermissions": perms}, egress)
        except errors.ApiError as exc:
            return exc.code if exc.status == 400 else f"HTTP {exc.status} {exc.code}"
        except Exception as exc:  # noqa: BLE001 - would be a 500 with a traceback
            return f"CRASH {type(exc).__name__}: {exc}"
        return None

    def modify(self, gid: str, n: int, request: dict) -> str | None:
        """ModifySecurityGroupRules of the group's ``n``-th rule (modulo its count)."""
        from orchestrator.domain import errors
        from orchestrator.services import security_group_rules as sg_rules

        rules = self.backend.store.get(gid).data.get("Rules") or []
        rule_id = rules[n % len(rules)]["SecurityGroupRuleId"] if rules else "sgr-0123456789abcdef0"
        try:
            sg_rules.modify_rules(self.backend, self.region, gid,
                                  [{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": request}])
        except errors.ApiError as exc:
            return exc.code if exc.status == 400 else f"HTTP {exc.status} {exc.code}"
        except Exception as exc:  # noqa: BLE001 - would be a 500 with a traceback
            return f"CRASH {type(exc).__name__}: {exc}"
        return None

    def describe(self, gids: list[str]) -> dict[str, fw.SecurityGroup]:
        """The groups as the runtime compiles them (prefix lists with their current CIDRs)."""
        from orchestrator.runtime import vpc_state
        from orchestrator.runtime.vpc import prefix_list_cidrs

        records = [self.backend.store.get(gid) for gid in gids]
        lists = prefix_list_cidrs(self.backend.store, vpc_state.prefix_list_ids(records))
        return {r.id: vpc_state.firewall_group(r, lists) for r in records}

    def cleanup(self) -> None:
        for rid in self.made + self.lists:
            self.backend.store.delete(rid)
        self.made, self.lists = [], []


class ApiTarget:
    """The same through boto3 and a real ec2d (HTTP, parser, serializer, the daemon's own sync)."""

    def __init__(self, ec2: Any, vpc_id: str) -> None:
        self.ec2, self.vpc_id, self.made, self.lists = ec2, vpc_id, [], []

    def new_lists(self, entries: list[list[dict[str, str]]]) -> list[str]:
        self.lists = [self.ec2.create_managed_prefix_list(
            PrefixListName=f"fz-{secrets.token_hex(6)}", AddressFamily="IPv4", MaxEntries=8,
            Entries=e)["PrefixList"]["PrefixListId"] for e in entries]
        return self.lists

    def modify_list(self, pl_id: str, add: list[dict[str, str]], clear: bool) -> str | None:
        current = self.ec2.get_managed_prefix_list_entries(PrefixListId=pl_id)["Entries"]
        remove = [{"Cidr": e["Cidr"]} for e in current] if clear else []
        try:
            self.ec2.modify_managed_prefix_list(PrefixListId=pl_id, AddEntries=add, RemoveEntries=remove)
        except Exception as exc:  # noqa: BLE001
            return _code_of(exc)
        return None

    def new_groups(self, n: int) -> list[str]:
        self.cleanup()
        self.made = [self.ec2.create_security_group(GroupName=f"fz-{secrets.token_hex(6)}", Description="fuzz",
                                                    VpcId=self.vpc_id)["GroupId"] for _ in range(n)]
        return self.made

    def authorize(self, gid: str, egress: bool, perms: list[dict]) -> str | None:
        call = self.ec2.authorize_security_group_egress if egress else self.ec2.authorize_security_group_ingress
        try:
            call(GroupId=gid, IpPermissions=perms)
        except Exception as exc:  # noqa: BLE001
            return _code_of(exc)
        return None

    def _rules(self, gid: str) -> list[dict]:
        return self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]

    def describe(self, gids: list[str]) -> dict[str, fw.SecurityGroup]:
        lists = {pl: tuple(e["Cidr"] for e in self.ec2.get_managed_prefix_list_entries(PrefixListId=pl)["Entries"])
                 for pl in self.lists}
        return model_of([{"id": gid, "rules": self._rules(gid)} for gid in gids], lists)

    def cleanup(self) -> None:
        revoke_all(self.ec2, self.made)  # drop rules first: the pair may reference each other
        for gid in self.made:
            self.ec2.delete_security_group(GroupId=gid)
        for pl in self.lists:  # no rule names them any more
            self.ec2.delete_managed_prefix_list(PrefixListId=pl)
        self.made, self.lists = [], []


def _code_of(exc: Exception) -> str:
    """A boto3 error as its EC2 code (status 400), else what makes it a finding."""
    resp = getattr(exc, "response", None)
    if not resp:
        return f"CRASH {exc!r}"
    status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = resp.get("Error", {}).get("Code", "?")
    return code if status == 400 else f"HTTP {status} {code}"
