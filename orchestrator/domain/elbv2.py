"""Elastic Load Balancing v2 facts, pure: ARNs, DNS names, hosted zones, names, health-check
defaults and ranges, attributes.

ARNs are AWS's (``arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/16hex``,
``targetgroup/NAME/16hex``, ``listener/app/LBNAME/LBHEX/16hex``, ``listener-rule/app/LBNAME/LBHEX/
LISTENERHEX/16hex``); the ARN is also the record's id in the store. Defaults and ranges follow
botocore's ``elbv2`` CreateTargetGroup / ModifyTargetGroupAttributes documentation.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

SERVICE = "elasticloadbalancing"
APPLICATION, NETWORK = "application", "network"
TYPE_SHORT = {APPLICATION: "app", NETWORK: "net"}
INTERNET_FACING, INTERNAL = "internet-facing", "internal"
REQUESTER_ID = "amazon-elb"

# Route 53 hosted zones of ELB's DNS names ("Elastic Load Balancing endpoints and quotas"): one column
# for Application (and Classic) Load Balancers, one for Network Load Balancers
ALB_HOSTED_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5", "ca-central-1": "ZQSVJUPU6J1EY", "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8", "eu-west-3": "Z3Q77PNBQS71R4", "eu-central-1": "Z215JYRZR1TBD5",
    "eu-north-1": "Z23TAZ7KSRHP3I", "ap-northeast-1": "Z14GRHDCWA56QT", "ap-northeast-2": "ZWKZPGTI48KDX",
    "ap-south-1": "ZP97RAFLXTNZK", "ap-southeast-1": "Z1LMS91P8CMLE5", "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "sa-east-1": "Z2P70J7HTTTPLU",
}
NLB_HOSTED_ZONES = {
    "us-east-1": "Z26RNL4JYFTOTI", "us-east-2": "ZLMOA37VPKANP", "us-west-1": "Z24FKFUX50B4VW",
    "us-west-2": "Z18D5FSROUN65G", "ca-central-1": "Z2EPGBW3API2WT", "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-west-2": "ZD4D7Y8KGAS4G", "eu-west-3": "Z1CMS0P5QUZ6D5", "eu-central-1": "Z3F0SRJ5LGBH90",
    "eu-north-1": "Z1UDT6IFJ4EJM", "ap-northeast-1": "Z31USIVHYNEOWT", "ap-northeast-2": "ZIBE1TIR4HY56",
    "ap-south-1": "ZVDDRBQ08TROA", "ap-southeast-1": "ZKVM4W9LS7TM", "ap-southeast-2": "ZCT6FZBF4DROD",
    "sa-east-1": "ZTK26PT1VY4CU",
}


def hosted_zone(region: str, lb_type: str) -> str:
    table = NLB_HOSTED_ZONES if lb_type == NETWORK else ALB_HOSTED_ZONES
    return table.get(region, table["us-east-1"])


def new_hex() -> str:
    return secrets.token_hex(8)


def prefix(region: str, account: str) -> str:
    return f"arn:aws:{SERVICE}:{region}:{account}"


def load_balancer_arn(region: str, account: str, lb_type: str, name: str, hexid: str) -> str:
    return f"{prefix(region, account)}:loadbalancer/{TYPE_SHORT[lb_type]}/{name}/{hexid}"


def target_group_arn(region: str, account: str, name: str, hexid: str) -> str:
    return f"{prefix(region, account)}:targetgroup/{name}/{hexid}"


def listener_arn(lb_arn: str, hexid: str) -> str:
    """``...:listener/app/LBNAME/LBHEX/HEX`` from the load balancer's ARN."""
    head, tail = lb_arn.split(":loadbalancer/", 1)
    return f"{head}:listener/{tail}/{hexid}"


def rule_arn(listener: str, hexid: str) -> str:
    head, tail = listener.split(":listener/", 1)
    return f"{head}:listener-rule/{tail}/{hexid}"


_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:([a-z-]+)/.+/[0-9a-f]{16}$")


def is_arn(arn: str, kind: str) -> bool:
    """Whether ``arn`` is a well-formed ELB ARN of ``kind`` (``loadbalancer``, ``targetgroup`` ...)."""
    found = _ARN.match(arn)
    return found is not None and found.group(1) == kind


def lb_hex(lb_arn: str) -> str:
    """The load balancer's 16 hex digits (the last ARN component)."""
    return lb_arn.rsplit("/", 1)[-1]


def lb_resource(lb_arn: str) -> str:
    """``app/NAME/HEX``: how ELB names a load balancer in ENI descriptions and metrics."""
    return lb_arn.split(":loadbalancer/", 1)[1]


def balancer_name(lb_arn: str) -> str:
    """The proxy's name (driver side): ``lb-`` + the ARN's hex."""
    return "lb-" + lb_hex(lb_arn)


def backend_name(tg_arn: str) -> str:
    return "tg-" + tg_arn.rsplit("/", 1)[-1]


def server_name(target_id: str, port: int) -> str:
    """A target's server name in its backend: ``i-0abc_80`` / ``10-0-1-5_80``."""
    return f"{target_id.replace('.', '-')}_{port}"


def dns_name(name: str, region: str, scheme: str, number: int) -> str:
    """``NAME-1234567890.REGION.elb.amazonaws.com`` (``internal-`` first for an internal one)."""
    head = "internal-" if scheme == INTERNAL else ""
    return f"{head}{name}-{number}.{region}.elb.amazonaws.com"


def new_dns_number() -> int:
    return 1_000_000_000 + secrets.randbelow(999_000_000)


# ---------------------------------------------------------------------------------------------
# names

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def name_problem(name: str, what: str) -> str | None:
    """ELB's sentence for a bad load balancer / target group name, None for a good one."""
    if len(name) > 32:
        return f"{what} name '{name}' cannot be longer than '32' characters"
    if not _NAME.match(name):
        if name.startswith("-") or name.endswith("-"):
            return f"{what} name '{name}' cannot begin or end with '-' character"
        return f"{what} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
    if what == "Load balancer" and name.lower().startswith("internal-"):
        return "Load balancer name cannot start with 'internal-'"
    return None


# ---------------------------------------------------------------------------------------------
# target groups: health checks and attributes


@dataclass(frozen=True)
class Range:
    low: int
    high: int


INTERVAL = Range(5, 300)
TIMEOUT = Range(2, 120)
THRESHOLD = Range(2, 10)
DEREGISTRATION_DELAY = Range(0, 3600)
IDLE_TIMEOUT = Range(1, 4000)


def health_defaults(protocol: str) -> dict[str, object]:
    """CreateTargetGroup's health-check defaults (botocore's documentation): interval 30, healthy 5,
    unhealthy 2 for HTTP and TCP; timeout 6 for HTTP, 10 for TCP; path ``/`` and matcher ``200`` for
    HTTP checks."""
    http = protocol in ("HTTP", "HTTPS")
    out: dict[str, object] = {
        "HealthCheckProtocol": protocol if http else "TCP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 6 if protocol == "HTTP" else 10,
        "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2,
    }
    if http:
        out["HealthCheckPath"] = "/"
        out["Matcher"] = {"HttpCode": "200"}
    return out


TARGET_GROUP_ATTRIBUTES = {
    "deregistration_delay.timeout_seconds": "300",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "load_balancing.algorithm.type": "round_robin",
    "slow_start.duration_seconds": "0",
}
NLB_TARGET_GROUP_ATTRIBUTES = {
    "deregistration_delay.timeout_seconds": "300",
    "deregistration_delay.connection_termination.enabled": "false",
    "stickiness.enabled": "false",
    "stickiness.type": "source_ip",
    "proxy_protocol_v2.enabled": "false",
    "preserve_client_ip.enabled": "true",
}
LOAD_BALANCER_ATTRIBUTES = {
    "deletion_protection.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
}
NLB_LOAD_BALANCER_ATTRIBUTES = {
    "deletion_protection.enabled": "false",
    "load_balancing.cross_zone.enabled": "false",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
}
BOOLEAN_ATTRIBUTES = frozenset({"deletion_protection.enabled", "routing.http2.enabled", "stickiness.enabled",
                                "routing.http.drop_invalid_header_fields.enabled", "access_logs.s3.enabled",
                                "load_balancing.cross_zone.enabled", "proxy_protocol_v2.enabled",
                                "preserve_client_ip.enabled",
                                "deregistration_delay.connection_termination.enabled"})
INTEGER_ATTRIBUTES = {"idle_timeout.timeout_seconds": IDLE_TIMEOUT,
                      "deregistration_delay.timeout_seconds": DEREGISTRATION_DELAY,
                      "stickiness.lb_cookie.duration_seconds": Range(1, 604800),
                      "slow_start.duration_seconds": Range(0, 900)}


def attribute_problem(key: str, value: str, known: dict[str, str]) -> str | None:
    """ELB's ValidationError/InvalidConfigurationRequest sentence for one attribute, or None."""
    if key not in known:
        return f"Key {key} not valid"
    if key in BOOLEAN_ATTRIBUTES and value not in ("true", "false"):
        return f"'{value}' is not a valid value for '{key}'; valid values are 'true' or 'false'"
    if key in INTEGER_ATTRIBUTES:
        bounds = INTEGER_ATTRIBUTES[key]
        if not value.isdigit() or not bounds.low <= int(value) <= bounds.high:
            return f"'{key}' must be a number between '{bounds.low}' and '{bounds.high}'"
    return None
