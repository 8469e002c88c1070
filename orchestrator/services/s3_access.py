"""The S3 authorization hook: may this caller do this S3 action on this resource?

The S3 front (``orchestrator.api.s3.front``) verifies a request's SigV4 with ec2d's own keys
(:meth:`Backend.resolve_key`, so every kind of caller the backend knows works here unchanged), maps
it to its IAM action(s) and resource ARN(s) (:mod:`orchestrator.domain.s3_actions`) and calls
:func:`authorize_s3` for each before anything reaches the engine. The decision is IAM's
(``services/iam/access``): root may do everything; an IAM user or an assumed role (an instance's
role credentials among them) what its identity policies allow, narrowed by its session policies
(explicit Deny > Allow > implicit deny), with the request's condition keys (``aws:SourceIp``,
``aws:SecureTransport``, ``aws:CurrentTime``, ``s3:prefix``, ``s3:delimiter``, ``s3:max-keys``) and
the account as the buckets' owner (``aws:ResourceAccount``: S3 ARNs carry no account); an
instance's identity credentials nothing. ec2d has no bucket policies yet. A request that came
through a gateway VPC endpoint (``endpoint_through``) must also pass the endpoint's policy, with
``aws:SourceVpce`` and ``aws:SourceVpc`` in its context.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.domain import errors
from orchestrator.domain.iam import policy
from orchestrator.domain.records import RTB, SUBNET
from orchestrator.domain.vpc_endpoints import VPC_ENDPOINT, VpcEndpointData
from orchestrator.runtime import service_access
from orchestrator.services import public_ips
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access
from orchestrator.services.principals import Caller
from orchestrator.store.sqlite import Record


def authorize_s3(backend: Backend, caller: Caller, action: str, resource_arn: str,
                 context: Mapping[str, str], endpoint: Record[VpcEndpointData] | None = None) -> None:
    """Return if ``caller`` may do ``action`` (``s3:GetObject``) on ``resource_arn``
    (``arn:aws:s3:::bucket/key``) and, for a request that came through the gateway endpoint
    ``endpoint``, its policy allows it too; else raise :class:`errors.AccessDenied` (S3 answers it
    as ``403 AccessDenied`` "Access Denied", naming nothing)."""
    ctx = {**context, "aws:ResourceAccount": backend.account_id}
    if access.allows(backend, caller, action, resource_arn, ctx) and _endpoint_allows(endpoint, caller, action,
                                                                                     resource_arn, ctx):
        return
    raise errors.AccessDenied(caller.arn, "s3", action.removeprefix("s3:"))


def _endpoint_allows(endpoint: Record[VpcEndpointData] | None, caller: Caller, action: str, resource_arn: str,
                     context: Mapping[str, str]) -> bool:
    """An endpoint policy is a resource policy every request through the endpoint must pass (its
    default allows everything); no endpoint: nothing more to pass."""
    if endpoint is None:
        return True
    try:
        document = policy.parse(endpoint.data["PolicyDocument"], "resource")
    except policy.MalformedPolicy:
        return False  # stored documents were checked; fail closed anyway
    principals = [caller.arn, f"arn:aws:iam::{caller.account_id}:root", *([caller.role_arn] if caller.role_arn else [])]
    request = policy.Request(action, resource_arn, context, {"AWS": principals})
    return policy.evaluate(request, [document]) == policy.Decision.ALLOW


def endpoint_through(backend: Backend, vpc_id: str, source: str, address: str) -> Record[VpcEndpointData] | None:
    """The gateway endpoint a request from ``source`` in ``vpc_id`` to S3's ``address`` came
    through (its subnet's route for the address), or None (through the internet or a NAT)."""
    vpc = backend.store.get(vpc_id)
    if vpc is None:
        return None
    region = vpc.region
    tables = [t for t in backend.store.list(RTB, region) if t.data["VpcId"] == vpc_id]
    subnets = {s.id: s for s in backend.store.list(SUBNET, region) if s.data["VpcId"] == vpc_id}
    live = public_ips.live_targets(backend, region, vpc_id)
    vpce_id = service_access.endpoint_of(tables, subnets, live, list(backend.config.regions), source, address)
    found = backend.store.get(vpce_id) if vpce_id else None
    return found if found is not None and found.type == VPC_ENDPOINT else None
