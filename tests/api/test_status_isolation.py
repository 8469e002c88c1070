"""``ec2d status`` reports every host precondition security groups rely on, per VPC namespace, and
the daemon restores the br_netfilter sysctl of a namespace at its next firewall sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.drivers.network import netlink
from orchestrator.status import collect

SYSCTL = "net.bridge.bridge-nf-call-iptables"
EC2D = str(Path(sys.executable).parent / "ec2d")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_status_reports_isolation_preconditions(ec2d, ec2) -> None:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ns = f"{ec2d.config.prefix}-{vpc}"
    report = collect(ec2d.config, probe=False)
    iso = report["isolation"]
    for key in ("br_netfilter", "nft", "bridge-nf-call-iptables in a new namespace",
                "nft conntrack forward chain + bridge table", f"{ns} {SYSCTL}", f"{ns} net.ipv4.ip_forward",
                f"{ns} security groups"):
        assert iso[key].startswith("ok: "), (key, iso.get(key))
    assert not netlink.list_netns(f"{ec2d.config.prefix}-probe")  # the scratch namespace is gone
    netlink.sysctl(ns, SYSCTL, "0")  # as if br_netfilter's setting were lost in this namespace
    try:
        report = collect(ec2d.config, probe=False)
        assert report["isolation"][f"{ns} {SYSCTL}"] == "FAILED: 0 (needs 1)" and report["ok"] is False
        group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                      {"Name": "group-name", "Values": ["default"]}])
        gid = group["SecurityGroups"][0]["GroupId"]
        perm = {"IpProtocol": "tcp", "FromPort": 5999, "ToPort": 5999, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])  # any sync restores it
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[perm])
        assert netlink.read_sysctl(ns, SYSCTL) == "1"
    finally:
        netlink.sysctl(ns, SYSCTL, "1")
    out = subprocess.run([EC2D, "--data-dir", str(ec2d.config.data_dir), "status", "--no-probe", "--json",
                          "--prefix", ec2d.config.prefix], capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    assert report["isolation"][f"{ns} {SYSCTL}"] == "ok: 1 (needs 1)", out.stderr
