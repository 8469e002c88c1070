"""Networks that behave like EC2's, tested with real guests: security groups really block and
open traffic at once, subnets of a VPC route to each other, VPCs are isolated, and instances
are reachable at their public IP / Elastic IP from the public network (never from the host), and a
rule naming a managed prefix list follows the list's entries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, start_command, wait_state
from waiting import until

from orchestrator.imds.listen import connect_in_netns

HTTP = "timeout 3 wget -q -O - http://{ip}:8080/ 2>&1; echo \" rc=$?\""


def reachable(guest, ip: str) -> bool:
    return guest.run(HTTP.format(ip=ip), check=False).rsplit(" rc=", 1)[1].strip() == "0"


def ssh_public(ec2d, ip: str, key, timeout: float = 60) -> str:
    """Log in through the public namespace (where internet clients would come from)."""
    import paramiko

    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = connect_in_netns(f"{ec2d.config.prefix}-public", ip, 22, timeout=3)
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            client.connect(ip, username="ec2-user", pkey=key, sock=sock, timeout=10, banner_timeout=10,
                           look_for_keys=False, allow_agent=False)
            out, _ = start_command(client, "cat /run/ec2d-tiny/instance-id")
            text = out.read().decode().strip()
            client.close()
            return text
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.fixture(scope="module")
def net(ec2d, ec2):
    made = ec2.create_key_pair(KeyName=f"net-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    client_sg = ec2.create_security_group(GroupName=f"client-{uuid.uuid4().hex[:4]}", Description="c",
                                          VpcId=vpc)["GroupId"]
    server_sg = ec2.create_security_group(GroupName=f"server-{uuid.uuid4().hex[:4]}", Description="s",
                                          VpcId=vpc)["GroupId"]
    image = tiny_image(ec2)
    a = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=made["KeyName"],
                          SecurityGroupIds=[client_sg], Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0]
    b = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=made["KeyName"],
                          SecurityGroupIds=[server_sg], Placement={"AvailabilityZone": "us-east-1a"},
                          UserData="#!/bin/sh\nmkdir -p /tmp/www && echo hello > /tmp/www/index.html && "
                                   "busybox httpd -p 8080 -h /tmp/www\n")["Instances"][0]
    ids = [a["InstanceId"], b["InstanceId"]]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    ga = ssh(instance_netns(ec2d, a), a["PrivateIpAddress"], key)
    yield {"a": a, "b": b, "ga": ga, "key": key, "client_sg": client_sg, "server_sg": server_sg, "vpc": vpc,
           "key_name": made["KeyName"], "key_material": made["KeyMaterial"]}
    ga.close()
    ec2.terminate_instances(InstanceIds=ids)
    for iid in ids:
        wait_state(ec2, iid, "terminated", 300)
    for gid in (server_sg, client_sg):
        ec2.delete_security_group(GroupId=gid)


def test_security_group_rules_take_effect_at_once(ec2, net) -> None:
    ga, b_ip = net["ga"], net["b"]["PrivateIpAddress"]
    assert not reachable(ga, b_ip)  # the server's group allows nothing in
    rule = ec2.authorize_security_group_ingress(GroupId=net["server_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": net["client_sg"]}]}])["SecurityGroupRules"][0]
    deadline = time.monotonic() + 300
    while not reachable(ga, b_ip):  # httpd may still be starting on a fresh guest
        assert time.monotonic() < deadline
        time.sleep(1)
    ec2.revoke_security_group_ingress(GroupId=net["server_sg"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
    assert not reachable(ga, b_ip)  # the revoke applied before the API answered
    ec2.authorize_security_group_ingress(GroupId=net["server_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": net["a"]["PrivateIpAddress"] + "/32"}]}])
    assert reachable(ga, b_ip)  # a CIDR rule works too, without restarting anything


def test_subnets_route_to_each_other_and_vpcs_are_isolated(ec2d, ec2, net) -> None:
    ga = net["ga"]
    ec2.authorize_security_group_ingress(GroupId=net["server_sg"], IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "172.31.0.0/16"}]}])
    d = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                          KeyName=net["key_name"], SecurityGroupIds=[net["server_sg"]],
                          Placement={"AvailabilityZone": "us-east-1b"})["Instances"][0]
    assert d["SubnetId"] != net["a"]["SubnetId"]  # zones a and b: two subnets of the default VPC
    ec2.get_waiter("instance_running").wait(InstanceIds=[d["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    deadline = time.monotonic() + 300  # routed by the VPC namespace from one bridge to the other
    while ga.run(f"sudo ping -c 1 -W 2 {d['PrivateIpAddress']} >/dev/null && echo ok", check=False).strip() != "ok":
        assert time.monotonic() < deadline
    ec2.terminate_instances(InstanceIds=[d["InstanceId"]])
    wait_state(ec2, d["InstanceId"], "terminated", 300)
    other = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]  # same CIDR, another network
    sub = ec2.create_subnet(VpcId=other, CidrBlock="172.31.0.0/20", AvailabilityZone="us-east-1a")["Subnet"]
    c = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                          KeyName=net["key_name"], SubnetId=sub["SubnetId"],
                          PrivateIpAddress=net["a"]["PrivateIpAddress"])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[c["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    gc = ssh(instance_netns(ec2d, c), c["PrivateIpAddress"], net["key"])
    # C has A's address in its own VPC: that address is C itself there, and B (same CIDR, other VPC)
    # is out of reach
    assert gc.run("hostname").strip() == "ip-" + c["PrivateIpAddress"].replace(".", "-")
    assert gc.run(f"sudo ping -c 1 -W 2 {net['b']['PrivateIpAddress']} >/dev/null && echo ok",
                  check=False).strip() == ""
    gc.close()
    ec2.terminate_instances(InstanceIds=[c["InstanceId"]])
    wait_state(ec2, c["InstanceId"], "terminated", 300)
    ec2.delete_subnet(SubnetId=sub["SubnetId"])
    ec2.delete_vpc(VpcId=other)


def test_public_ip_and_elastic_ip(ec2d, ec2, net) -> None:
    a, b = (ec2.describe_instances(InstanceIds=[net[k]["InstanceId"]])["Reservations"][0]["Instances"][0]
            for k in ("a", "b"))
    assert b["PublicIpAddress"].startswith("198.1") and b["PublicDnsName"].startswith("ec2-198-1")
    route = subprocess.run(["ip", "route", "get", b["PublicIpAddress"]], capture_output=True, text=True)
    assert route.returncode != 0  # the host has no way to the pool: unreachable, fails closed
    ec2.authorize_security_group_ingress(GroupId=net["server_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=net["client_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert ssh_public(ec2d, b["PublicIpAddress"], net["key"]) == b["InstanceId"]
    eip = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=a["InstanceId"])
    assert ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"] == eip["PublicIp"]
    assert ssh_public(ec2d, eip["PublicIp"], net["key"]) == a["InstanceId"]
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=b["InstanceId"])  # the EIP moves
    assert ssh_public(ec2d, eip["PublicIp"], net["key"]) == b["InstanceId"]
    addr = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert addr["InstanceId"] == b["InstanceId"]
    with pytest.raises(Exception) as info:
        ec2.release_address(AllocationId=eip["AllocationId"])
    assert "InvalidIPAddress.InUse" in str(info.value)
    ec2.disassociate_address(AssociationId=addr["AssociationId"])
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_ec2d_ssh_command(ec2d, ec2, net, tmp_path) -> None:
    """``ec2d ssh`` as a user types it: via the public IP (port 22 is open to 0.0.0.0/0 here)."""
    key = tmp_path / "key.pem"
    key.write_text(net["key_material"])
    key.chmod(0o600)
    b = net["b"]["InstanceId"]
    out = subprocess.run([str(Path(sys.executable).parent / "ec2d"), "--data-dir",
                          str(ec2d.config.data_dir), "ssh", "--prefix", ec2d.config.prefix, b, "-i", str(key),
                          "--", "cat", "/run/ec2d-tiny/instance-id"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert out.stdout.strip() == b, out.stderr


def test_network_interface_hotplug(ec2d, ec2, net) -> None:
    a, ga = net["a"], net["ga"]
    eni = ec2.create_network_interface(SubnetId=a["SubnetId"], Groups=[net["client_sg"]],
                                       SecondaryPrivateIpAddressCount=1)["NetworkInterface"]
    assert eni["Status"] == "available" and len(eni["PrivateIpAddresses"]) == 2
    zone_b = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [net["vpc"]]},
                                           {"Name": "availability-zone", "Values": ["us-east-1b"]}])["Subnets"][0]
    other_zone = ec2.create_network_interface(SubnetId=zone_b["SubnetId"])["NetworkInterface"]
    with pytest.raises(Exception) as info:
        ec2.attach_network_interface(NetworkInterfaceId=other_zone["NetworkInterfaceId"],
                                     InstanceId=a["InstanceId"], DeviceIndex=1)
    assert "InvalidParameterCombination" in str(info.value)
    ec2.delete_network_interface(NetworkInterfaceId=other_zone["NetworkInterfaceId"])
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                              InstanceId=a["InstanceId"], DeviceIndex=1)["AttachmentId"]
    mac = eni["MacAddress"]
    deadline = time.monotonic() + 300
    while mac not in ga.run("ip -o link"):  # hot-plugged into the running guest
        assert time.monotonic() < deadline
        time.sleep(1)
    ifname = next(line.split(":")[1].strip() for line in ga.run("ip -o link").splitlines() if mac in line)
    # DHCP on the new NIC offers the ENI's address (the script only records it: eth0's routes stay)
    ga.run("printf '#!/bin/sh\\n[ -n \"$ip\" ] && echo $ip > /tmp/eth1.ip\\n' > /tmp/record.sh && chmod +x /tmp/record.sh")
    ga.run(f"sudo ip link set {ifname} up; sudo udhcpc -i {ifname} -n -q -t 10 -s /tmp/record.sh >/dev/null 2>&1",
           check=False)
    assert ga.run("cat /tmp/eth1.ip").strip() == eni["PrivateIpAddress"]
    token = ga.run(". /usr/lib/ec2d-tiny/functions; imds_token; printf %s \"$IMDS_TOKEN\"")
    macs = ga.run(f"wget -q -O - --header 'X-aws-ec2-metadata-token: {token}' "
                  "http://169.254.169.254/latest/meta-data/network/interfaces/macs/")
    assert sorted(macs.split()) == sorted([a["NetworkInterfaces"][0]["MacAddress"] + "/", mac + "/"])
    described = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert described["Status"] == "in-use" and described["Attachment"]["InstanceId"] == a["InstanceId"]
    with pytest.raises(Exception) as info:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert "InvalidNetworkInterface.InUse" in str(info.value)
    ec2.detach_network_interface(AttachmentId=attachment)
    deadline = time.monotonic() + 300
    while mac in ga.run("ip -o link"):
        assert time.monotonic() < deadline
        time.sleep(1)
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])


def test_traffic_follows_the_prefix_list(ec2, net) -> None:
    """b's only group lets in TCP 8080 from a managed prefix list, not from a CIDR:
    ModifyManagedPrefixList removing a's address blocks it and adding it back lets it in, each
    before the call answers, without touching the rule."""
    ga, b = net["ga"], net["b"]
    a_cidr, b_ip = net["a"]["PrivateIpAddress"] + "/32", b["PrivateIpAddress"]
    group = ec2.create_security_group(GroupName=f"pls-{uuid.uuid4().hex[:4]}", Description="s",
                                      VpcId=net["vpc"])["GroupId"]
    pl = ec2.create_managed_prefix_list(PrefixListName="clients", AddressFamily="IPv4", MaxEntries=3,
                                        Entries=[{"Cidr": a_cidr}])["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "PrefixListIds": [{"PrefixListId": pl}]}])
    ec2.modify_instance_attribute(InstanceId=b["InstanceId"], Groups=[group])
    try:
        until("a to reach b through the prefix list", lambda: reachable(ga, b_ip), timeout=300, every=1)
        out = ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1, RemoveEntries=[{"Cidr": a_cidr}],
                                             AddEntries=[{"Cidr": "10.99.0.0/16"}])["PrefixList"]
        assert (out["Version"], out["State"]) == (2, "modify-complete")
        assert not reachable(ga, b_ip)  # out of the list: blocked when the call answered
        ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=2, AddEntries=[{"Cidr": a_cidr}])
        assert reachable(ga, b_ip)  # back in: open again, the rule untouched
    finally:
        ec2.modify_instance_attribute(InstanceId=b["InstanceId"], Groups=[net["server_sg"]])
        ec2.delete_security_group(GroupId=group)
        ec2.delete_managed_prefix_list(PrefixListId=pl)
