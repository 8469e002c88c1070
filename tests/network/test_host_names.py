"""The block of /etc/hosts that makes the host resolve internet-facing load balancers' names with
--host-routes (drivers/network/host_names.py): pure edits, the in-place write, the prefixes a
sweep finds. On a scratch file; the real /etc/hosts is written in tests/instances/test_host_routes.py."""

from __future__ import annotations

from pathlib import Path

from orchestrator.drivers.network import host_names

BASE = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"


def test_the_block_is_added_replaced_and_removed_keeping_every_other_line() -> None:
    one = host_names.merged(BASE, "ec2dtab12", {"web-1.us-east-1.elb.amazonaws.com": ["198.18.0.7", "198.18.0.8"]})
    assert one == BASE + ("# ec2d ec2dtab12 begin: managed by ec2d, do not edit\n"
                          "198.18.0.7 web-1.us-east-1.elb.amazonaws.com\n"
                          "198.18.0.8 web-1.us-east-1.elb.amazonaws.com\n"
                          "# ec2d ec2dtab12 end\n")
    two = host_names.merged(one, "ec2dtcd34", {"b-2.us-east-1.elb.amazonaws.com": ["198.18.0.9"]})
    replaced = host_names.merged(two, "ec2dtab12", {"a-3.us-east-1.elb.amazonaws.com": ["198.18.0.10"]})
    assert "web-1" not in replaced and "198.18.0.10 a-3" in replaced and "198.18.0.9 b-2" in replaced
    assert host_names.merged(host_names.merged(replaced, "ec2dtab12", {}), "ec2dtcd34", {}) == BASE
    assert host_names.merged(BASE, "ec2dtab12", {}) == BASE


def test_write_in_place_only_on_change_and_prefixes(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(BASE)
    inode = hosts.stat().st_ino
    names = {"web-1.us-east-1.elb.amazonaws.com": ["198.18.0.7"]}
    assert host_names.write("ec2dtab12", names, hosts) is True
    assert host_names.write("ec2dtab12", names, hosts) is False
    assert hosts.stat().st_ino == inode  # the same file (a bind mount cannot be replaced)
    assert host_names.prefixes(hosts) == {"ec2dtab12"}
    assert host_names.write("ec2dtab12", {}, hosts) is True
    assert hosts.read_text() == BASE and host_names.prefixes(hosts) == set()
    assert host_names.prefixes(tmp_path / "missing") == set()
