"""The metadata tree and path rules (imds.md §2, §3), without HTTP."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from imds_testlib import SSH_KEY, sample, with_role

from orchestrator.imds.model import (
    InstanceMetadata,
    MetadataOptions,
    NetworkInterface,
    default_hostname,
)
from orchestrator.imds.tree import OCTETS, TEXT, VERSIONS, Directory, build_tree, resolve


def get(md: InstanceMetadata, path: str) -> str:
    answer = resolve(build_tree(md), path)
    assert answer.status == 200, path
    return answer.body.decode()


def status(md: InstanceMetadata, path: str) -> int:
    return resolve(build_tree(md), path).status


def crawl(md: InstanceMetadata, prefix: str) -> dict[str, str]:
    """Walk every listed entry like cloud-init does; every listed entry must answer 200."""
    tree = build_tree(md)
    out: dict[str, str] = {}
    listing = resolve(tree, prefix)
    assert listing.status == 200, prefix
    for entry in listing.body.decode().split("\n"):
        if not entry:
            continue
        if entry.endswith("/"):
            out.update(crawl(md, prefix + entry))
        elif "=" in entry and prefix.endswith("public-keys/"):
            out.update(crawl(md, prefix + entry.split("=", 1)[0] + "/"))
        else:
            answer = resolve(tree, prefix + entry)
            assert answer.status == 200, prefix + entry
            out[prefix + entry] = answer.body.decode()
    return out


def test_version_list() -> None:
    body = get(sample(), "/")
    lines = body.split("\n")
    assert lines[-1] == "latest"
    for v in ("2009-04-04", "2016-09-02", "2018-09-24", "2021-03-23"):
        assert v in lines
    assert lines == sorted(lines)
    assert not body.endswith("\n")


def test_latest_listing_and_same_tree_under_every_version() -> None:
    md = sample(user_data=b"#!/bin/sh\necho hi\n")
    assert get(md, "/latest") == "dynamic\nmeta-data\nuser-data"
    assert get(md, "/latest/") == "dynamic\nmeta-data\nuser-data"
    for version in VERSIONS:
        assert get(md, f"/{version}/meta-data/instance-id") == md.instance_id
    assert status(md, "/1999-01-01/meta-data/instance-id") == 404
    # no user-data: not listed, and 404
    plain = sample()
    assert get(plain, "/latest") == "dynamic\nmeta-data"
    assert status(plain, "/latest/user-data") == 404


def test_meta_data_listing_matches_ec2() -> None:
    md = with_role(sample(public_ip="203.0.113.25"))
    listing = get(md, "/latest/meta-data/")
    expected = (
        "ami-id ami-launch-index ami-manifest-path block-device-mapping/ events/ hibernation/ "
        "hostname iam/ instance-action instance-id instance-life-cycle instance-type local-hostname "
        "local-ipv4 mac metrics/ network/ placement/ profile public-hostname public-ipv4 public-keys/ "
        "reservation-id security-groups services/"
    ).split()
    assert listing.split("\n") == expected
    assert listing == get(md, "/latest/meta-data")


def test_entries_that_do_not_apply_are_omitted() -> None:
    md = sample(public_keys=[], block_device_mapping={}, security_groups=[])
    entries = get(md, "/latest/meta-data/").split("\n")
    for absent in (
        "iam/",
        "public-hostname",
        "public-ipv4",
        "public-keys/",
        "block-device-mapping/",
        "tags/",
        "identity-credentials/",
        "security-groups",
    ):
        assert absent not in entries
        assert status(md, "/latest/meta-data/" + absent) == 404


def test_every_listed_entry_resolves() -> None:
    md = with_role(
        sample(
            public_ip="203.0.113.25",
            user_data=b"x",
            tags={"Name": "web-1", "env": "prod"},
            options=MetadataOptions(instance_metadata_tags="enabled"),
            identity_credentials=lambda: {
                "AccessKeyId": "ASIAIDENT",
                "SecretAccessKey": "s",
                "Token": "t",
                "Expiration": "2026-11-26T18:00:00Z",
            },
        )
    )
    leaves = crawl(md, "/latest/meta-data/")
    assert leaves["/latest/meta-data/instance-id"] == md.instance_id
    assert leaves["/latest/meta-data/tags/instance/Name"] == "web-1"
    assert leaves["/latest/meta-data/public-keys/0/openssh-key"] == SSH_KEY
    for path, value in leaves.items():
        assert not value.endswith("\n"), path
    dynamic = crawl(md, "/latest/dynamic/")
    assert set(dynamic) == {"/latest/dynamic/instance-identity/document"}


def test_leaves_and_hostnames() -> None:
    md = sample(public_ip="203.0.113.25")
    m = "/latest/meta-data/"
    assert get(md, m + "ami-id") == "ami-0abcdef1234567890"
    assert get(md, m + "ami-launch-index") == "0"
    assert get(md, m + "instance-type") == "t3.micro"
    assert get(md, m + "local-ipv4") == "10.0.1.23"
    assert get(md, m + "hostname") == "ip-10-0-1-23.ec2.internal"
    assert get(md, m + "local-hostname") == "ip-10-0-1-23.ec2.internal"
    assert default_hostname("10.0.1.23", "eu-west-1") == "ip-10-0-1-23.eu-west-1.compute.internal"
    assert get(md, m + "mac") == "02:ab:cd:00:00:01"
    assert get(md, m + "public-ipv4") == "203.0.113.25"
    assert get(md, m + "public-hostname") == "ec2-203-0-113-25.compute-1.amazonaws.com"
    assert get(md, m + "security-groups") == "web\ndefault"
    assert get(md, m + "reservation-id") == "r-0fedcba9876543210"
    assert get(md, m + "instance-action") == "none"
    assert get(md, m + "instance-life-cycle") == "on-demand"
    assert get(md, m + "profile") == "default-hvm"
    assert get(md, m + "events/maintenance/scheduled") == "[]"
    assert get(md, m + "hibernation/configured") == "false"
    assert get(md, m + "services/domain") == "amazonaws.com"
    assert get(md, m + "services/partition") == "aws"
    assert get(md, m + "placement/") == "availability-zone\navailability-zone-id\nregion"
    assert get(md, m + "placement/availability-zone") == "us-east-1a"
    assert get(md, m + "placement/region") == "us-east-1"


def test_block_device_mapping_lists_only_real_devices() -> None:
    md = sample()
    assert get(md, "/latest/meta-data/block-device-mapping/") == "ami\nebs1\nroot"
    assert get(md, "/latest/meta-data/block-device-mapping/ebs1") == "/dev/sdf"
    assert status(md, "/latest/meta-data/block-device-mapping/ebs2") == 404


def test_public_keys_forms() -> None:
    md = sample(public_keys=[("mykey", SSH_KEY), ("other", "ssh-rsa AAAAB3 other")])
    assert get(md, "/latest/meta-data/public-keys") == "0=mykey\n1=other"
    assert get(md, "/latest/meta-data/public-keys/0") == "openssh-key"
    assert get(md, "/latest/meta-data/public-keys/0/") == "openssh-key"
    assert get(md, "/latest/meta-data/public-keys/0/openssh-key") == SSH_KEY
    assert get(md, "/2009-04-04/meta-data/public-keys/1/openssh-key/") == "ssh-rsa AAAAB3 other"
    assert get(md, "/latest/meta-data/public-keys/0=mykey/openssh-key") == SSH_KEY
    assert status(md, "/latest/meta-data/public-keys/2") == 404


def test_trailing_slash_both_ways_and_unknown_paths() -> None:
    md = sample()
    # botocore asks leaves with a slash, cloud-init directories without
    assert get(md, "/latest/meta-data/placement/availability-zone/") == "us-east-1a"
    assert get(md, "/latest/dynamic/instance-identity") == "document"
    assert get(md, "/latest/dynamic/instance-identity/") == "document"
    assert get(md, "/latest/dynamic") == "instance-identity/"
    for path in (
        "/latest/meta-data/nope",
        "/latest/meta-data/instance-id/x",
        "/latest/meta-data//",
        "/latest//meta-data",
        "/latest/meta-data/instance-id//",
        "/nope",
        "latest",
    ):
        assert status(md, path) == 404, path


def test_network_interfaces() -> None:
    md = sample(public_ip="203.0.113.25")
    mac = "02:ab:cd:00:00:01"
    base = f"/latest/meta-data/network/interfaces/macs/{mac}/"
    assert get(md, "/latest/meta-data/network/") == "interfaces/"
    assert get(md, "/latest/meta-data/network/interfaces/macs") == f"{mac}/"
    listing = get(md, base).split("\n")
    assert listing == [
        "device-number",
        "interface-id",
        "ipv4-associations/",
        "local-hostname",
        "local-ipv4s",
        "mac",
        "owner-id",
        "public-hostname",
        "public-ipv4s",
        "security-group-ids",
        "security-groups",
        "subnet-id",
        "subnet-ipv4-cidr-block",
        "vpc-id",
        "vpc-ipv4-cidr-block",
        "vpc-ipv4-cidr-blocks",
    ]
    assert get(md, base + "device-number") == "0"
    assert get(md, base + "interface-id") == "eni-0123456789abcdef0"
    assert get(md, base + "owner-id") == "123456789012"
    assert get(md, base + "vpc-id") == "vpc-0123456789abcdef0"
    assert get(md, base + "subnet-ipv4-cidr-block") == "10.0.1.0/24"
    assert get(md, base + "security-group-ids") == "sg-0000000000000000a\nsg-0000000000000000b"
    assert get(md, base + "ipv4-associations/203.0.113.25") == "10.0.1.23"
    # without a public IP: no public-* and no ipv4-associations
    private = get(sample(), base).split("\n")
    assert not [e for e in private if e.startswith(("public", "ipv4-assoc"))]


def test_multiple_interfaces_primary_first() -> None:
    primary = sample().interfaces()[0]
    second = NetworkInterface(
        mac="02:AB:CD:00:00:02",
        interface_id="eni-2",
        device_number=1,
        private_ips=["10.0.2.7", "10.0.2.8"],
        local_hostname="ip-10-0-2-7.ec2.internal",
        owner_id="123456789012",
        subnet_id="subnet-2",
        subnet_cidr="10.0.2.0/24",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidrs=["10.0.0.0/16", "10.1.0.0/16"],
    )
    md = sample(network_interfaces=[primary, second])
    macs = get(md, "/latest/meta-data/network/interfaces/macs/")
    assert macs == "02:ab:cd:00:00:01/\n02:ab:cd:00:00:02/"
    base = "/latest/meta-data/network/interfaces/macs/02:ab:cd:00:00:02/"
    assert get(md, base + "local-ipv4s") == "10.0.2.7\n10.0.2.8"
    assert get(md, base + "vpc-ipv4-cidr-blocks") == "10.0.0.0/16\n10.1.0.0/16"
    assert get(md, base + "vpc-ipv4-cidr-block") == "10.0.0.0/16"
    with pytest.raises(ValueError):
        sample(network_interfaces=[second, primary])


def test_iam_role_credentials_botocore_style() -> None:
    md = with_role(sample())
    role = get(md, "/latest/meta-data/iam/security-credentials/")
    assert role == "app-role"  # used verbatim as the role name by botocore
    creds = json.loads(get(md, f"/latest/meta-data/iam/security-credentials/{role}"))
    assert creds == {
        "Code": "Success",
        "LastUpdated": "2026-11-26T12:00:00Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIAEC2DTESTKEY00001",
        "SecretAccessKey": "secret/key+material",
        "Token": "session-token",
        "Expiration": "2026-11-26T18:00:00Z",
    }
    info = json.loads(get(md, "/latest/meta-data/iam/info"))
    assert info["InstanceProfileArn"] == "arn:aws:iam::123456789012:instance-profile/app-role"
    assert info["Code"] == "Success"
    assert get(md, "/latest/meta-data/iam/") == "info\nsecurity-credentials/"


def test_credentials_are_produced_per_request() -> None:
    calls = []

    def provider() -> dict[str, object]:
        calls.append(1)
        return {
            "AccessKeyId": f"ASIA{len(calls)}",
            "SecretAccessKey": "s",
            "Token": "t",
            "Expiration": "2026-11-26T18:00:00Z",
        }

    md = sample(identity_credentials=provider)
    tree = build_tree(md)
    path = "/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance"
    first = json.loads(resolve(tree, path).body)
    second = json.loads(resolve(tree, path).body)
    assert (first["AccessKeyId"], second["AccessKeyId"]) == ("ASIA1", "ASIA2")
    info = json.loads(get(md, "/latest/meta-data/identity-credentials/ec2/info"))
    assert info["AccountId"] == "123456789012"
    assert get(md, "/latest/meta-data/identity-credentials/ec2/") == "info\nsecurity-credentials/"


def test_tags_only_when_enabled() -> None:
    tags = {"Name": "web-1", "env": "prod", "bad/key": "x"}
    disabled = sample(tags=tags)
    assert status(disabled, "/latest/meta-data/tags/instance") == 404
    assert "tags/" not in get(disabled, "/latest/meta-data/").split("\n")
    enabled = replace(disabled, options=MetadataOptions(instance_metadata_tags="enabled"))
    assert "tags/" in get(enabled, "/latest/meta-data/").split("\n")
    assert get(enabled, "/latest/meta-data/tags/") == "instance/"
    assert get(enabled, "/latest/meta-data/tags/instance") == "Name\nenv"
    assert get(enabled, "/latest/meta-data/tags/instance/Name") == "web-1"


def test_identity_document() -> None:
    md = sample()
    doc = json.loads(get(md, "/latest/dynamic/instance-identity/document"))
    assert doc == {
        "accountId": "123456789012",
        "architecture": "x86_64",
        "availabilityZone": "us-east-1a",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": "ami-0abcdef1234567890",
        "instanceId": "i-0123456789abcdef0",
        "instanceType": "t3.micro",
        "kernelId": None,
        "pendingTime": "2026-11-26T12:00:00Z",
        "privateIp": "10.0.1.23",
        "ramdiskId": None,
        "region": "us-east-1",
        "version": "2017-09-30",
    }
    # only the served sibling is listed
    assert get(md, "/latest/dynamic/instance-identity/") == "document"
    assert status(md, "/latest/dynamic/instance-identity/pkcs7") == 404


def test_user_data_is_raw_bytes() -> None:
    data = b"\x00\x01#!/bin/sh\nbinary\xff\n"
    answer = resolve(build_tree(sample(user_data=data)), "/2009-04-04/user-data")
    assert (answer.status, answer.body, answer.content_type) == (200, data, OCTETS)
    answer = resolve(build_tree(sample()), "/latest/meta-data/instance-id")
    assert answer.content_type == TEXT


def test_model_validation() -> None:
    with pytest.raises(ValueError):
        sample(instance_id="x-123")
    for bad in (
        {"http_tokens": "maybe"},
        {"http_endpoint": "on"},
        {"http_put_response_hop_limit": 0},
        {"http_put_response_hop_limit": 65},
        {"instance_metadata_tags": "yes"},
    ):
        with pytest.raises(ValueError):
            MetadataOptions(**bad)  # type: ignore[arg-type]


def test_directory_listing_sorted() -> None:
    d = Directory({"b": "1", "a": Directory({}), "c": "2"})
    assert d.listing() == "a/\nb\nc"


def test_tag_keys_not_allowed_in_metadata_are_not_exposed() -> None:
    tags = {
        "Name": "web-1",
        "a+b-c=d.e,f_g:h@i": "ok",
        "bad/key": "x",
        "with space": "x",
        "line\ninjected": "x",
        "cr\rkey": "x",
        ".": "x",
        "..": "x",
        "_index": "x",
        "ünïcode": "x",
        "tab\tkey": "x",
    }
    md = sample(tags=tags, options=MetadataOptions(instance_metadata_tags="enabled"))
    listing = get(md, "/latest/meta-data/tags/instance")
    assert listing == "Name\na+b-c=d.e,f_g:h@i"
    assert get(md, "/latest/meta-data/tags/instance/a+b-c=d.e,f_g:h@i") == "ok"
    for key in ("with space", "line\ninjected", "_index", "ünïcode"):
        assert status(md, f"/latest/meta-data/tags/instance/{key}") == 404
    # a tag value is a leaf: it may hold anything, and never adds listing entries
    md = sample(tags={"k": "v1\nv2"}, options=MetadataOptions(instance_metadata_tags="enabled"))
    assert get(md, "/latest/meta-data/tags/instance") == "k"
    assert get(md, "/latest/meta-data/tags/instance/k") == "v1\nv2"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("evil\n1=injected", "0=evil_1=injected"),
        ("a/b", "0=a_b"),
        ("cr\rlf", "0=cr_lf"),
        ("nul\x00bell\x07", "0=nul_bell_"),
        ("plain name (ok)", "0=plain name (ok)"),
    ],
)
def test_key_names_never_inject_lines_into_public_keys(name: str, label: str) -> None:
    md = sample(public_keys=[(name, SSH_KEY)])
    assert get(md, "/latest/meta-data/public-keys") == label
    assert get(md, "/latest/meta-data/public-keys/0/openssh-key") == SSH_KEY
    assert get(md, f"/latest/meta-data/public-keys/{label}/openssh-key") == SSH_KEY
    crawled = crawl(md, "/latest/meta-data/")
    assert crawled["/latest/meta-data/public-keys/0/openssh-key"] == SSH_KEY


def test_no_listing_ever_holds_a_newline_or_slash_entry() -> None:
    d = Directory({"ok": "1", "a\nb": "2", "c/d": "3", "sub": Directory({}), "": "4", "..": "5"})
    assert d.listing() == "ok\nsub/"
    assert d.child("a\nb") is None and d.child("c/d") is None
    md = sample(
        public_keys=[("k\n2=x", SSH_KEY)],
        tags={"t\nu": "v", "ok": "v"},
        options=MetadataOptions(instance_metadata_tags="enabled"),
    )
    tree = build_tree(md)

    def walk(node: Directory, path: str) -> None:
        for entry in node.listing().split("\n"):
            assert entry and "\n" not in entry and "\r" not in entry, (path, entry)
            assert "/" not in entry.rstrip("/"), (path, entry)
        for child in node.children.values():
            if isinstance(child, Directory):
                walk(child, path)

    walk(tree, "/")


def test_security_group_names_never_add_lines() -> None:
    md = sample(security_groups=["web", "evil\nadmin", "db"])
    assert get(md, "/latest/meta-data/security-groups") == "web\ndb"
    mac = md.mac
    assert get(md, f"/latest/meta-data/network/interfaces/macs/{mac}/security-groups") == "web\ndb"
