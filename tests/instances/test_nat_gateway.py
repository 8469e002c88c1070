"""NAT gateways and route tables on a real guest: an instance with no public IP in a private
subnet reaches a listener on the public network through the NAT gateway (seen from there as the
gateway's Elastic IP), nothing on the public side reaches it, the subnet's route table decides at
once (replacing its association cuts and restores the way out, and an instance's own public IP
works only while its subnet routes to the internet gateway), and deleting the gateway leaves a
blackhole route. One guest serves every test."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ec2d_server import tiny_image
from guests import instance_netns, private_key, ssh, wait_state
from waiting import until

from orchestrator.imds.listen import connect_in_netns, open_listener_in_netns

LISTENER = "203.0.113.10"  # an "internet" address held by the public namespace for these tests
PORT = 8080
FETCH = f"timeout 5 wget -q -O - http://{LISTENER}:{PORT}/ 2>/dev/null; echo \" rc=$?\""


class Listener:
    """An HTTP server in the public namespace answering each request with the client's address."""

    def __init__(self, netns: str) -> None:
        self.sock = open_listener_in_netns(netns, LISTENER, PORT)
        self.sock.settimeout(0.5)
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                conn, (peer, _) = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)
                    conn.sendall(f"HTTP/1.0 200 OK\r\nContent-Length: {len(peer)}\r\n\r\n{peer}".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


def fetch(guest: Any) -> str | None:
    """The address the listener saw the guest's request come from (None: no way there)."""
    out, rc = guest.run(FETCH, check=False).rsplit(" rc=", 1)
    return out.strip() if rc.strip() == "0" else None


def public_connect_fails(ec2d: Any, ip: str) -> bool:
    try:
        connect_in_netns(f"{ec2d.config.prefix}-public", ip, 22, timeout=3).close()
    except OSError:
        return True
    return False


@pytest.fixture(scope="module")
def nat_net(ec2d, ec2) -> Iterator[dict[str, Any]]:
    public_ns = f"{ec2d.config.prefix}-public"
    subprocess.run(["ip", "-n", public_ns, "addr", "add", f"{LISTENER}/32", "dev", "lo"], check=True)
    listener = Listener(public_ns)
    made = ec2.create_key_pair(KeyName=f"nat-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    vpc = ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    pub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.88.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    priv = ec2.create_subnet(VpcId=vpc, CidrBlock="10.88.2.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    eip = ec2.allocate_address(Domain="vpc")
    gw = ec2.create_nat_gateway(SubnetId=pub, AllocationId=eip["AllocationId"])["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[gw], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    private_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw)
    assoc = ec2.associate_route_table(RouteTableId=private_rtb, SubnetId=priv)["AssociationId"]
    empty_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]  # the local route only
    sg = ec2.create_security_group(GroupName="nat-ssh", Description="ssh from anywhere", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"], SubnetId=priv, SecurityGroupIds=[sg])["Instances"][0]
    ec2.get_waiter("instance_running").wait(InstanceIds=[inst["InstanceId"]],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    guest = ssh(instance_netns(ec2d, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]))
    net = {"vpc": vpc, "pub": pub, "priv": priv, "igw": igw, "main": main, "eip": eip, "gw": gw,
           "private_rtb": private_rtb, "empty_rtb": empty_rtb, "assoc": assoc, "inst": inst, "guest": guest}
    yield net
    guest.close()
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    wait_state(ec2, inst["InstanceId"], "terminated", 300)
    if ec2.describe_nat_gateways(NatGatewayIds=[gw])["NatGateways"][0]["State"] != "deleted":
        ec2.delete_nat_gateway(NatGatewayId=gw)
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.disassociate_route_table(AssociationId=net["assoc"])
    for rtb in (private_rtb, empty_rtb):
        ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_security_group(GroupId=sg)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    for subnet in (pub, priv):
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_key_pair(KeyName=made["KeyName"])
    listener.close()
    subprocess.run(["ip", "-n", public_ns, "addr", "del", f"{LISTENER}/32", "dev", "lo"], check=False)

def test_private_instance_reaches_out_as_the_nat_gateways_address_and_nothing_reaches_in(ec2d, ec2, nat_net):
    guest, inst, eip = nat_net["guest"], nat_net["inst"], nat_net["eip"]
    assert "PublicIpAddress" not in ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0][
        "Instances"][0]
    until("the listener through the NAT gateway", lambda: fetch(guest) is not None, timeout=120, every=1)
    assert fetch(guest) == eip["PublicIp"]  # source NAT to the gateway's Elastic IP
    assert public_connect_fails(ec2d, inst["PrivateIpAddress"])
    assert public_connect_fails(ec2d, eip["PublicIp"])  # the gateway's address opens nothing inside


def test_replacing_the_association_changes_the_way_out_at_once(ec2d, ec2, nat_net):
    guest, eip = nat_net["guest"], nat_net["eip"]
    until("the listener through the NAT gateway", lambda: fetch(guest) is not None, timeout=120, every=1)
    cut = ec2.replace_route_table_association(AssociationId=nat_net["assoc"], RouteTableId=nat_net["empty_rtb"])
    assert fetch(guest) is None  # no route out: cut before the call answered
    back = ec2.replace_route_table_association(AssociationId=cut["NewAssociationId"],
                                               RouteTableId=nat_net["private_rtb"])
    nat_net["assoc"] = back["NewAssociationId"]
    assert fetch(guest) == eip["PublicIp"]

    # the instance's own public address works only while its subnet routes to the internet gateway
    own = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=own["AllocationId"], InstanceId=nat_net["inst"]["InstanceId"])
    try:
        assert fetch(guest) == eip["PublicIp"]  # still leaves through the NAT gateway
        assert public_connect_fails(ec2d, own["PublicIp"])  # and its address leads nowhere
        to_igw = ec2.replace_route_table_association(AssociationId=nat_net["assoc"], RouteTableId=nat_net["main"])
        assert fetch(guest) == own["PublicIp"]
        assert not public_connect_fails(ec2d, own["PublicIp"])  # reachable while public (SSH open to all)
        back = ec2.replace_route_table_association(AssociationId=to_igw["NewAssociationId"],
                                                   RouteTableId=nat_net["private_rtb"])
        nat_net["assoc"] = back["NewAssociationId"]
        assert public_connect_fails(ec2d, own["PublicIp"])
    finally:
        assoc = ec2.describe_addresses(AllocationIds=[own["AllocationId"]])["Addresses"][0]["AssociationId"]
        ec2.disassociate_address(AssociationId=assoc)
        ec2.release_address(AllocationId=own["AllocationId"])
    assert fetch(guest) == eip["PublicIp"]


def test_deleted_nat_gateway_leaves_a_blackhole(ec2d, ec2, nat_net):
    guest = nat_net["guest"]
    until("the listener through the NAT gateway", lambda: fetch(guest) is not None, timeout=120, every=1)
    ec2.delete_nat_gateway(NatGatewayId=nat_net["gw"])
    assert fetch(guest) is None
    routes = ec2.describe_route_tables(RouteTableIds=[nat_net["private_rtb"]])["RouteTables"][0]["Routes"]
    default = next(r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0")
    assert default["NatGatewayId"] == nat_net["gw"] and default["State"] == "blackhole"
    ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[nat_net["gw"]],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})
