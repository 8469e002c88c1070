"""IAM enforcement for ec2d's own APIs (EC2, Cost Explorer, Price List): the API edge calls
:func:`check` once per request, after parsing and before the handler and before answering DryRun.

* root (and in-process calls) may do everything; an instance's identity credentials never get
  here (`principals.permitted` refuses them everything but GetCallerIdentity, as EC2 does);
* an IAM user or an assumed-role session is evaluated with the policy engine for each resource the
  request names (`ec2_targets`: ``arn:aws:ec2:REGION:ACCOUNT:instance/i-...``, ``volume/*`` for one
  being created ...), or once on ``"*"`` for an action without resource-level permissions (the
  Describe family, every Cost Explorer and Price List action). One refusal refuses the request
  as a whole, as AWS does for StopInstances on [allowed, not allowed].

The context holds the global keys (``aws:SourceIp``, ``aws:CurrentTime``, ``aws:EpochTime``,
``aws:SecureTransport``, ``aws:RequestedRegion``, the principal's keys), ``ec2:Region``, and per
resource its tags (``ec2:ResourceTag/K``), the tags asked for (``aws:RequestTag/K``,
``aws:TagKeys``) and ``ec2:InstanceType``. A create call with TagSpecifications is also checked
for ``ec2:CreateTags`` on each created resource with ``ec2:CreateAction``, as EC2 does.

EC2 refuses with ``UnauthorizedOperation`` whose message carries the encoded authorization failure
message (`auth_messages`), which STS DecodeAuthorizationMessage (:func:`decode_message`) decodes.
Launching with a role needs ``iam:PassRole`` on it (:func:`require_pass_role`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from orchestrator.domain import errors
from orchestrator.domain.iam import compiled, ec2_actions, explain, policy
from orchestrator.services import launch_templates
from orchestrator.services.backend import Backend
from orchestrator.services.iam import (
    access,
    asg_targets,
    auth_messages,
    ec2_targets,
    effective,
    elb_targets,
    entities,
)
from orchestrator.services.principals import ASSUMED_ROLE, IAM_USER, ROOT, Caller

PASS_ROLE = "iam:PassRole"
PASSES_ROLE = ("RunInstances", "AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation")


@dataclass(frozen=True)
class Env:
    """What the edge knows of the request beyond its parameters."""

    region: str
    source_ip: str | None = None
    secure: bool = False


@dataclass(frozen=True)
class Denial:
    """A refused request: the first resource refused, and IAM's sentence for it."""

    action: str  # "ec2:StopInstances"
    resource: str
    message: str  # "User: ... is not authorized to perform: ... Encoded authorization failure message: ..."


# the keys `global_context` gives (lower-cased): a policy set looking at none of them spares it
BASE_KEYS = frozenset({"aws:principalarn", "aws:principalaccount", "aws:userid", "aws:principaltype", "aws:username",
                       "aws:currenttime", "aws:epochtime", "aws:securetransport", "aws:requestedregion",
                       "aws:sourceip"})


@dataclass
class _Evaluation:
    backend: Backend
    caller: Caller
    identity: list[policy.Policy]
    session: list[policy.Policy] | None
    env: Env
    # whether the caller's policies look at a resource's tags / an instance's type (conditions,
    # ``${...}`` variables): each costs a store read per resource
    reads_tags: bool = False
    reads_instance_type: bool = False
    tags_stamp: int | None = None  # the tags generation this request was authenticated at, if known
    # the policies prepared for `allows` (`compiled.PolicySet`) and the context keys they look at:
    # the fast path answers from a context of those keys only, built without a Request
    prepared: compiled.PolicySet | None = None
    keys: frozenset[str] = frozenset()
    reads_base: bool = False  # some of ``keys`` are global keys (`BASE_KEYS`)

    @cached_property
    def base(self) -> dict[str, Any]:
        """The global keys (`global_context`), read when first needed."""
        return global_context(self.backend, self.caller, self.env)

    def _lean(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The request's lower-cased context (as `policy.Request.ctx` builds it) limited to the keys
        the policies look at: what they decide on is the same."""
        keys = self.keys
        if not keys:
            return {}
        source = {**self.base, **extra} if self.reads_base else extra
        out: dict[str, Any] = {}
        for k, v in source.items():
            low = k.lower()
            if low in keys:
                out[low] = v
        return out

    def allows(self, action: str, resource: str, extra: Mapping[str, Any]) -> bool:
        if self.prepared is not None:
            return self.prepared.allows(action, resource, self._lean(extra))
        request = policy.Request(action=action, resource=resource, context={**self.base, **extra})
        return policy.evaluate(request, self.identity, session=self.session) is policy.Decision.ALLOW

    def decide(self, action: str, resource: str, extra: Mapping[str, Any]) -> Denial | None:
        if self.prepared is not None and self.prepared.allows(action, resource, self._lean(extra)):
            return None
        request = policy.Request(action=action, resource=resource, context={**self.base, **extra})
        decision = policy.evaluate(request, self.identity, session=self.session)
        return None if decision is policy.Decision.ALLOW else self._denial(request, decision)

    def _denial(self, request: policy.Request, decision: policy.Decision) -> Denial:
        if decision is policy.Decision.EXPLICIT_DENY:
            reason = "with an explicit deny in an identity-based policy"
        elif self.session is not None and policy.evaluate(request, self.identity) is policy.Decision.ALLOW:
            reason = f"because no session policy allows the {request.action} action"
        else:
            reason = f"because no identity-based policy allows the {request.action} action"
        why = explain.explain(request, self.identity, session=self.session)
        caller = self.caller
        decoded = explain.decoded_message(why, request, principal_id=caller.user_id,
                                          principal_name=caller.name or caller.account_id, principal_arn=caller.arn)
        encoded = auth_messages.encode(self.backend.credentials.secret_access_key, caller.account_id, decoded)
        return Denial(request.action, request.resource,
                      f"User: {caller.arn} is not authorized to perform: {request.action} on resource: "
                      f"{request.resource} {reason}. Encoded authorization failure message: {encoded}")


def global_context(backend: Backend, caller: Caller, env: Env) -> dict[str, Any]:
    now = backend.store.now()
    ctx: dict[str, Any] = {**access.context_of(caller), "aws:CurrentTime": dt.datetime.fromtimestamp(now, dt.UTC),
                           "aws:EpochTime": int(now), "aws:SecureTransport": env.secure,
                           "aws:RequestedRegion": env.region}
    if env.source_ip:
        ctx["aws:SourceIp"] = env.source_ip
    return ctx


def _evaluation(backend: Backend, caller: Caller, env: Env, at_login: bool = False) -> _Evaluation | None:
    """None for a caller that bypasses evaluation (root). ``at_login``: policies and tags as of the
    generations the caller's key was resolved at, earlier in this request (`Caller.generations`)."""
    if caller.kind == ROOT:
        return None
    if caller.kind not in (IAM_USER, ASSUMED_ROLE):
        return _Evaluation(backend, caller, [], None, env)
    stamps = caller.generations if at_login else None
    found = effective.of(backend, caller, stamp=stamps[0] if stamps else None)
    return _Evaluation(backend, caller, found.identity, found.session, env, found.reads_resource_tags,
                       found.reads_instance_type, stamps[1] if stamps else None, found.prepared, found.keys,
                       not found.keys.isdisjoint(BASE_KEYS))


def check(backend: Backend, caller: Caller | None, prefix: str, action: str, args: Mapping[str, Any],
          env: Env) -> Denial | None:
    """None when ``caller`` may make this request of ``prefix`` ("ec2", "ce", "pricing"), else why not."""
    if caller is None or (ev := _evaluation(backend, caller, env, at_login=True)) is None:
        return None
    if prefix == "elasticloadbalancing":  # per resource ARN the request names (``elb_targets``)
        for arn in elb_targets.resources(action, args, env.region, caller.account_id):
            extra = elb_targets.context(backend, action, args, arn) if ev.reads_tags else {}
            if (denied := ev.decide(f"{prefix}:{action}", arn, extra)) is not None:
                return denied
        return None
    if prefix == "autoscaling":  # per group the request names, with its tags (``asg_targets``)
        for arn, extra in asg_targets.resources(backend, action, args, env.region, caller.account_id):
            if (denied := ev.decide(f"{prefix}:{action}", arn, extra)) is not None:
                return denied
        return None
    if prefix != "ec2":
        return ev.decide(f"{prefix}:{action}", "*", {})
    entry = ec2_actions.action(action)
    iam_action = f"ec2:{action}"
    region = {"ec2:Region": env.region}
    if entry is None:  # an action the table lacks: authorized on "*"
        return ev.decide(iam_action, "*", region)
    if action == "RunInstances":  # a launch template's parameters are the launch's, for IAM too
        args = launch_templates.as_authorized(backend, env.region, args)
    # the resources' own keys are read only when a policy looks at them (a store read each);
    # a refusal is explained with all of them
    found = ec2_targets.targets(backend, entry, args, env.region, tags=ev.reads_tags,
                                instance_type=ev.reads_instance_type, tags_stamp=ev.tags_stamp)
    if not found:
        return ev.decide(iam_action, "*", region)
    for i, target in enumerate(found):
        if not ev.allows(iam_action, target.arn, {**region, **target.context}):
            full = ec2_targets.targets(backend, entry, args, env.region)[i]
            return ev.decide(iam_action, full.arn, {**region, **full.context})
    for target in ec2_targets.created_with_tags(found, args):
        extra = {**region, **target.context, "ec2:CreateAction": action}
        if (denied := ev.decide("ec2:CreateTags", target.arn, extra)) is not None:
            return denied
    if action in PASSES_ROLE:
        for role_arn in roles_of_profile(backend, args.get("IamInstanceProfile") or {}):
            if (denied := ev.decide(PASS_ROLE, role_arn, {"iam:PassedToService": "ec2.amazonaws.com"})) is not None:
                return denied
    return None


def roles_of_profile(backend: Backend, spec: Mapping[str, Any]) -> list[str]:
    """The role ARNs of the instance profile an ``IamInstanceProfile`` parameter names ({Arn} or
    {Name}); [] for none or one that does not exist (the handler then says so)."""
    name = spec.get("Name") or (str(spec.get("Arn") or "").rsplit("/", 1)[-1])
    if not name:
        return []
    profile = entities.by_name(backend.store, entities.PROFILE, "InstanceProfileName", name)
    if profile is None or (spec.get("Arn") and spec["Arn"] != profile.data["Arn"]):
        return []
    roles = (backend.store.get(rid, entities.ROLE) for rid in profile.data["RoleIds"])
    return [r.data["Arn"] for r in roles if r is not None]


def require_pass_role(backend: Backend, caller: Caller | None, role_arn: str, env: Env | None = None) -> None:
    """Raise EC2's ``UnauthorizedOperation`` unless ``caller`` may pass ``role_arn`` to EC2
    (``iam:PassRole`` with ``iam:PassedToService`` = ``ec2.amazonaws.com``). None and root: allowed."""
    if caller is None:
        return
    ev = _evaluation(backend, caller, env or Env(region="us-east-1"))
    if ev is None:
        return
    denied = ev.decide(PASS_ROLE, role_arn, {"iam:PassedToService": "ec2.amazonaws.com"})
    if denied is not None:
        raise errors.UnauthorizedOperation(denied.message)


def decode_message(backend: Backend, caller: Caller | None, encoded: str) -> str:
    """STS DecodeAuthorizationMessage: the decoded JSON, for callers allowed
    ``sts:DecodeAuthorizationMessage``."""
    access.require(backend, caller, "sts:DecodeAuthorizationMessage", "*")
    decoded = auth_messages.decode(backend.credentials.secret_access_key, backend.account_id, encoded.strip())
    if decoded is None:
        raise errors.InvalidAuthorizationMessageException()
    return decoded
