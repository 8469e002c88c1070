"""Interface VPC endpoints from a real guest (debian-12: getent and curl, which trust ec2d's CA as the
image has it baked in, so the endpoint's certificate is checked for every name used) in a subnet
with no way out (no internet gateway, no NAT gateway). (ec2d-tiny cannot be the client: busybox's TLS
sends no signature_algorithms, which OpenSSL 3 servers refuse.)


- with private DNS, ``sts.us-east-1.amazonaws.com`` resolves to the endpoint's ENI address (before
  the endpoint: ec2d's all-services address 169.254.169.250), and a presigned STS GetCallerIdentity
  sent there is answered with the account's identity; the endpoint's own vpce name resolves too;
- without private DNS (an EC2 endpoint), the regional name keeps its old answer while the vpce
  names resolve to the ENI, and a presigned DescribeAvailabilityZones through them is answered;
- the endpoint's security groups filter who reaches it: a group without a rule for the guest
  blocks it, the rule back opens it;
- after DeleteVpcEndpoints the vpce names are gone (NXDOMAIN) and the ENI address answers no more.

Requests are presigned on the host (SigV4 in the query, the account's keys) for the host name the
guest uses, so the guest needs no signer. Only addresses inside the VPC namespace this test's ec2d
creates are contacted.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ec2d_server import RunningEc2d, start_ec2d
from guests import Guest, instance_netns, private_key, published_ami, ssh, wait_state

from orchestrator.images.cache import ImageArtifact, default_cache_dir, ensure_image

REGION = "us-east-1"
STS = f"com.amazonaws.{REGION}.sts"
EC2 = f"com.amazonaws.{REGION}.ec2"
SERVICE_ENDPOINT = "169.254.169.250"


@pytest.fixture(scope="module")
def debian_image() -> ImageArtifact:
    """The cached debian-12 image (built first when missing: ~90 s), before the server starts."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return ensure_image("debian-12", default_cache_dir())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, debian_image: ImageArtifact) -> Iterator[RunningEc2d]:
    running = start_ec2d(tmp_path_factory.mktemp("interface-endpoint"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def net(server: RunningEc2d, debian_image: ImageArtifact) -> Iterator[dict[str, Any]]:
    ec2 = server.client()
    ami = published_ami(ec2, f"debian-12-{debian_image.key[:12]}")
    made = ec2.create_key_pair(KeyName=f"ifep-{uuid.uuid4().hex[:6]}", KeyType="ed25519")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.78.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    sg = ec2.create_security_group(GroupName="ifep-ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    https = ec2.create_security_group(GroupName="ifep-https", Description="https from the VPC", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=https, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.78.0.0/16"}]}])
    closed = ec2.create_security_group(GroupName="ifep-closed", Description="no ingress", VpcId=vpc)["GroupId"]
    inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.small",
                             KeyName=made["KeyName"], SubnetId=subnet["SubnetId"],
                             SecurityGroupIds=[sg])["Instances"][0]
    guest = None
    try:
        started = time.monotonic()
        wait_state(ec2, inst["InstanceId"], "running", 300)

        def running() -> bool:
            found = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
            return bool(found["State"]["Name"] == "running")

        # systemd + cloud-init under TCG: 60-120 s idle, several times that under load (900 s: a backstop)
        guest = ssh(instance_netns(server, inst), inst["PrivateIpAddress"], private_key(made["KeyMaterial"]),
                    user="admin", timeout=900, alive=running)
        print(f"debian-12: RunInstances -> SSH login {time.monotonic() - started:.1f}s")
        yield {"vpc": vpc, "subnet": subnet["SubnetId"], "guest": guest, "https": https, "closed": closed}
    finally:
        if guest is not None:
            guest.close()
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])
        wait_state(ec2, inst["InstanceId"], "terminated", 300)
        for group in (sg, https, closed):
            ec2.delete_security_group(GroupId=group)
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)
        ec2.delete_key_pair(KeyName=made["KeyName"])


def resolve(guest: Guest, name: str) -> list[str]:
    """The IPv4 addresses the VPC's resolver gives the guest for ``name`` ([] for none)."""
    return sorted(set(guest.run(f"getent ahostsv4 {name} | cut -d' ' -f1", check=False).split()))


def presigned(server: RunningEc2d, service: str, operation: str, host: str) -> str:
    client = boto3.client(service, region_name=REGION, endpoint_url=f"https://{host}", **server.credentials)
    return str(client.generate_presigned_url(operation, ExpiresIn=300))


def fetch(guest: Guest, url: str, insecure: bool = False) -> str | None:
    """The body the guest gets over HTTPS, the certificate checked (None: nothing answered, or an
    error status); ``insecure``: for a bare address, which the certificate does not name."""
    flags = "-k " if insecure else ""  # presigned query-API requests are POSTs (botocore signs them so)
    out = guest.run(f"curl -sSf -d '' {flags}--max-time 10 '{url}' 2>/tmp/curl.err; echo \" rc=$?\"", check=False,
                    timeout=30)
    body, rc = out.rsplit(" rc=", 1)
    if rc.strip() != "0":
        print("curl:", rc.strip(), guest.run("cat /tmp/curl.err", check=False))
        return None
    return body


def eni_address(ec2: Any, endpoint: dict[str, Any]) -> str:
    [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])["NetworkInterfaces"]
    assert eni["InterfaceType"] == "vpc_endpoint" and eni["RequesterManaged"] is True
    return str(eni["PrivateIpAddress"])


def test_sts_through_an_endpoint_with_private_dns(server: RunningEc2d, net: dict[str, Any]) -> None:
    ec2, guest = server.client(), net["guest"]
    name = f"sts.{REGION}.amazonaws.com"
    assert resolve(guest, name) == [SERVICE_ENDPOINT]  # before: ec2d's all-services address
    endpoint = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=net["vpc"], ServiceName=STS,
                                       SubnetIds=[net["subnet"]], SecurityGroupIds=[net["https"]])["VpcEndpoint"]
    ip = eni_address(ec2, endpoint)
    assert resolve(guest, name) == [ip]
    vpce_name = endpoint["DnsEntries"][0]["DnsName"]
    assert resolve(guest, vpce_name) == [ip]
    account = server.client("sts").get_caller_identity()["Account"]
    for host in (name, vpce_name, ip):
        body = fetch(guest, presigned(server, "sts", "get_caller_identity", host), insecure=host == ip)
        assert body is not None and f"<Account>{account}</Account>" in body, (host, body)

    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddSecurityGroupIds=[net["closed"]],
                            RemoveSecurityGroupIds=[net["https"]])
    assert fetch(guest, presigned(server, "sts", "get_caller_identity", name)) is None  # filtered
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddSecurityGroupIds=[net["https"]],
                            RemoveSecurityGroupIds=[net["closed"]])
    assert fetch(guest, presigned(server, "sts", "get_caller_identity", name)) is not None

    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    assert resolve(guest, vpce_name) == []
    assert resolve(guest, name) == [SERVICE_ENDPOINT]
    assert fetch(guest, presigned(server, "sts", "get_caller_identity", ip), insecure=True) is None


def test_ec2_through_its_vpce_names_without_private_dns(server: RunningEc2d, net: dict[str, Any]) -> None:
    ec2, guest = server.client(), net["guest"]
    endpoint = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=net["vpc"], ServiceName=EC2,
                                       SubnetIds=[net["subnet"]], SecurityGroupIds=[net["https"]],
                                       PrivateDnsEnabled=False)["VpcEndpoint"]
    try:
        ip = eni_address(ec2, endpoint)
        assert resolve(guest, f"ec2.{REGION}.amazonaws.com") == [SERVICE_ENDPOINT]
        regional, zonal = endpoint["DnsEntries"][0]["DnsName"], endpoint["DnsEntries"][1]["DnsName"]
        assert resolve(guest, regional) == [ip] and resolve(guest, zonal) == [ip]
        body = fetch(guest, presigned(server, "ec2", "describe_availability_zones", zonal))
        assert body is not None and f"<zoneName>{REGION}a</zoneName>" in body, body
    finally:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
