"""IMDS isolation against a guest that spoofs its neighbour (shared by
tests/instances/test_imds_spoof.py and bench/imds_spoof.py).

Two ec2d-tiny guests A and B in one subnet. As root inside A (the image's sudo), a detached script
(A's SSH goes away while it spoofs) tries, N times per mode, IMDSv1 GET instance-id, IMDSv1 GET of
the identity credentials and IMDSv2 PUT token (+ GET with it), in these modes:

  none      A as itself (control: every request must be answered, with A's own data)
  ip        B's IP as source of A's metadata traffic (own MAC; static ARP for the gateway)
  mac       B's MAC on A's NIC (own IP)
  both      B's MAC and B's IP, A's own address removed: A pretends to be B
  restored  A as itself again (must work as in "none")

Host side, a counting table in the VPC namespace (bridge prerouting, before ec2d's anti-spoofing
table at priority -300 and after it at +5) counts the frames from A's tap that carry B's MAC or
IP: seen (before) - passed (after) = dropped. Nothing here leaves the VPC namespace.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from guests import Guest, ssh

MODES = ("none", "ip", "mac", "both", "restored")
SPOOF_MODES = ("ip", "mac", "both")

SCRIPT = r"""#!/bin/sh
# (no "wget -T": it crashes busybox 1.35's wget; "timeout" bounds every request instead)
# spoof.sh N B_IP B_MAC PREFIXLEN -- run as root, detached; writes /tmp/spoof.out, then /tmp/spoof.done
N=$1; BIP=$2; BMAC=$3; PL=$4
OUT=/tmp/spoof.out; : >$OUT; rm -f /tmp/spoof.done
IMDS=169.254.169.254
AMAC=$(cat /sys/class/net/eth0/address)
AIP=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | head -n 1)
GW=$(ip route | awk '/^default/ {print $3; exit}')
ping -c 1 -W 2 "$GW" >/dev/null 2>&1
GWMAC=$(awk -v gw="$GW" '$1 == gw {print $4}' /proc/net/arp)
echo "info a=$AIP/$AMAC gw=$GW/$GWMAC b=$BIP/$BMAC" >>$OUT
attempt() {  # MODE I: the three requests of attempt I, at once (each bounded by its timeout)
    { r=$(timeout 5 wget -q -O - "http://$IMDS/latest/meta-data/instance-id" 2>/dev/null | tr -d '\n')
      echo "$1 v1-id $2 [$r]" >>$OUT; } &
    { r=$(timeout 5 wget -q -O - \
            "http://$IMDS/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance" \
            2>/dev/null | tr -d '\n')
      echo "$1 v1-creds $2 [$r]" >>$OUT; } &
    { t=$({ printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' \
            "$IMDS"; sleep 2; } | timeout 5 nc -w 3 "$IMDS" 80 2>/dev/null | tr -d '\r' | sed '1,/^$/d' | tr -d '\n')
      r=""
      [ -n "$t" ] && r=$(timeout 5 wget -q -O - --header "X-aws-ec2-metadata-token: $t" \
            "http://$IMDS/latest/meta-data/instance-id" 2>/dev/null | tr -d '\n')
      echo "$1 v2-id $2 [$t$r]" >>$OUT; } &
    wait
}
attempts() {  # MODE: N attempts at once (a spoofed request waits out its timeout: in parallel, once)
    i=0
    while [ $i -lt "$N" ]; do
        i=$((i + 1))
        attempt "$1" $i &
    done
    wait
}
as_self() {
    ip link set eth0 down; ip link set eth0 address "$AMAC"; ip link set eth0 up
    ip addr flush dev eth0; ip addr add "$AIP/$PL" dev eth0
    ip route del "$IMDS" 2>/dev/null; ip route add default via "$GW" 2>/dev/null
    arp -d "$GW" 2>/dev/null; ping -c 1 -W 2 "$GW" >/dev/null 2>&1
}
attempts none
# ip: B's address as the source of metadata traffic, own MAC
ip addr add "$BIP/32" dev eth0
arp -i eth0 -s "$GW" "$GWMAC"
ip route replace "$IMDS" via "$GW" dev eth0 src "$BIP"
attempts ip
ip route del "$IMDS"; ip addr del "$BIP/32" dev eth0
# mac: B's MAC, own address
ip link set eth0 down; ip link set eth0 address "$BMAC"; ip link set eth0 up
ip route add default via "$GW" 2>/dev/null; arp -i eth0 -s "$GW" "$GWMAC"
attempts mac
# both: B's MAC and B's address, nothing of A left
ip addr flush dev eth0; ip addr add "$BIP/$PL" dev eth0
ip route add default via "$GW" 2>/dev/null; arp -i eth0 -s "$GW" "$GWMAC"
attempts both
as_self
attempts restored
echo done >/tmp/spoof.done
"""


@dataclass
class SpoofReport:
    attempts: dict[str, int] = field(default_factory=dict)  # per mode: requests tried
    answered: dict[str, int] = field(default_factory=dict)  # per mode: requests that got any answer
    leaked: dict[str, int] = field(default_factory=dict)  # per mode: answers holding B's id or keys
    own: dict[str, int] = field(default_factory=dict)  # per mode: answers holding A's own id
    frames_seen: dict[str, int] = field(default_factory=dict)  # spoofed frames from A's tap, per kind
    frames_passed: dict[str, int] = field(default_factory=dict)  # of those, past the anti-spoofing
    neighbour_ok: bool = False  # B still reads its own metadata afterwards
    lines: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return sum(self.frames_seen.values()) - sum(self.frames_passed.values())


def _nft(netns: str, script: str | None, *args: str) -> str:
    proc = subprocess.run(["ip", "netns", "exec", netns, "nft", *args], input=script, capture_output=True,
                          text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nft {args} in {netns}: {proc.stderr}")
    return proc.stdout


def tap_of(netns: str, guest_mac: str) -> str:
    """A guest's tap in the VPC namespace: libvirt gives it the guest MAC with first byte fe."""
    want = "fe" + guest_mac.lower()[2:]
    links = json.loads(subprocess.run(["ip", "-n", netns, "-j", "link", "show"], capture_output=True, text=True,
                                      timeout=30, check=True).stdout)
    for link in links:
        if link.get("address", "").lower() == want:
            return link["ifname"]
    raise AssertionError(f"no tap with MAC {want} in {netns}")


COUNTED = {  # kind -> nft match on frames from A's tap
    "ip": "ether saddr != {bmac} ip saddr {bip}",
    "mac": "ether saddr {bmac} ip saddr != {bip}",
    "both": "ether saddr {bmac} ip saddr {bip}",
    "arp-mac": "ether type arp ether saddr {bmac}",
    "arp-ip": "ether type arp ether saddr != {bmac} arp saddr ip {bip}",
}


def _counting_table(name: str, tap: str, bip: str, bmac: str) -> str:
    chains = []
    for chain, prio in (("seen", -300), ("passed", 5)):
        rules = "\n".join(
            f'\t\tiifname "{tap}" {match.format(bip=bip, bmac=bmac)} counter comment "{kind}"'
            for kind, match in COUNTED.items()
        )
        chains.append(f"\tchain {chain} {{\n\t\ttype filter hook prerouting priority {prio}; policy accept;\n"
                      f"{rules}\n\t}}")
    return f"table bridge {name} {{\n" + "\n".join(chains) + "\n}\n"


def _counters(netns: str, name: str) -> dict[str, dict[str, int]]:
    data = json.loads(_nft(netns, None, "-j", "list", "table", "bridge", name))
    out: dict[str, dict[str, int]] = {"seen": {}, "passed": {}}
    for item in data["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        packets = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
        out[rule["chain"]][rule["comment"]] = packets
    return out


def _wait_done(netns: str, ip: str, key: Any, deadline: float) -> Guest:
    while time.monotonic() < deadline:
        try:
            guest = ssh(netns, ip, key, timeout=max(10.0, min(60.0, deadline - time.monotonic())))
        except AssertionError:  # A is still spoofing: its own SSH is dropped too
            continue
        if guest.run("cat /tmp/spoof.done 2>/dev/null", check=False).strip() == "done":
            return guest
        guest.close()
        time.sleep(5)
    raise AssertionError("the spoofing script did not finish in time")


def run(netns: str, a: dict[str, Any], b: dict[str, Any], key: Any, guest_b: Guest, attempts: int,
        table: str, timeout: float = 1800.0) -> SpoofReport:
    """Run the experiment from instance ``a`` against instance ``b`` (both running, same subnet,
    HttpTokens=optional so that IMDSv1 is a real attempt). Returns the figures."""
    a_ip, b_ip = a["PrivateIpAddress"], b["PrivateIpAddress"]
    b_mac = b["NetworkInterfaces"][0]["MacAddress"]
    b_id = b["InstanceId"]
    b_creds = json.loads(guest_b.run(
        "wget -q -O - http://169.254.169.254/latest/meta-data/identity-credentials/ec2/security-credentials/"
        "ec2-instance"))
    prefixlen = int(guest_b.run("ip -4 -o addr show dev eth0").split()[3].split("/")[1])
    tap = tap_of(netns, a["NetworkInterfaces"][0]["MacAddress"])
    _nft(netns, _counting_table(table, tap, b_ip, b_mac), "-f", "-")
    try:
        ga = ssh(netns, a_ip, key)
        ga.run(f"printf '%s' {shlex.quote(SCRIPT)} > /tmp/spoof.sh && chmod 755 /tmp/spoof.sh")
        ga.run(f"sudo setsid /tmp/spoof.sh {attempts} {b_ip} {b_mac} {prefixlen} </dev/null >/tmp/spoof.log 2>&1 &",
               timeout=30)
        ga.close()
        ga = _wait_done(netns, a_ip, key, time.monotonic() + timeout)
        text = ga.run("cat /tmp/spoof.out")
        ga.close()
        counters = _counters(netns, table)
    finally:
        _nft(netns, None, "delete", "table", "bridge", table)
    report = SpoofReport(frames_seen=counters["seen"], frames_passed=counters["passed"])
    secrets_of_b = [b_id, b_creds["AccessKeyId"], b_creds["SecretAccessKey"], b_creds["Token"]]
    for line in text.splitlines():
        report.lines.append(line)
        m = re.match(r"^(\w+) (v1-id|v1-creds|v2-id) \d+ \[(.*)\]$", line)
        if not m:
            continue
        mode, answer = m.group(1), m.group(3)
        report.attempts[mode] = report.attempts.get(mode, 0) + 1
        report.answered[mode] = report.answered.get(mode, 0) + bool(answer)
        report.leaked[mode] = report.leaked.get(mode, 0) + any(s in answer for s in secrets_of_b)
        report.own[mode] = report.own.get(mode, 0) + (a["InstanceId"] in answer)
    own_b = guest_b.run("wget -q -O - http://169.254.169.254/latest/meta-data/instance-id")
    report.neighbour_ok = own_b == b_id
    return report


def table_text(report: SpoofReport) -> str:
    rows = [f"{'mode':<10} {'attempts':>8} {'answered':>8} {'leaked':>7} {'own id':>7}"]
    for mode in MODES:
        rows.append(f"{mode:<10} {report.attempts.get(mode, 0):>8} {report.answered.get(mode, 0):>8} "
                    f"{report.leaked.get(mode, 0):>7} {report.own.get(mode, 0):>7}")
    rows.append(f"{'frames':<10} " + "  ".join(
        f"{k}: seen {report.frames_seen.get(k, 0)} passed {report.frames_passed.get(k, 0)}" for k in COUNTED))
    rows.append(f"spoofed frames dropped by anti-spoofing: {report.dropped} of {sum(report.frames_seen.values())}; "
                f"neighbour still reads its own metadata: {report.neighbour_ok}")
    return "\n".join(rows)
