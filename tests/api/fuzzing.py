"""Hostile EC2 Query requests generated from botocore's input shapes, sent signed to a real ec2d.

Shared by ``tests/api/test_fuzz.py`` (a fixed-seed sample) and ``bench/fuzz.py`` (10,000+).

Every request is for a registered action and is signed correctly (botocore's ``SigV4Auth``), so it
gets past authentication and into the parser and handlers. Its parameters follow the action's
input shape, but each scalar is either plausible (an id of a resource the daemon really has, a
CIDR, a zone, an enum value) or hostile: the wrong type, huge, out of range, unicode look-alike
digits, control characters, bytes that are not UTF-8. Lists come empty, short or long, with
odd indexes; members go missing (required ones too), repeat on the wire, or are unknown.

A run counts statuses and error codes, checks that every response is well-formed XML, counts
tracebacks (log records with exception info) in the daemon's log, and harvests resource ids from
answers so later requests reach deeper into the handlers.
"""

from __future__ import annotations

import http.client
import logging
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.etree.ElementTree import ParseError, fromstring

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import OperationModel, Shape

from orchestrator.api.protocols.ec2 import input_wire_name, service_model
from orchestrator.api.registry import HANDLERS

# 5xx codes EC2 documents as server errors that a request may legitimately get (capacity).
EC2_SERVER_ERRORS = frozenset({"InsufficientInstanceCapacity", "InsufficientVolumeCapacity"})

ID_RE = re.compile(rb"\b(?:i|vol|snap|ami|vpc|subnet|sg|eni|igw|rtb|rtbassoc|eipalloc|eipassoc|sgr|"
                   rb"dopt|acl|attach)-[0-9a-f]{8,17}\b")
PLACEHOLDER_RE = re.compile(r"-(f+|0+)$")
# Members the model leaves optional but a plausible request nearly always has.
USUAL = frozenset({"ImageId", "AvailabilityZone", "Size", "GroupId", "Device", "VolumeId", "InstanceId",
                   "InstanceType", "IpProtocol", "CidrIp", "FromPort", "ToPort", "MapPublicIpOnLaunch"})
PUBLIC_KEY = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSU9NcXFua1Z6cm0wU2RHNlVPb3FLTHNhYmdINUM5b2tXaTBkaDJsOUdLSmwgZnV6eg=="
CODE_RE = re.compile(rb"<Code>(.*?)</Code>", re.DOTALL)

# Member name (without a trailing "s") -> resource id prefix, for plausible ids.
ID_PREFIX = {
    "InstanceId": "i", "VolumeId": "vol", "SnapshotId": "snap", "SourceSnapshotId": "snap", "ImageId": "ami",
    "SourceImageId": "ami", "VpcId": "vpc", "SubnetId": "subnet", "GroupId": "sg", "SecurityGroupId": "sg",
    "Group": "sg", "NetworkInterfaceId": "eni", "InternetGatewayId": "igw", "GatewayId": "igw",
    "RouteTableId": "rtb", "AllocationId": "eipalloc", "AssociationId": "eipassoc", "ResourceId": "",
    "Resource": "", "SecurityGroupRuleId": "sgr", "DhcpOptionsId": "dopt",
}

HOSTILE_STRINGS: list[str | bytes] = [
    "", " ", "\x00", "a\x01b", "\x1b[31mred", "line1\r\nline2", "\t", "\x7f", "\ufffe", "\uffff",
    "é", "²", "١٢٣", "\u202egnp.exe", "😀" * 10, "\ufeffBOM", "x" * 256, "y" * 4096, "*a*a*a*a*a*a*a*a*b",
    "?" * 255, "\\", "\\*", "../../etc/passwd", "%00", "' OR 1=1 --", "<a>&amp;</a>", "${jndi:ldap://x}",
    "-1", "0", "1e20", "99999999999999999999", "NaN", "inf", "true", "null", "0.0.0.0/0", "::/0",
    "256.1.1.1", "10.0.0.0/33", "not-an-ip", "i-", "vpc-zzzzzzzz", "i-0123456789abcdef0123",
    b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\xaf", b"a\x00b",
]
HOSTILE_NUMBERS = ["", "-1", "0", "1.5", "1e3", "²", "١٢", "0x10", " 1", "+1", "9" * 50, str(2**31),
                   str(2**63), str(-(2**63) - 1), "NaN", "true", "\x00"]
HOSTILE_TIMESTAMPS = ["1e20", "99999999999999", "100000000000000000000", "-1", "0001-01-01T00:00:00+01:00",
                      "9999-12-31T23:59:59-01:00", "2026-13-45", "", "²", "nan", "2026-01-01T00:00:00Z"]
HOSTILE_LIST_INDEXES = ["0", "-1", "²", "١", "01", "1a", "", "99999999999999999999", "1.5", " 1"]
WORDS = ["default", "web", "db", "ec2d", "test", "Name", "Env", "prod", "a", "gp3", "standard", "io1",
         "/dev/xvdf", "/dev/sdb", "xvda", "t3.micro", "t3.nano", "m5.large", "x1.nope", "enabled",
         "disabled", "tcp", "udp", "icmp", "-1", "all", "22", "ssh-ed25519 AAAA", "self", "amazon", "ec2d"]


def cidr(rng: random.Random) -> str:
    return rng.choice([
        f"10.{rng.randrange(256)}.0.0/{rng.choice([16, 20, 24, 28])}", f"10.77.{rng.randrange(256)}.0/24",
        f"172.31.{rng.randrange(0, 256, 16)}.0/{rng.choice([20, 24, 28])}",
        "0.0.0.0/0", f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/32",
        "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8", "::/0", "2001:db8::/64",
    ])


def ip(rng: random.Random) -> str:
    return rng.choice([f"172.31.{rng.randrange(64)}.{rng.randrange(256)}", f"10.0.0.{rng.randrange(256)}",
                       "198.18.0.1", "255.255.255.255", "172.31.0.0", "::1"])


@dataclass
class Pool:
    """Resource ids the daemon has shown, by prefix."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add_from(self, body: bytes) -> None:
        for raw in ID_RE.findall(body):
            rid = raw.decode()
            if PLACEHOLDER_RE.search(rid):  # e.g. vol-ffffffff in an AMI's mapping: names nothing
                continue
            bucket = self.ids.setdefault(rid.split("-", 1)[0], [])
            if rid not in bucket:
                bucket.append(rid)
                if len(bucket) > 64:
                    bucket.pop(0)

    def pick(self, rng: random.Random, prefix: str) -> str | None:
        if prefix:
            bucket = self.ids.get(prefix)
            return rng.choice(bucket) if bucket else None
        every = [i for b in self.ids.values() for i in b]
        return rng.choice(every) if every else None


class Generator:
    """Wire parameters (a list of pairs: keys may repeat) for an action, from its input shape."""

    MAX_PAIRS = 4000

    def __init__(self, rng: random.Random, pool: Pool, regions: list[str]) -> None:
        self.rng = rng
        self.pool = pool
        self.zones = [f"{r}{z}" for r in regions for z in "abc"]
        self.hostility = 0.0

    def request(self, op: OperationModel) -> list[tuple[str, str | bytes]]:
        # Some requests are plausible throughout (they reach the handlers' own checks and state);
        # the others have each scalar hostile with some probability.
        self.hostility = 0.0 if self.rng.random() < 0.4 else self.rng.choice([0.05, 0.2, 0.5])
        pairs: list[tuple[str, str | bytes]] = [("Action", op.name), ("Version", "2016-11-15")]
        if op.input_shape is not None:
            self._structure(op.input_shape, "", pairs, depth=0)
        rng = self.rng
        pairs = [p for p in pairs if p[0] != "DryRun"]
        if rng.random() < 0.03:
            pairs.append(("DryRun", rng.choice(["true", "false", "maybe"])))
        if not self.hostility:
            return pairs
        if len(pairs) > 2 and rng.random() < 0.1:  # a member repeated on the wire with another value
            key, _ = rng.choice(pairs[2:])
            pairs.append((key, self._string(key, "")))
        if rng.random() < 0.05:
            pairs.append((rng.choice(["Bogus", "InstanceId.1.Extra", "Filter.1.Value.x", "a..b", ".", ""]), "1"))
        return pairs

    def _structure(self, shape: Shape, prefix: str, out: list, depth: int) -> None:
        rng = self.rng
        required = set(shape.required_members)
        for name, member in shape.members.items():
            if name == "DryRun":
                continue
            skip = (0.04 if name in required else 0.55 if depth == 0 else 0.7) if self.hostility else \
                (0.0 if name in required else 0.1 if name in USUAL else 0.75 if depth == 0 else 0.85)
            if rng.random() < skip or (depth > 3 and name not in required) or len(out) > self.MAX_PAIRS:
                continue
            wire = input_wire_name(member, name)
            self._value(member, f"{prefix}.{wire}" if prefix else wire, name, out, depth + 1)

    def _value(self, shape: Shape, key: str, name: str, out: list, depth: int) -> None:
        rng = self.rng
        kind = shape.type_name
        if kind == "structure":
            if self.hostility and rng.random() < 0.05:
                out.append((key, self._string(name, "")))  # a scalar where a structure belongs
            else:
                self._structure(shape, key, out, depth)
        elif kind == "list":
            r = rng.random()
            count = 0 if r < 0.05 else 1 if r < 0.6 else 2 if r < 0.8 else 3 if r < 0.9 else \
                rng.choice([20, 60]) if r < 0.98 else 250
            if not self.hostility:
                count = min(count, 2) or 1
            for i in range(1, count + 1):
                index = rng.choice(HOSTILE_LIST_INDEXES) if rng.random() < self.hostility / 4 else str(i)
                self._value(shape.member, f"{key}.{index}", name, out, depth + 1)
                if len(out) > self.MAX_PAIRS:
                    break
        elif kind == "map":
            for i in range(1, rng.choice([1, 2]) + 1):
                self._value(shape.key, f"{key}.{i}.{input_wire_name(shape.key, 'key')}", name, out, depth)
                self._value(shape.value, f"{key}.{i}.{input_wire_name(shape.value, 'value')}", name, out, depth)
        else:
            out.append((key, self._scalar(shape, name)))

    def _scalar(self, shape: Shape, name: str) -> str | bytes:
        rng = self.rng
        kind = shape.type_name
        hostile = rng.random() < self.hostility
        if kind in ("integer", "long"):
            if hostile:
                return rng.choice(HOSTILE_NUMBERS)
            return str(rng.choice([0, 1, 1, 2, 3, 5, 8, 22, 80, 100, 443, 1000, 65535, 16385, -1]))
        if kind in ("float", "double"):
            return rng.choice(HOSTILE_NUMBERS) if hostile else str(rng.choice([0.5, 1.0, 3.25]))
        if kind == "boolean":
            return rng.choice(["maybe", "TRUE", "", "2", "yes"]) if hostile else rng.choice(["true", "false"])
        if kind == "timestamp":
            return rng.choice(HOSTILE_TIMESTAMPS) if hostile else rng.choice(
                ["2026-01-01T00:00:00Z", "1700000000", "2030-06-01T12:00:00.000Z"])
        if kind == "blob":
            return rng.choice(["%%%", "", "\x00", "a" * 10001]) if hostile else rng.choice(
                ["IyEvYmluL3NoCmVjaG8gaGkK", "c3NoLWVkMjU1MTkgQUFBQQ==", PUBLIC_KEY, PUBLIC_KEY])
        if hostile:
            return rng.choice(HOSTILE_STRINGS)
        if name == "InstanceType" and rng.random() < 0.9:
            return rng.choice(["t3.micro", "t3.nano", "t3.small"])
        if shape.enum and rng.random() < 0.9:
            return rng.choice(shape.enum)
        return self._string(name, shape.name)

    def _string(self, name: str, shape_name: str) -> str:
        rng = self.rng
        base = name[:-1] if name.endswith("s") and name[:-1] in ID_PREFIX else name
        if base in ID_PREFIX or base.endswith("Id"):
            found = self.pool.pick(rng, ID_PREFIX.get(base, ""))
            if found and rng.random() < 0.85:
                return found
        lowered = name.lower()
        if "cidr" in lowered:
            return cidr(rng)
        if "ipaddress" in lowered or lowered in ("publicip", "privateip"):
            return ip(rng)
        if name in ("Device", "DeviceName"):
            return rng.choice(["/dev/sdf", "/dev/xvdg", "/dev/sdh", "xvdi", "/dev/sda1"])
        if "zone" in lowered:
            return rng.choice(self.zones)
        if "region" in lowered:
            return rng.choice(["us-east-1", "us-west-2", "eu-west-1", ""])
        if "port" in lowered:
            return str(rng.choice([22, 80, -1, 65536]))
        return rng.choice(WORDS) + (str(rng.randrange(1000)) if rng.random() < 0.5 else "")


@dataclass
class TracebackCounter(logging.Handler):
    """Counts (and keeps a few of) the log records that carry exception info: tracebacks."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, level=logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or (record.levelno >= logging.ERROR and "Traceback" in record.getMessage()):
            self.records.append(record)

    def __hash__(self) -> int:
        return id(self)

    def __enter__(self) -> TracebackCounter:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)

    def signatures(self) -> Counter:
        """How often each distinct failure happened: ``Type at file:line in function (message)``."""
        out: Counter = Counter()
        for record in self.records:
            if not record.exc_info or record.exc_info[2] is None:
                out[record.getMessage()[:200]] += 1
                continue
            kind, exc, tb = record.exc_info
            frame = traceback.extract_tb(tb)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
            out[f"{kind.__name__ if kind else '?'} at {where} ({record.getMessage()[:60]}: {str(exc)[:80]})"] += 1
        return out


@dataclass
class Result:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # "Action -> Code" of every 5xx
    invalid_xml: list[str] = field(default_factory=list)
    samples: dict[str, list] = field(default_factory=dict)  # one request per kind of 5xx, to reproduce
    actions: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def unexpected_5xx(self) -> list[str]:
        return [e for e in self.server_errors if e.rsplit(" ", 1)[-1] not in EC2_SERVER_ERRORS]


class Client:
    """A keep-alive HTTP connection that SigV4-signs form POSTs the way boto3 does."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.creds = Credentials(access_key, secret_key)
        self.region = region
        host = self.endpoint.split("://", 1)[1]
        self.conn = http.client.HTTPConnection(host, timeout=120)

    def post(self, pairs: list[tuple[str, str | bytes]]) -> tuple[int, bytes]:
        body = urlencode(pairs).encode()
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(self.creds, "ec2", self.region).add_auth(request)
        headers = {k: v for k, v in request.headers.items()}
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


# With the real runtime (libvirt, namespaces), actions that would reach beyond the test's own
# objects or launch many guests: CreateVpc installs root-namespace routes for any CIDR it accepts
# (issue 9 restricts that), RunInstances could start more guests than the host should run at once.
RUNTIME_EXCLUDED = frozenset({"CreateVpc", "RunInstances"})


def actions() -> list[str]:
    return sorted(HANDLERS)


def seed_resources(client: Client, instances: int = 2) -> None:
    """A few resources of every kind, so generated ids name real things."""
    vpc_id = ""
    for pairs in (
        [("Action", "CreateVpc"), ("CidrBlock", "10.77.0.0/16")],
        [("Action", "CreateKeyPair"), ("KeyName", "fuzz-key")],
        [("Action", "CreateInternetGateway")],
        [("Action", "AllocateAddress"), ("Domain", "vpc")],
        [("Action", "CreateVolume"), ("AvailabilityZone", "us-east-1a"), ("Size", "1")],
        [("Action", "CreateSubnet"), ("VpcId", vpc_id), ("CidrBlock", "10.77.1.0/24")],
    ):
        status, body = client.post([("Version", "2016-11-15"), *pairs])
        if pairs[0][1] == "CreateVpc":
            vpc_id = ID_RE.search(body).group().decode()  # type: ignore[union-attr]
    deadline = time.monotonic() + 60  # the daemon registers cached images as AMIs in the background
    image = None
    while image is None and time.monotonic() < deadline:
        image = re.search(rb"ami-[0-9a-f]{8,17}", client.post([("Action", "DescribeImages"),
                                                                ("Version", "2016-11-15")])[1])
        time.sleep(0.2)
    if image is not None:
        status, body = client.post([("Action", "RunInstances"), ("Version", "2016-11-15"), ("MaxCount", str(instances)),
                                    ("MinCount", "1"), ("ImageId", image.group().decode()),
                                    ("InstanceType", "t3.micro")])
        assert status == 200, body


def run(client: Client, count: int, seed: int, regions: list[str], exclude: frozenset[str] = frozenset(),
        instances: int = 2) -> Iterator[tuple[list[tuple[str, str | bytes]], int, bytes]]:
    """Send ``count`` generated requests; yields (parameters, status, body) of each."""
    rng = random.Random(seed)
    pool = Pool()
    gen = Generator(rng, pool, regions)
    model = service_model()
    names = [a for a in actions() if a not in exclude]
    seed_resources(client, instances)
    for describe in [a for a in names if a.startswith("Describe")]:
        _, body = client.post([("Action", describe), ("Version", "2016-11-15")])
        pool.add_from(body)
    for i in range(count):
        name = names[i % len(names)] if i < len(names) else rng.choice(names)  # every action at least once
        pairs = gen.request(model.operation_model(name))
        status, body = client.post(pairs)
        if status == 200:
            pool.add_from(body)
        yield pairs, status, body


def fuzz(client: Client, count: int, seed: int, regions: list[str], exclude: frozenset[str] = frozenset(),
         instances: int = 2) -> Result:
    result = Result()
    started = time.perf_counter()
    for pairs, status, body in run(client, count, seed, regions, exclude, instances):
        name = str(pairs[0][1])
        result.requests += 1
        result.actions[name] += 1
        result.statuses[status] += 1
        code_match = CODE_RE.search(body)
        code = code_match.group(1).decode(errors="replace") if code_match else ""
        if status != 200:
            result.codes[code] += 1
        if status >= 500:
            result.server_errors.append(f"{name} -> {code}")
            result.samples.setdefault(f"{name} -> {code}", pairs)
        try:
            fromstring(body)
        except ParseError as e:
            result.invalid_xml.append(f"{name}: {e}")
    result.seconds = time.perf_counter() - started
    return result
