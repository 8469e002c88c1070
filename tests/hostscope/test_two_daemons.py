"""Two ec2d daemons with different data dirs on one host, neither given a prefix (each derives
its own from its data dir): both launch, reach and terminate instances with the same addresses
(same default VPC, same first public IP) in their own namespaces; restarting or uninstalling one
never touches the other; ``ec2d uninstall`` removes one data dir's host objects (refusing while
its daemon runs), ``--purge`` the data dir too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libvirt
from ec2d_server import RunningEc2d, start_ec2d, tiny_image
from guests import private_key, ssh, wait_state
from hostobjects import host_objects

from orchestrator.hostscope import sweep


def daemon(data_dir: Path) -> RunningEc2d:
    # prefix None: derived from the data dir as for `ec2d serve --data-dir`; generated prefixes of
    # tests start with ec2dt so CI's family sweep finds them after a crash
    return start_ec2d(data_dir, prefix=None, prefix_base="ec2dt")


def uninstall(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "--data-dir", str(data_dir),
                           "uninstall", *extra], capture_output=True, text=True, timeout=300)


def login(server: RunningEc2d, ip: str, key, instance_id: str) -> None:
    guest = ssh(f"{server.config.prefix}-public", ip, key, timeout=300)
    try:
        assert guest.run("cat /run/ec2d-tiny/instance-id").strip() == instance_id
    finally:
        guest.close()


def test_two_data_dirs_are_independent(tmp_path: Path) -> None:
    dir_a, dir_b = tmp_path / "a", tmp_path / "b"
    servers: list[RunningEc2d] = [daemon(dir_a)]
    prefixes: list[str] = [servers[0].config.prefix]
    try:
        servers.append(daemon(dir_b))
        a, b = servers
        pa, pb = a.config.prefix, b.config.prefix
        prefixes.append(pb)
        assert pa != pb and pa.startswith("ec2dt") and pb.startswith("ec2dt")
        assert (dir_a / "host-prefix").read_text().strip() == pa

        launched = {}
        for srv in (a, b):
            ec2 = srv.client()
            made = ec2.create_key_pair(KeyName="scope", KeyType="ed25519")  # same name: separate stores
            ec2.authorize_security_group_ingress(GroupName="default", IpProtocol="tcp", FromPort=22, ToPort=22,
                                                 CidrIp="0.0.0.0/0")
            inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                     KeyName="scope")["Instances"][0]
            launched[srv.config.prefix] = (inst["InstanceId"], private_key(made["KeyMaterial"]))
        running = {}
        for srv in (a, b):
            iid, key = launched[srv.config.prefix]
            running[srv.config.prefix] = inst = wait_state(srv.client(), iid, "running", 300)
            login(srv, inst["PublicIpAddress"], key, iid)
        ra, rb = running[pa], running[pb]
        # the collision of the finding: same pool, same default VPC, yet both work
        assert ra["PublicIpAddress"] == rb["PublicIpAddress"]
        ida, ka = launched[pa]
        idb, kb = launched[pb]
        objs_a = host_objects(pa)
        assert f"{pa}-public" in objs_a.namespaces and objs_a.dnsmasq and objs_a.routes
        assert objs_a.domains == {f"{pa}-{ida}": libvirt.VIR_DOMAIN_RUNNING}

        # A goes away (its guest keeps running); B restarts: its start-up reconcile and sweep of
        # orphan networks leave everything of A alone
        a.stop(sweep=False)
        b.stop(sweep=False)
        b = servers[1] = daemon(dir_b)
        assert b.config.prefix == pb
        assert wait_state(b.client(), idb, "running", 60)
        assert host_objects(pa) == objs_a
        b.client().terminate_instances(InstanceIds=[idb])
        wait_state(b.client(), idb, "terminated", 300)
        assert host_objects(pb).domains == {}
        assert host_objects(pa) == objs_a
        login(a, ra["PublicIpAddress"], ka, ida)  # A's guest, through A's own public namespace

        # uninstall refuses while B serves; after B stops, it removes B's objects and data dir
        refused = uninstall(dir_b, "--purge")
        assert refused.returncode == 1 and "another ec2d serves" in refused.stderr
        assert dir_b.exists()
        b.stop(sweep=False)
        assert not host_objects(pb).empty
        done = uninstall(dir_b, "--purge")
        assert done.returncode == 0, done.stderr
        assert f"prefix {pb}" in done.stdout
        assert host_objects(pb).empty and not dir_b.exists()
        assert host_objects(pa) == objs_a
        login(a, ra["PublicIpAddress"], ka, ida)

        # uninstall of A with its instance running (daemon down): everything of A goes, the data
        # dir stays; restarted, A rebuilds its networks and reports the instance's lost domain
        done = uninstall(dir_a)
        assert done.returncode == 0, done.stderr
        assert host_objects(pa).empty
        assert (dir_a / "state.db").exists()
        a = servers[0] = daemon(dir_a)
        assert a.config.prefix == pa
        stopped = wait_state(a.client(), ida, "stopped", 120)
        assert stopped["StateReason"]["Code"] == "Server.InternalError"
        assert f"{pa}-public" in host_objects(pa).namespaces
        a.client().terminate_instances(InstanceIds=[ida])
        wait_state(a.client(), ida, "terminated", 120)
    finally:
        for srv in servers:
            if srv.thread.is_alive():
                srv.stop(sweep=False)
        for p in prefixes:
            sweep(p)
    for p in prefixes:
        assert host_objects(p).empty
