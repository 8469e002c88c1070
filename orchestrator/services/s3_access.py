"""The S3 authorization hook: may this caller do this S3 action on this resource?

The S3 front (``orchestrator.api.s3.front``) verifies a request's SigV4 with ec2d's own keys
(:meth:`Backend.resolve_key`, so every kind of caller the backend knows works here unchanged), maps
it to its IAM action(s) and resource ARN(s) (:mod:`orchestrator.domain.s3_actions`) and calls
:func:`authorize_s3` for each before anything reaches the engine. **This is where the IAM policy
engine plugs in**: replace the body with the policy evaluation (identity policies of the caller,
session policies of an assumed role; explicit Deny > Allow > implicit deny) over ``action``,
``resource_arn`` and ``context`` (condition keys such as ``aws:SourceIp``, ``aws:SecureTransport``,
``aws:CurrentTime``, ``s3:prefix``, ``s3:delimiter``, ``s3:max-keys``). Today: root may do
everything; every other caller is refused (no policy can grant it anything yet).
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.domain import errors
from orchestrator.services import principals
from orchestrator.services.principals import Caller


def authorize_s3(caller: Caller, action: str, resource_arn: str, context: Mapping[str, str]) -> None:
    """Return if ``caller`` may do ``action`` (``s3:GetObject``) on ``resource_arn``
    (``arn:aws:s3:::bucket/key``); else raise :class:`errors.AccessDenied` (S3 answers it as
    ``403 AccessDenied`` "Access Denied", naming nothing)."""
    if caller.kind == principals.ROOT:
        return
    raise errors.AccessDenied(caller.arn, "s3", action.removeprefix("s3:"))
