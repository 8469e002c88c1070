"""A rule the firewall cannot compile never stops ec2d nor leaves traffic open (issue 9).

Four real guests, two VPCs, each with a client and a server whose group admits the client's group
on port 22 (dropbear's banner is the probe). ec2d is stopped, a corrupt rule (ICMP type 300, as the
API used to accept) is written straight into the store for VPC X's server group, and ec2d is
started again: it must start, VPC Y must work as before, X's server must be cut off (its group
allows nothing, real traffic), and revoking the bad rule through the API heals it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from ec2d_server import start_ec2d, tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state

from orchestrator.hostscope import sweep
from orchestrator.store.sqlite import Store

BAD_RULE_ID = "sgr-0badbadbadbadbad0"


def banner(guest: Guest, ip: str, port: int = 22) -> bool:
    """Does a TCP connection from ``guest`` to ip:port get the SSH banner? (forwarded traffic)"""
    out = guest.run(f"(sleep 3) | timeout 5 nc {ip} {port} 2>/dev/null | head -c 4; echo", check=False)
    return out.startswith("SSH-")


def test_corrupt_rule_fails_closed_daemon_starts_and_heals(tmp_path: Path) -> None:
    first = start_ec2d(tmp_path / "data")
    second = None
    prefix = first.config.prefix
    try:
        ec2 = first.client()
        made = ec2.create_key_pair(KeyName=f"fc-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
        key = private_key(made["KeyMaterial"])
        image = tiny_image(ec2)
        vpc_x = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        vpc_y = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
        subnet_y = ec2.create_subnet(VpcId=vpc_y, CidrBlock="10.61.1.0/24",
                                     AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        lab = {}
        for name, vpc, placement in (("x", vpc_x, {"Placement": {"AvailabilityZone": "us-east-1a"}}),
                                     ("y", vpc_y, {"SubnetId": subnet_y})):
            client = ec2.create_security_group(GroupName=f"client-{name}", Description="c", VpcId=vpc)["GroupId"]
            server = ec2.create_security_group(GroupName=f"server-{name}", Description="s", VpcId=vpc)["GroupId"]
            ec2.authorize_security_group_ingress(GroupId=server, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": client}]}])
            insts = [ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                       KeyName=made["KeyName"], SecurityGroupIds=[sg],
                                       **placement)["Instances"][0] for sg in (client, server)]
            lab[name] = {"server_sg": server, "client": insts[0], "server": insts[1]}
        ids = [lab[n][r]["InstanceId"] for n in "xy" for r in ("client", "server")]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        for n in "xy":
            c = lab[n]["client"]
            lab[n]["guest"] = ssh(instance_netns(first, c), c["PrivateIpAddress"], key, timeout=240)
            ssh(instance_netns(first, lab[n]["server"]), lab[n]["server"]["PrivateIpAddress"], key,
                timeout=240).close()  # the server's dropbear is up
        for n in "xy":
            assert banner(lab[n]["guest"], lab[n]["server"]["PrivateIpAddress"]), n

        first.stop(sweep=False)  # guests and namespaces stay
        store = Store(tmp_path / "data" / "state.db")
        group = store.get(lab["x"]["server_sg"])
        assert group is not None
        group.data["Rules"].append({
            "SecurityGroupRuleId": BAD_RULE_ID, "GroupId": group.id, "IsEgress": False, "IpProtocol": "icmp",
            "FromPort": 300, "ToPort": 0, "CidrIpv4": "10.0.0.0/8", "ReferencedGroupId": None, "Description": None})
        store.update(group)
        store.close()

        second = start_ec2d(tmp_path / "data", prefix=prefix)  # starts although X cannot be compiled
        ec2 = second.client()
        assert ec2.describe_security_groups(GroupIds=[group.id])["SecurityGroups"][0]["GroupId"] == group.id
        x_server, y_server = (lab[n]["server"]["PrivateIpAddress"] for n in "xy")
        assert banner(lab["y"]["guest"], y_server)  # the other VPC works as before
        assert not banner(lab["x"]["guest"], x_server)  # the broken group allows nothing at all
        ec2.revoke_security_group_ingress(GroupId=group.id, SecurityGroupRuleIds=[BAD_RULE_ID])
        assert banner(lab["x"]["guest"], x_server)  # healed as soon as the bad rule is gone
        assert banner(lab["y"]["guest"], y_server)
        for n in "xy":
            lab[n]["guest"].close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 180)
    finally:
        for server in (second, first):
            if server is not None and server.thread.is_alive():
                server.stop(sweep=False)
        sweep(prefix)
