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
instance's identity credentials nothing. ec2d has no bucket policies yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.domain import errors
from orchestrator.services.backend import Backend
from orchestrator.services.iam import access
from orchestrator.services.principals import Caller


def authorize_s3(backend: Backend, caller: Caller, action: str, resource_arn: str,
                 context: Mapping[str, str]) -> None:
    """Return if ``caller`` may do ``action`` (``s3:GetObject``) on ``resource_arn``
    (``arn:aws:s3:::bucket/key``); else raise :class:`errors.AccessDenied` (S3 answers it as
    ``403 AccessDenied`` "Access Denied", naming nothing)."""
    if access.allows(backend, caller, action, resource_arn, {**context, "aws:ResourceAccount": backend.account_id}):
        return
    raise errors.AccessDenied(caller.arn, "s3", action.removeprefix("s3:"))
