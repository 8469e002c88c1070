"""The metadata tree (imds.md §2, §3) built from an `InstanceMetadata`, and path resolution.

A tree is made of `Directory` nodes and leaves. A leaf is `str` (text/plain), `bytes`
(application/octet-stream, only user-data) or a `Lazy` (a callable producing text on each request,
used for credentials that rotate). Nothing that would answer 404 is ever listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .model import CachedCredentials, CredentialsProvider, InstanceMetadata, NetworkInterface

# Served under every one of these and under "latest"; sorted, "latest" last (imds.md §2).
VERSIONS: tuple[str, ...] = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
)
ALL_VERSIONS: frozenset[str] = frozenset((*VERSIONS, "latest"))
VERSION_LISTING = "\n".join((*VERSIONS, "latest"))

TEXT = "text/plain"
OCTETS = "application/octet-stream"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Lazy:
    """A leaf whose text is produced when requested (e.g. rotating credentials)."""

    produce: Callable[[], str]
    # the same text when it is at hand without blocking, else None: tried first, on the server's loop
    peek: Callable[[], str | None] | None = None


Leaf = str | bytes | Lazy


_UNSAFE_IN_ENTRY = frozenset("/\n\r")


def safe_entry(name: str) -> bool:
    """May ``name`` appear as one entry of a listing? Not empty, no "/" (a path separator), no
    line break (a listing is one entry per line), not "." or ".."."""
    return bool(name) and name not in (".", "..") and _UNSAFE_IN_ENTRY.isdisjoint(name)


# EC2 exposes an instance tag in metadata only when its key uses letters, digits and + - = . , _ : @
# (no spaces, no "/"), and is not ".", ".." or "_index" (EC2 user guide, "View tags for your EC2
# instances from within the instance"). Other tags are simply not listed.
_METADATA_TAG_KEY = re.compile(r"[A-Za-z0-9+\-=.,_:@]+")


def metadata_tag_key(key: str) -> bool:
    return bool(_METADATA_TAG_KEY.fullmatch(key)) and key not in (".", "..", "_index")


def key_label(index: int, name: str) -> str:
    """The public-keys listing entry "N=name"; characters that could break the listing (line
    breaks, "/", other control characters) become "_" (the API refuses them in new key names)."""
    clean = "".join("_" if ch == "/" or not ch.isprintable() else ch for ch in name)
    return f"{index}={clean}"


@dataclass(slots=True)
class Directory:
    """A directory. `labels` overrides how a child is listed (public-keys: "0" is listed as
    "0=name"); a label also resolves to its child. `mark_dirs` appends "/" to sub-directories."""

    children: dict[str, Node]
    labels: dict[str, str] = field(default_factory=dict)
    mark_dirs: bool = True
    _listing: str | None = None

    def listing(self) -> str:
        if self._listing is None:
            entries = []
            for name, child in self.children.items():
                label = self.labels.get(name, name)
                if not safe_entry(label) or not safe_entry(name):
                    continue  # never inject lines or path segments (and never list what 404s)
                if self.mark_dirs and isinstance(child, Directory):
                    label += "/"
                entries.append(label)
            self._listing = "\n".join(sorted(entries))
        return self._listing

    def child(self, name: str) -> Node | None:
        if not safe_entry(name):
            return None
        node = self.children.get(name)
        if node is None and self.labels:
            for key, label in self.labels.items():
                if label == name:
                    return self.children[key]
        return node


Node = Directory | Leaf


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 200 or 404
    body: bytes = b""
    content_type: str = TEXT


NOT_FOUND = Answer(404)


def fmt_time(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(TIME_FORMAT)


def _json(data: Mapping[str, Any]) -> str:
    # AWS pretty-prints these documents with two spaces and " : "; any JSON parser is happy.
    return json.dumps(data, indent=2, separators=(",", " : "))


def credentials_json(provider: CredentialsProvider, default_updated: datetime) -> str:
    """The credentials document; a provider answering a ``Code`` other than Success (a role EC2 may
    not assume: ``AssumeRoleUnauthorizedAccess``) gives that code, its message and no keys."""
    return render_credentials(provider(), default_updated)


def cached_credentials_json(cached: CachedCredentials | None) -> str | None:
    """:func:`credentials_json` of what ``cached`` has at hand, None when it has nothing."""
    creds = cached() if cached is not None else None
    return render_credentials(creds, datetime.now(UTC)) if creds is not None else None


def render_credentials(creds: Mapping[str, Any], default_updated: datetime) -> str:
    code = creds.get("Code", "Success")
    if code != "Success":
        return _json({"Code": code, "Message": creds.get("Message", ""),
                      "LastUpdated": fmt_time(creds.get("LastUpdated") or default_updated)})
    return _json(
        {
            "Code": "Success",
            "LastUpdated": fmt_time(creds.get("LastUpdated") or default_updated),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["Token"],
            "Expiration": fmt_time(creds["Expiration"]),
        }
    )


def identity_document(md: InstanceMetadata) -> str:
    return _json(
        {
            "accountId": md.account_id,
            "architecture": md.architecture,
            "availabilityZone": md.availability_zone,
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": md.image_id,
            "instanceId": md.instance_id,
            "instanceType": md.instance_type,
            "kernelId": md.kernel_id,
            "pendingTime": fmt_time(md.launched_at),
            "privateIp": md.private_ip,
            "ramdiskId": md.ramdisk_id,
            "region": md.region,
            "version": "2017-09-30",
        }
    )


def _lines(values: list[str]) -> str:
    """One value per line; a value holding a line break would add lines, so it is left out."""
    return "\n".join(v for v in values if "\n" not in v and "\r" not in v)


def _interface_dir(nic: NetworkInterface) -> Directory:
    children: dict[str, Node] = {
        "device-number": str(nic.device_number),
        "interface-id": nic.interface_id,
        "local-hostname": nic.local_hostname,
        "local-ipv4s": _lines(nic.private_ips),
        "mac": nic.mac,
        "owner-id": nic.owner_id,
        "subnet-id": nic.subnet_id,
        "subnet-ipv4-cidr-block": nic.subnet_cidr or "",
        "vpc-id": nic.vpc_id,
        "vpc-ipv4-cidr-block": nic.vpc_cidrs[0] if nic.vpc_cidrs else "",
        "vpc-ipv4-cidr-blocks": _lines(nic.vpc_cidrs),
    }
    if not nic.vpc_cidrs:
        del children["vpc-ipv4-cidr-block"], children["vpc-ipv4-cidr-blocks"]
    if not nic.private_ips:  # an IPv6-only subnet's interface: nothing of IPv4
        del children["local-ipv4s"], children["subnet-ipv4-cidr-block"]
    for name, values in (("ipv6s", nic.ipv6s), ("subnet-ipv6-cidr-blocks", nic.subnet_ipv6_cidrs),
                         ("vpc-ipv6-cidr-blocks", nic.vpc_ipv6_cidrs)):
        if values:  # as on EC2: present only where the interface, subnet or VPC has IPv6
            children[name] = _lines(values)
    if nic.security_groups:
        children["security-groups"] = _lines(nic.security_groups)
    if nic.security_group_ids:
        children["security-group-ids"] = _lines(nic.security_group_ids)
    if nic.public_ip:
        children["public-ipv4s"] = nic.public_ip
        children["ipv4-associations"] = Directory({nic.public_ip: nic.private_ips[0]})
        if nic.public_hostname:
            children["public-hostname"] = nic.public_hostname
    return Directory(children)


def build_meta_data(md: InstanceMetadata) -> Directory:
    """meta-data/ per imds.md §3."""
    launched = md.launched_at
    children: dict[str, Node] = {
        "ami-id": md.image_id,
        "ami-launch-index": str(md.ami_launch_index),
        "ami-manifest-path": md.ami_manifest_path,
        "events": Directory(
            {"maintenance": Directory({"history": "[]", "scheduled": "[]"})},
        ),
        "hibernation": Directory({"configured": "false"}),
        "hostname": md.local_hostname,
        "instance-action": "none",
        "instance-id": md.instance_id,
        "instance-life-cycle": md.instance_life_cycle,
        "instance-type": md.instance_type,
        "local-hostname": md.local_hostname,
        "local-ipv4": md.private_ip,
        "mac": md.mac,
        "metrics": Directory({"vhostmd": '<?xml version="1.0" encoding="UTF-8"?>'}),
        "network": Directory(
            {
                "interfaces": Directory(
                    {"macs": Directory({nic.mac: _interface_dir(nic) for nic in md.interfaces()})}
                )
            }
        ),
        "placement": Directory(
            {
                "availability-zone": md.availability_zone,
                "availability-zone-id": md.availability_zone_id,
                "region": md.region,
            }
        ),
        "profile": md.profile,
        "reservation-id": md.reservation_id,
        "security-groups": _lines(md.security_groups),
        "services": Directory({"domain": "amazonaws.com", "partition": "aws"}),
    }
    if not md.security_groups:
        del children["security-groups"]
    if md.private_ip is None:  # an IPv6-only subnet's instance: its IPv6 address instead
        del children["local-ipv4"]
        primary = md.interfaces()[0]
        if primary.ipv6s:
            children["ipv6"] = primary.ipv6s[0]
    if md.block_device_mapping:
        children["block-device-mapping"] = Directory(dict(md.block_device_mapping))
    if md.public_ip:
        children["public-ipv4"] = md.public_ip
        if md.public_hostname:
            children["public-hostname"] = md.public_hostname
    if md.public_keys:
        keys: dict[str, Node] = {}
        labels: dict[str, str] = {}
        for index, (name, key) in enumerate(md.public_keys):
            keys[str(index)] = Directory({"openssh-key": key.strip()})
            labels[str(index)] = key_label(index, name)
        # "0=name" entries carry no "/" (cloud-init and CirrOS fetch N/openssh-key themselves).
        children["public-keys"] = Directory(keys, labels=labels, mark_dirs=False)
    role = md.iam_role
    if role is not None:
        arn = role.instance_profile_arn or (f"arn:aws:iam::{md.account_id}:instance-profile/{role.name}")
        info = _json(
            {
                "Code": "Success",
                "LastUpdated": fmt_time(role.last_updated or launched),
                "InstanceProfileArn": arn,
                "InstanceProfileId": role.instance_profile_id,
            }
        )
        provider, cached = role.credentials, role.cached_credentials
        children["iam"] = Directory(
            {
                "info": info,
                "security-credentials": Directory(
                    {role.name: Lazy(lambda: credentials_json(provider, datetime.now(UTC)),
                                     peek=lambda: cached_credentials_json(cached))}
                ),
            }
        )
    if md.identity_credentials is not None:
        ident = md.identity_credentials
        children["identity-credentials"] = Directory(
            {
                "ec2": Directory(
                    {
                        "info": _json(
                            {
                                "Code": "Success",
                                "LastUpdated": fmt_time(launched),
                                "AccountId": md.account_id,
                            }
                        ),
                        "security-credentials": Directory(
                            {"ec2-instance": Lazy(lambda: credentials_json(ident, datetime.now(UTC)))}
                        ),
                    }
                )
            }
        )
    if md.options.instance_metadata_tags == "enabled":
        tags = {k: v for k, v in md.tags.items() if metadata_tag_key(k)}
        children["tags"] = Directory({"instance": Directory(dict(tags))})
    return Directory(children)


def build_tree(md: InstanceMetadata) -> Directory:
    """The per-version root: dynamic, meta-data and (when there is some) user-data."""
    children: dict[str, Node] = {
        "dynamic": Directory({"instance-identity": Directory({"document": identity_document(md)})}),
        "meta-data": build_meta_data(md),
    }
    if md.user_data is not None:
        children["user-data"] = bytes(md.user_data)
    # The version level lists its entries without "/" (as EC2 does).
    return Directory(children, mark_dirs=False)


def _leaf_answer(node: Leaf) -> Answer:
    if isinstance(node, bytes):
        return Answer(200, node, OCTETS)
    if isinstance(node, Lazy):
        return Answer(200, node.produce().encode(), TEXT)
    return Answer(200, node.encode(), TEXT)


def split_path(path: str) -> list[str] | None:
    """'/latest/meta-data/' -> ['latest', 'meta-data']; None when the path can never resolve.

    One trailing "/" is optional; an empty segment anywhere else (a//b, a//) is unknown."""
    if not path.startswith("/"):
        return None
    rest = path[1:]
    if rest.endswith("/"):
        rest = rest[:-1]
    if not rest:
        return []
    parts = rest.split("/")
    if "" in parts:
        return None
    return parts


def locate(tree: Directory | Callable[[], Directory], path: str) -> Answer | Lazy:
    """Answer a data path ('/', '/latest', '/2009-04-04/meta-data/public-keys/0/openssh-key', ...).

    `tree` is the per-version root (or a callable producing it: only called when needed). A `Lazy`
    leaf is returned as it is, for the caller to produce (:func:`produce`): the server does that
    off its event loop (minting a role's credentials writes to the store)."""
    parts = split_path(path)
    if parts is None:
        return NOT_FOUND
    if not parts:
        return Answer(200, VERSION_LISTING.encode(), TEXT)
    if parts[0] not in ALL_VERSIONS:
        return NOT_FOUND
    node: Node | None = tree() if callable(tree) else tree
    for name in parts[1:]:
        if not isinstance(node, Directory):
            return NOT_FOUND
        node = node.child(name)
        if node is None:
            return NOT_FOUND
    if isinstance(node, Directory):
        return Answer(200, node.listing().encode(), TEXT)
    assert node is not None
    return node if isinstance(node, Lazy) else _leaf_answer(node)


def produce(leaf: Lazy) -> Answer:
    """The answer of a `Lazy` leaf (its text, produced now)."""
    return _leaf_answer(leaf)


def peek(leaf: Lazy) -> Answer | None:
    """The answer of a `Lazy` leaf when its text is at hand without blocking, else None."""
    text = leaf.peek() if leaf.peek is not None else None
    return _leaf_answer(text) if text is not None else None


def resolve(tree: Directory | Callable[[], Directory], path: str) -> Answer:
    """:func:`locate`, a `Lazy` leaf produced here."""
    found = locate(tree, path)
    return produce(found) if isinstance(found, Lazy) else found


class TreeCache:
    """Rendered trees per InstanceMetadata object (identity-keyed, bounded)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._entries: dict[int, tuple[InstanceMetadata, Directory]] = {}

    def get(self, md: InstanceMetadata) -> Directory:
        entry = self._entries.get(id(md))
        if entry is not None and entry[0] is md:
            return entry[1]
        tree = build_tree(md)
        if len(self._entries) >= self._max:
            # Drop the oldest half (dicts keep insertion order).
            for key in list(self._entries)[: self._max // 2]:
                del self._entries[key]
        self._entries[id(md)] = (md, tree)
        return tree
