"""S3 through a gateway VPC endpoint, from a real guest (ec2d-tiny: busybox wget and nc) in a
subnet with no other way out (no internet gateway, no NAT gateway):

- S3's address (``s3.us-east-1.amazonaws.com`` in VPC DNS) is unreachable at first;
- after CreateVpcEndpoint on the subnet's route table the guest reads and writes objects;
- an endpoint policy that denies ``s3:PutObject`` makes the write AccessDenied, reads still work;
- removing the route table from the endpoint cuts S3 off again;
- the sender's security-group egress rules apply (a rule naming the S3 prefix list opens it);
- without an endpoint, a route to an internet gateway opens S3 only to an instance with a public IP.

The guest sends presigned requests (SigV4 in the query, made on the host with the account's
keys and S3's real host name, so the guest needs no signer), over plain HTTP on port 80, which
S3 also answers. Only addresses inside the VPC namespace this test's ec2d creates are contacted.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from ec2d_server import RunningEc2d, start_ec2d, tiny_image
from guests import Guest, instance_netns, private_key, ssh, wait_state

from orchestrator.domain import vpc_endpoints as ved
from orchestrator.imds.listen import connect_in_netns

S3_HOST = "s3.us-east-1.amazonaws.com"
SERVICE = "com.amazonaws.us-east-1.s3"
DENY_PUT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEc2d]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    running = start_ec2d(tmp_path_factory.mktemp("s3-endpoint"), s3=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def net(server: RunningEc2d) -> Iterator[dict[str, Any]]:
    ec2, s3 = server.client(), server.client("s3")
    bucket = f"vpce-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="x", Body=b"hello through the endpoint\n")
    made = ec2.create_key_pair(KeyName=f"vpce-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    sg = ec2.create_security_group(GroupName="vpce-ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    inst = ec2.run_instances(ImageId=tiny_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.nano",
                             KeyName=made["KeyName"], SubnetId=subnet["SubnetId"],
                             SecurityGroupIds=[sg])["Instances"][0]
    guest = None
    try:
        wait_state(ec2, inst["InstanceId"], "running", 300)
        guest = ssh(instance_netns(server, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]))
        yield {"vpc": vpc, "main": main, "bucket": bucket, "guest": guest, "inst": inst, "sg": sg}
    finally:
        if guest is not None:
            guest.close()
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])
        ec2.delete_security_group(GroupId=sg)
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)
        ec2.delete_key_pair(KeyName=made["KeyName"])
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


def presigned(server: RunningEc2d, method: str, bucket: str, key: str) -> str:
    """A presigned URL for S3's real host name (what the guest resolves), plain HTTP."""
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=f"http://{S3_HOST}",
                      config=BotoConfig(s3={"addressing_style": "path"}), **server.credentials)
    return str(s3.generate_presigned_url(method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=300))


def get(server: RunningEc2d, guest: Guest, bucket: str, key: str) -> str | None:
    """The object as the guest reads it (None: S3 is not reachable or refused)."""
    url = presigned(server, "get_object", bucket, key)
    out = guest.run(f"timeout 8 wget -q -O - '{url}' 2>/dev/null; echo \" rc=$?\"", check=False)
    body, rc = out.rsplit(" rc=", 1)
    return body if rc.strip() == "0" else None


def put(server: RunningEc2d, guest: Guest, bucket: str, key: str, body: str) -> str:
    """S3's answer (status line and body) to the guest's PUT, "" when nothing answered."""
    url = presigned(server, "put_object", bucket, key).removeprefix(f"http://{S3_HOST}")
    head = f"PUT %s HTTP/1.1\\r\\nHost: {S3_HOST}\\r\\nContent-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n%s"
    # nc stops at its input's end: the input stays open until the answer came (or 6 s)
    return guest.run(f"{{ printf '{head}' '{url}' '{body}'; sleep 6; }} | timeout 8 nc -w 5 {S3_HOST} 80 2>&1; true",
                     check=False, timeout=30)


def test_s3_resolves_to_its_own_address(net: dict[str, Any]) -> None:
    out = net["guest"].run(f"nslookup {S3_HOST} 2>&1; nslookup {net['bucket']}.{S3_HOST} 2>&1", check=False)
    assert out.count(ved.s3_address("us-east-1")) >= 2, out


def test_gateway_endpoint_opens_s3_and_its_policy_applies(server: RunningEc2d, net: dict[str, Any]) -> None:
    ec2, s3, guest, bucket = server.client(), server.client("s3"), net["guest"], net["bucket"]
    assert get(server, guest, bucket, "x") is None  # no route to S3 at all
    assert "HTTP/1.1" not in put(server, guest, bucket, "early", "x")

    started = time.monotonic()
    endpoint = ec2.create_vpc_endpoint(VpcEndpointType="Gateway", VpcId=net["vpc"], ServiceName=SERVICE,
                                       RouteTableIds=[net["main"]])["VpcEndpoint"]
    assert endpoint["State"] == "available"
    vpce = endpoint["VpcEndpointId"]
    assert get(server, guest, bucket, "x") == "hello through the endpoint\n"  # at once: no wait
    answer = put(server, guest, bucket, "from-guest", "written")
    assert answer.startswith("HTTP/1.1 200"), answer
    assert s3.get_object(Bucket=bucket, Key="from-guest")["Body"].read() == b"written"
    print(f"endpoint open and used in {time.monotonic() - started:.1f} s")

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=json.dumps(DENY_PUT))
    answer = put(server, guest, bucket, "denied", "nope")
    assert answer.startswith("HTTP/1.1 403") and "<Code>AccessDenied</Code>" in answer, answer
    assert "denied" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert get(server, guest, bucket, "x") == "hello through the endpoint\n"
    assert s3.put_object(Bucket=bucket, Key="from-host", Body=b"h")  # the host does not come through it

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, RemoveRouteTableIds=[net["main"]])
    assert get(server, guest, bucket, "x") is None
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[net["main"]], ResetPolicy=True)
    assert put(server, guest, bucket, "again", "ok").startswith("HTTP/1.1 200")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert get(server, guest, bucket, "x") is None


def test_security_group_egress_rules_apply_to_s3(server: RunningEc2d, net: dict[str, Any]) -> None:
    """The sender's security-group egress rules apply to S3's address, as on AWS: with no egress rule
    the endpoint does not help; a rule naming the S3 prefix list opens it again."""
    ec2, guest, bucket, sg = server.client(), net["guest"], net["bucket"], net["sg"]
    vpce = ec2.create_vpc_endpoint(VpcId=net["vpc"], ServiceName=SERVICE,
                                   RouteTableIds=[net["main"]])["VpcEndpoint"]["VpcEndpointId"]
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    to_s3 = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
              "PrefixListIds": [{"PrefixListId": ved.s3_prefix_list_id("us-east-1")}]}]
    try:
        assert get(server, guest, bucket, "x") == "hello through the endpoint\n"
        ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=everything)
        assert get(server, guest, bucket, "x") is None
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=to_s3)
        assert get(server, guest, bucket, "x") == "hello through the endpoint\n"
        ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=to_s3)
    finally:
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=everything)
        ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])


def test_through_the_internet_gateway_only_with_a_public_ip(server: RunningEc2d, net: dict[str, Any]) -> None:
    """Without an endpoint, S3 is on the internet: a route to the internet gateway is not enough, the
    instance needs a public IP too (what the guests of the default VPC have)."""
    ec2, guest, bucket = server.client(), net["guest"], net["bucket"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
    eip = ec2.allocate_address(Domain="vpc")
    try:
        ec2.create_route(RouteTableId=net["main"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        assert get(server, guest, bucket, "x") is None  # no public IP
        assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=net["inst"]["InstanceId"])
        assert get(server, guest, bucket, "x") == "hello through the endpoint\n"
        ec2.disassociate_address(AssociationId=assoc["AssociationId"])
        assert get(server, guest, bucket, "x") is None
    finally:
        ec2.release_address(AllocationId=eip["AllocationId"])
        ec2.delete_route(RouteTableId=net["main"], DestinationCidrBlock="0.0.0.0/0")
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
        ec2.delete_internet_gateway(InternetGatewayId=igw)


def raw_get(netns: str, address: str, port: int, path: str, tls: bool) -> str:
    """An HTTP GET for ``path`` with S3's Host header, sent from inside ``netns``: the answer."""
    sock = connect_in_netns(netns, address, port, timeout=10)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=S3_HOST)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {S3_HOST}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_in_a_vpc_s3_answers_at_its_own_address_only(server: RunningEc2d, net: dict[str, Any]) -> None:
    """169.254.169.250 serves ec2d's other services in every VPC; S3 there is refused (it would skip
    the route tables). From the namespace itself (no subnet, no endpoint) S3's address answers."""
    netns = instance_netns(server, net["inst"])
    path = presigned(server, "get_object", net["bucket"], "x").removeprefix(f"http://{S3_HOST}")
    refused = raw_get(netns, "169.254.169.250", 443, path, tls=True)
    assert refused.startswith("HTTP/1.1 403") and "S3 answers at its own address" in refused, refused
    assert raw_get(netns, ved.s3_address("us-east-1"), 80, path, tls=False).endswith("hello through the endpoint\n")
