"""A managed prefix list in a security-group rule, with real guests: the server's group lets in
TCP 8080 from a prefix list, not from a CIDR; ModifyManagedPrefixList removing the client's
address blocks it and adding it back lets it in, each before the call answers, without touching
the rule."""

from __future__ import annotations

import time
import uuid

from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state

HTTP = "timeout 3 wget -q -O - http://{ip}:8080/ 2>&1; echo \" rc=$?\""


def reachable(guest, ip: str) -> bool:
    return guest.run(HTTP.format(ip=ip), check=False).rsplit(" rc=", 1)[1].strip() == "0"


def test_traffic_follows_the_prefix_list(ec2d, ec2) -> None:
    made = ec2.create_key_pair(KeyName=f"pl-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    key = private_key(made["KeyMaterial"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    client_sg = ec2.create_security_group(GroupName=f"plc-{uuid.uuid4().hex[:4]}", Description="c",
                                          VpcId=vpc)["GroupId"]
    server_sg = ec2.create_security_group(GroupName=f"pls-{uuid.uuid4().hex[:4]}", Description="s",
                                          VpcId=vpc)["GroupId"]
    image = tiny_image(ec2)
    a = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=made["KeyName"],
                          SecurityGroupIds=[client_sg], Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0]
    b = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano", KeyName=made["KeyName"],
                          SecurityGroupIds=[server_sg], Placement={"AvailabilityZone": "us-east-1a"},
                          UserData="#!/bin/sh\nmkdir -p /tmp/www && echo hello > /tmp/www/index.html && "
                                   "busybox httpd -p 8080 -h /tmp/www\n")["Instances"][0]
    ids = [a["InstanceId"], b["InstanceId"]]
    a_cidr, b_ip = a["PrivateIpAddress"] + "/32", b["PrivateIpAddress"]
    pl = ec2.create_managed_prefix_list(PrefixListName="clients", AddressFamily="IPv4", MaxEntries=3,
                                        Entries=[{"Cidr": a_cidr}])["PrefixList"]["PrefixListId"]
    ga = None
    try:
        ec2.authorize_security_group_ingress(GroupId=server_sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "PrefixListIds": [{"PrefixListId": pl}]}])
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        ga = ssh(instance_netns(ec2d, a), a["PrivateIpAddress"], key)
        deadline = time.monotonic() + 300
        while not reachable(ga, b_ip):  # in the list; httpd may still be starting on a fresh guest
            assert time.monotonic() < deadline
            time.sleep(1)
        out = ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1, RemoveEntries=[{"Cidr": a_cidr}],
                                             AddEntries=[{"Cidr": "10.99.0.0/16"}])["PrefixList"]
        assert (out["Version"], out["State"]) == (2, "modify-complete")
        assert not reachable(ga, b_ip)  # out of the list: blocked when the call answered
        ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=2, AddEntries=[{"Cidr": a_cidr}])
        assert reachable(ga, b_ip)  # back in: open again, the rule untouched
    finally:
        if ga is not None:
            ga.close()
        ec2.terminate_instances(InstanceIds=ids)
        for iid in ids:
            wait_state(ec2, iid, "terminated", 300)
        ec2.revoke_security_group_ingress(GroupId=server_sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "PrefixListIds": [{"PrefixListId": pl}]}])
        ec2.delete_managed_prefix_list(PrefixListId=pl)
        for gid in (server_sg, client_sg):
            ec2.delete_security_group(GroupId=gid)
        ec2.delete_key_pair(KeyName=made["KeyName"])
