"""ELBv2's error paths through boto3 against an API-only ec2d: each with the code botocore's
model declares (all 400 sender faults) and ELB's sentence; idempotent creates; pagination; tags."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from elb_api import default_subnets, elb_api, place_instance
from loopback_api import LoopbackApi

UNKNOWN_LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/nope/0123456789abcdef"
UNKNOWN_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef"
UNKNOWN_LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/nope/0123456789abcdef/0123456789abcdef"
UNKNOWN_RULE = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/nope/0123456789abcdef/"
                "0123456789abcdef/0123456789abcdef")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackApi]:
    with elb_api(tmp_path_factory.mktemp("elb-errors")) as running:
        yield running


@pytest.fixture(scope="module")
def env(api: LoopbackApi) -> dict[str, Any]:
    """One ALB with an HTTP listener forwarding to one target group (ip targets), in the default VPC."""
    ec2, elb = api.client("ec2"), api.client("elbv2")
    subnets = default_subnets(ec2)
    vpc = subnets[0]["VpcId"]
    lb = elb.create_load_balancer(Name="errs", Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0]
    tg = elb.create_target_group(Name="errs-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])["Listeners"][0]
    return {"ec2": ec2, "elb": elb, "subnets": subnets, "vpc": vpc, "lb": lb["LoadBalancerArn"], "tg": tg_arn,
            "listener": listener["ListenerArn"]}


def refused(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def code(call: Callable[[], Any]) -> str:
    found, status, _ = refused(call)
    assert status == 400
    return found


def test_not_found(env: dict[str, Any]) -> None:
    elb = env["elb"]
    assert code(lambda: elb.describe_load_balancers(LoadBalancerArns=[UNKNOWN_LB])) == "LoadBalancerNotFound"
    assert refused(lambda: elb.describe_load_balancers(Names=["nope"]))[2] == "Load balancers '['nope']' not found"
    assert code(lambda: elb.describe_load_balancer_attributes(LoadBalancerArn=UNKNOWN_LB)) == "LoadBalancerNotFound"
    assert code(lambda: elb.describe_target_groups(Names=["nope"])) == "TargetGroupNotFound"
    assert code(lambda: elb.register_targets(TargetGroupArn=UNKNOWN_TG, Targets=[{"Id": "10.0.0.1"}])) == \
        "TargetGroupNotFound"
    assert code(lambda: elb.describe_target_health(TargetGroupArn=UNKNOWN_TG)) == "TargetGroupNotFound"
    assert code(lambda: elb.describe_listeners(ListenerArns=[UNKNOWN_LISTENER])) == "ListenerNotFound"
    assert code(lambda: elb.delete_listener(ListenerArn=UNKNOWN_LISTENER)) == "ListenerNotFound"
    assert code(lambda: elb.describe_rules(RuleArns=[UNKNOWN_RULE])) == "RuleNotFound"
    assert code(lambda: elb.delete_rule(RuleArn=UNKNOWN_RULE)) == "RuleNotFound"
    assert code(lambda: elb.describe_tags(ResourceArns=[UNKNOWN_TG])) == "TargetGroupNotFound"
    elb.delete_load_balancer(LoadBalancerArn=UNKNOWN_LB)  # ELB: success for one that does not exist
    elb.delete_target_group(TargetGroupArn=UNKNOWN_TG)
    assert code(lambda: elb.delete_load_balancer(LoadBalancerArn="not-an-arn")) == "ValidationError"


def test_create_load_balancer_checks(env: dict[str, Any]) -> None:
    elb, subnets = env["elb"], env["subnets"]
    one = [subnets[0]["SubnetId"]]
    assert refused(lambda: elb.create_load_balancer(Name="one", Subnets=one))[::2] == (
        "ValidationError", "At least two subnets in two different Availability Zones must be specified")
    assert code(lambda: elb.create_load_balancer(Name="bad_name", Subnets=one * 2)) == "ValidationError"
    assert code(lambda: elb.create_load_balancer(Name="-x", Subnets=one)) == "ValidationError"
    assert code(lambda: elb.create_load_balancer(Name="x", Subnets=[one[0], "subnet-0123456789abcdef0"])) == \
        "SubnetNotFound"
    assert code(lambda: elb.create_load_balancer(Name="x", Subnets=[s["SubnetId"] for s in subnets],
                                                 SecurityGroups=["sg-0123456789abcdef0"])) == "InvalidSecurityGroup"
    assert code(lambda: elb.create_load_balancer(Name="net", Type="network", SubnetMappings=[
        {"SubnetId": one[0], "AllocationId": "eipalloc-0123456789abcdef0"}])) == "InvalidConfigurationRequest"
    nlb = elb.create_load_balancer(Name="net", Type="network", SubnetMappings=[{"SubnetId": one[0]}])["LoadBalancers"][0]
    assert nlb["CanonicalHostedZoneId"] == "Z26RNL4JYFTOTI" and "SecurityGroups" not in nlb
    internal = elb.create_load_balancer(Name="inner", Scheme="internal",
                                        Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    assert internal["DNSName"].startswith("internal-inner-")
    # the same name: the same settings answer the same load balancer, others are refused
    again = elb.create_load_balancer(Name="inner", Scheme="internal", Subnets=[s["SubnetId"] for s in subnets[:2]])
    assert again["LoadBalancers"][0]["LoadBalancerArn"] == internal["LoadBalancerArn"]
    assert refused(lambda: elb.create_load_balancer(Name="inner", Subnets=[s["SubnetId"] for s in subnets[:2]]))[::2] \
        == ("DuplicateLoadBalancerName", "A load balancer with the same name 'inner' exists, but with different settings")
    for arn in (nlb["LoadBalancerArn"], internal["LoadBalancerArn"]):
        elb.delete_load_balancer(LoadBalancerArn=arn)


def test_subnets_in_one_zone_and_without_gateway(env: dict[str, Any]) -> None:
    ec2, elb = env["ec2"], env["elb"]
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    a2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.2.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.3.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    assert refused(lambda: elb.create_load_balancer(Name="same", Scheme="internal", Subnets=[a, a2]))[::2] == (
        "InvalidConfigurationRequest",
        "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
    assert refused(lambda: elb.create_load_balancer(Name="nogw", Subnets=[a, b]))[::2] == (
        "InvalidSubnet", f"VPC {vpc} has no internet gateway")
    mixed = [a, env["subnets"][1]["SubnetId"]]
    assert code(lambda: elb.create_load_balancer(Name="mixed", Scheme="internal", Subnets=mixed)) == \
        "InvalidConfigurationRequest"


def test_target_group_checks(env: dict[str, Any]) -> None:
    elb, vpc = env["elb"], env["vpc"]
    assert code(lambda: elb.create_target_group(Name="t", Protocol="HTTP", Port=80, VpcId=vpc,
                                                HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5)) == \
        "ValidationError"
    assert code(lambda: elb.create_target_group(Name="t", Protocol="HTTP", Port=80, VpcId=vpc,
                                                HealthyThresholdCount=11)) == "ValidationError"
    assert code(lambda: elb.create_target_group(Name="t", Protocol="HTTP", Port=80, VpcId=vpc,
                                                Matcher={"HttpCode": "600"})) == "InvalidConfigurationRequest"
    assert code(lambda: elb.create_target_group(Name="t", Protocol="HTTP", VpcId=vpc)) == "ValidationError"
    assert code(lambda: elb.create_target_group(Name="t", Protocol="HTTP", Port=80, VpcId=vpc,
                                                HealthCheckEnabled=False)) == "InvalidConfigurationRequest"
    tcp = elb.create_target_group(Name="tcp", Protocol="TCP", Port=80, VpcId=vpc)["TargetGroups"][0]
    assert (tcp["HealthCheckProtocol"], tcp["HealthCheckTimeoutSeconds"], "HealthCheckPath" in tcp) == ("TCP", 10, False)
    assert code(lambda: elb.create_target_group(Name="tcp", Protocol="HTTP", Port=80, VpcId=vpc)) == \
        "DuplicateTargetGroupName"
    same = elb.create_target_group(Name="tcp", Protocol="TCP", Port=80, VpcId=vpc)["TargetGroups"][0]
    assert same["TargetGroupArn"] == tcp["TargetGroupArn"]
    # a TCP group behind an HTTP listener
    assert code(lambda: elb.create_rule(ListenerArn=env["listener"], Priority=99, Conditions=[
        {"Field": "path-pattern", "Values": ["/x"]}], Actions=[
        {"Type": "forward", "TargetGroupArn": tcp["TargetGroupArn"]}])) == "IncompatibleProtocols"
    assert refused(lambda: elb.delete_target_group(TargetGroupArn=env["tg"]))[::2] == (
        "ResourceInUse", f"Target group '{env['tg']}' is currently in use by a listener or a rule")
    assert code(lambda: elb.modify_target_group_attributes(TargetGroupArn=env["tg"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}])) == "InvalidConfigurationRequest"
    elb.delete_target_group(TargetGroupArn=tcp["TargetGroupArn"])


def test_targets(api: LoopbackApi, env: dict[str, Any]) -> None:
    elb, vpc, subnets = env["elb"], env["vpc"], env["subnets"]
    assert code(lambda: elb.register_targets(TargetGroupArn=env["tg"], Targets=[{"Id": "10.99.0.1"}])) == \
        "InvalidTarget"
    assert code(lambda: elb.deregister_targets(TargetGroupArn=env["tg"], Targets=[{"Id": "172.31.0.99"}])) == \
        "InvalidTarget"
    many = [{"Id": f"172.31.{n // 200}.{n % 200 + 10}"} for n in range(1001)]
    assert code(lambda: elb.register_targets(TargetGroupArn=env["tg"], Targets=many)) == "TooManyTargets"
    inst = elb.create_target_group(Name="inst", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    assert code(lambda: elb.register_targets(TargetGroupArn=inst, Targets=[{"Id": "i-0123456789abcdef9"}])) == \
        "InvalidTarget"
    place_instance(api, "i-00000000000000e01", subnets[0], "172.31.0.201", state="pending")
    assert code(lambda: elb.register_targets(TargetGroupArn=inst, Targets=[{"Id": "i-00000000000000e01"}])) == \
        "InvalidTarget"
    other = dict(subnets[0], VpcId="vpc-0123456789abcdef0")
    place_instance(api, "i-00000000000000e02", other, "172.31.0.202")
    assert code(lambda: elb.register_targets(TargetGroupArn=inst, Targets=[{"Id": "i-00000000000000e02"}])) == \
        "InvalidTarget"
    # a stopped instance cannot be registered (running only, as the API reference says); one that
    # stops once registered is unused (Target.InvalidState) while stopped
    place_instance(api, "i-00000000000000e04", subnets[0], "172.31.0.204", state="stopped")
    assert code(lambda: elb.register_targets(TargetGroupArn=inst, Targets=[{"Id": "i-00000000000000e04"}])) == \
        "InvalidTarget"
    place_instance(api, "i-00000000000000e03", subnets[0], "172.31.0.203")
    elb.register_targets(TargetGroupArn=inst, Targets=[{"Id": "i-00000000000000e03"}])
    api.backend.store.transition("i-00000000000000e03", "running", "stopping")
    api.backend.store.transition("i-00000000000000e03", "stopping", "stopped")
    elb.modify_listener(ListenerArn=env["listener"], DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": inst}]}}])
    (desc,) = elb.describe_target_health(TargetGroupArn=inst)["TargetHealthDescriptions"]
    assert desc["TargetHealth"]["State"] == "unused" and desc["TargetHealth"]["Reason"] == "Target.InvalidState"
    assert code(lambda: elb.describe_target_health(TargetGroupArn=inst, Targets=[{"Id": "i-0123456789abcdef9"}])) \
        == "InvalidTarget"
    elb.modify_listener(ListenerArn=env["listener"], DefaultActions=[{"Type": "forward", "TargetGroupArn": env["tg"]}])


def test_listeners_and_rules(env: dict[str, Any]) -> None:
    elb, listener = env["elb"], env["listener"]
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]
    assert code(lambda: elb.create_listener(LoadBalancerArn=env["lb"], Protocol="HTTP", Port=80,
                                            DefaultActions=fixed)) == "DuplicateListener"
    assert code(lambda: elb.create_listener(LoadBalancerArn=env["lb"], Protocol="TCP", Port=81,
                                            DefaultActions=fixed)) == "UnsupportedProtocol"
    rule = elb.create_rule(ListenerArn=listener, Priority=1, Actions=fixed, Conditions=[
        {"Field": "host-header", "Values": ["a.example.com"]}])["Rules"][0]
    two = elb.create_rule(ListenerArn=listener, Priority=2, Actions=fixed, Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/b/*"]}}])["Rules"][0]
    assert two["Conditions"] == [{"Field": "path-pattern", "Values": ["/b/*"], "PathPatternConfig": {"Values": ["/b/*"]}}]
    assert refused(lambda: elb.create_rule(ListenerArn=listener, Priority=1, Actions=fixed, Conditions=[
        {"Field": "path-pattern", "Values": ["/c"]}]))[::2] == ("PriorityInUse", "Priority '1' is currently in use")
    assert code(lambda: elb.set_rule_priorities(RulePriorities=[{"RuleArn": two["RuleArn"], "Priority": 1}])) == \
        "PriorityInUse"
    swapped = elb.set_rule_priorities(RulePriorities=[{"RuleArn": two["RuleArn"], "Priority": 1},
                                                      {"RuleArn": rule["RuleArn"], "Priority": 2}])["Rules"]
    assert sorted((r["RuleArn"], r["Priority"]) for r in swapped) == sorted(
        [(two["RuleArn"], "1"), (rule["RuleArn"], "2")])
    assert code(lambda: elb.create_rule(ListenerArn=listener, Priority=3, Actions=fixed, Conditions=[
        {"Field": "path-pattern", "Values": ["/c"], "PathPatternConfig": {"Values": ["/c"]}}])) == "ValidationError"
    default = elb.describe_rules(ListenerArn=listener)["Rules"][-1]
    assert default["IsDefault"] and default["Priority"] == "default"
    assert code(lambda: elb.delete_rule(RuleArn=default["RuleArn"])) == "OperationNotPermitted"
    # a target group used by one load balancer cannot be used by another
    other = elb.create_load_balancer(Name="other", Scheme="internal",
                                     Subnets=[s["SubnetId"] for s in env["subnets"][:2]])["LoadBalancers"][0]
    assert code(lambda: elb.create_listener(LoadBalancerArn=other["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                            DefaultActions=[{"Type": "forward", "TargetGroupArn": env["tg"]}])) == \
        "TargetGroupAssociationLimit"
    elb.delete_load_balancer(LoadBalancerArn=other["LoadBalancerArn"])
    for r in (rule, two):
        elb.delete_rule(RuleArn=r["RuleArn"])


def test_deletion_protection(env: dict[str, Any]) -> None:
    elb = env["elb"]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=env["lb"])["Attributes"]}
    assert (attrs["idle_timeout.timeout_seconds"], attrs["deletion_protection.enabled"]) == ("60", "false")
    elb.modify_load_balancer_attributes(LoadBalancerArn=env["lb"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    assert code(lambda: elb.delete_load_balancer(LoadBalancerArn=env["lb"])) == "OperationNotPermitted"
    assert code(lambda: elb.modify_load_balancer_attributes(LoadBalancerArn=env["lb"], Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "0"}])) == "InvalidConfigurationRequest"
    elb.modify_load_balancer_attributes(LoadBalancerArn=env["lb"], Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])


def test_tags(env: dict[str, Any]) -> None:
    elb = env["elb"]
    elb.add_tags(ResourceArns=[env["lb"], env["tg"]], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    elb.remove_tags(ResourceArns=[env["lb"]], TagKeys=["a"])
    got = {d["ResourceArn"]: d["Tags"] for d in elb.describe_tags(ResourceArns=[env["lb"], env["tg"]])["TagDescriptions"]}
    assert got == {env["lb"]: [{"Key": "b", "Value": "2"}],
                   env["tg"]: [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}
    assert code(lambda: elb.add_tags(ResourceArns=[env["lb"]], Tags=[{"Key": "k", "Value": "1"},
                                                                     {"Key": "k", "Value": "2"}])) == "DuplicateTagKeys"
    assert code(lambda: elb.add_tags(ResourceArns=[env["lb"]], Tags=[{"Key": f"k{n}"} for n in range(50)])) == \
        "TooManyTags"
    # EC2's DescribeTags does not list ELB's
    assert all(not t["ResourceId"].startswith("arn:") for t in env["ec2"].describe_tags()["Tags"])


def test_pagination(env: dict[str, Any]) -> None:
    elb, vpc = env["elb"], env["vpc"]
    made = [elb.create_target_group(Name=f"page-{n}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
            for n in range(3)]
    first = elb.describe_target_groups(PageSize=2)
    assert len(first["TargetGroups"]) == 2 and first["NextMarker"]
    names, marker = [t["TargetGroupName"] for t in first["TargetGroups"]], first["NextMarker"]
    while marker:
        page = elb.describe_target_groups(PageSize=2, Marker=marker)
        names += [t["TargetGroupName"] for t in page["TargetGroups"]]
        marker = page.get("NextMarker")
    assert names == [t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]]
    pages = elb.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 1})
    assert [t["TargetGroupName"] for p in pages for t in p["TargetGroups"]] == names
    assert {t["TargetGroupName"] for t in made} <= set(names)
    assert code(lambda: elb.describe_target_groups(PageSize=401)) == "ValidationError"
    lbs = elb.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 1})
    assert [lb["LoadBalancerArn"] for p in lbs for lb in p["LoadBalancers"]] == [env["lb"]]
    for t in made:
        elb.delete_target_group(TargetGroupArn=t["TargetGroupArn"])


def test_network_side_dependencies(env: dict[str, Any]) -> None:
    """The load balancer's nodes hold its subnets, its security group and (internet-facing) the
    VPC's gateway, as on EC2: their ENIs and public addresses are dependencies."""
    ec2 = env["ec2"]
    node = next(e for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
                if e.get("RequesterId") == "amazon-elb")
    assert code(lambda: ec2.delete_network_interface(NetworkInterfaceId=node["NetworkInterfaceId"])) == \
        "InvalidNetworkInterface.InUse"
    assert code(lambda: ec2.delete_subnet(SubnetId=node["SubnetId"])) == "DependencyViolation"
    igw = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [env["vpc"]]}])
    igw_id = igw["InternetGateways"][0]["InternetGatewayId"]
    assert code(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=env["vpc"])) == \
        "DependencyViolation"


def test_set_subnets_and_security_groups(api: LoopbackApi, env: dict[str, Any]) -> None:
    ec2, elb, subnets = env["ec2"], env["elb"], env["subnets"]
    lb = elb.create_load_balancer(Name="moving", Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    before = {n["SubnetId"]: n for n in api.backend.store.get(arn).data["Nodes"]}
    zones = elb.set_subnets(LoadBalancerArn=arn, Subnets=[s["SubnetId"] for s in subnets[1:3]])["AvailabilityZones"]
    assert sorted(z["SubnetId"] for z in zones) == sorted(s["SubnetId"] for s in subnets[1:3])
    after = {n["SubnetId"]: n for n in api.backend.store.get(arn).data["Nodes"]}
    assert after[subnets[1]["SubnetId"]] == before[subnets[1]["SubnetId"]]  # a kept node is the same node
    enis = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    assert before[subnets[0]["SubnetId"]]["NetworkInterfaceId"] not in enis
    assert after[subnets[2]["SubnetId"]]["NetworkInterfaceId"] in enis
    assert code(lambda: elb.set_subnets(LoadBalancerArn=arn, Subnets=[subnets[0]["SubnetId"]])) == "ValidationError"
    group = ec2.create_security_group(GroupName="lb-sg", Description="lb", VpcId=env["vpc"])["GroupId"]
    assert elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[group])["SecurityGroupIds"] == [group]
    node_groups = [e["Groups"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
                   if e["NetworkInterfaceId"] in {n["NetworkInterfaceId"] for n in after.values()}]
    assert node_groups == [[{"GroupId": group, "GroupName": "lb-sg"}]] * 2
    assert code(lambda: elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=["sg-0123456789abcdef0"])) == \
        "InvalidSecurityGroup"
    assert code(lambda: ec2.delete_security_group(GroupId=group)) == "DependencyViolation"
    elb.delete_load_balancer(LoadBalancerArn=arn)
    ec2.delete_security_group(GroupId=group)


def test_redirect_and_weighted_forward_actions(api: LoopbackApi, env: dict[str, Any]) -> None:
    """Redirects and forwards to several weighted target groups are stored and shown as ELB shows
    them, reach the proxy's model, and are refused where ELB refuses them."""
    elb = env["elb"]
    tg2 = elb.create_target_group(Name="errs-tg2", Protocol="HTTP", Port=80, VpcId=env["vpc"],
                                  TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(LoadBalancerArn=env["lb"], Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    (shown,) = listener["Listeners"][0]["DefaultActions"]
    assert shown == {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}",
                                                            "Path": "/#{path}", "Query": "#{query}",
                                                            "StatusCode": "HTTP_301"}}
    split = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": env["tg"], "Weight": 20},
                                                                    {"TargetGroupArn": tg2, "Weight": 80}]}}]
    rule = elb.create_rule(ListenerArn=listener["Listeners"][0]["ListenerArn"], Priority=5, Actions=split,
                           Conditions=[{"Field": "path-pattern", "Values": ["/canary/*"]}])["Rules"][0]
    assert [g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [20, 80]
    balancer = next(iter(api.runtime.load_balancers.driver.balancers.values()))  # type: ignore[union-attr]
    ln = next(li for li in balancer.listeners if li.port == 8080)
    assert ln.default.redirect is not None and (ln.default.redirect.protocol, ln.default.redirect.status) == ("HTTPS", 301)
    assert [w for _, w in ln.rules[0].action.weighted] == [20, 80]

    def listener_with(action: dict[str, Any]) -> Callable[[], Any]:
        return lambda: elb.create_listener(LoadBalancerArn=env["lb"], Protocol="HTTP", Port=8081, DefaultActions=[action])

    loop = refused(listener_with({"Type": "redirect", "RedirectConfig": {"Query": "x=1", "StatusCode": "HTTP_302"}}))
    assert loop[0] == "InvalidLoadBalancerAction" and "redirect to itself" in loop[2]
    assert code(listener_with({"Type": "redirect", "RedirectConfig": {"Port": "81", "StatusCode": "HTTP_303"}})) == (
        "ValidationError")
    assert code(listener_with({"Type": "redirect", "RedirectConfig": {"Path": "no-slash", "StatusCode": "HTTP_301"}})) == (
        "ValidationError")
    heavy = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": env["tg"], "Weight": 1000},
                                                                   {"TargetGroupArn": tg2, "Weight": 1}]}}
    assert code(listener_with(heavy)) == "ValidationError"
    both = [split[0], {"Type": "redirect", "RedirectConfig": {"Port": "81", "StatusCode": "HTTP_301"}}]
    assert code(lambda: elb.create_listener(LoadBalancerArn=env["lb"], Protocol="HTTP", Port=8081,
                                            DefaultActions=both)) == "InvalidLoadBalancerAction"
