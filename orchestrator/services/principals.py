"""Who signed a request, and what that caller may do.

The API resolves every access key to a :class:`Caller` while it checks the signature
(:meth:`Backend.resolve_key`) and asks :func:`permitted` before any handler runs (and before it
answers a DryRun). Two kinds exist today:

* ``root``: the account's own key (``credentials.json``), allowed everything;
* ``instance-identity``: the ``identity-credentials/ec2/security-credentials/ec2-instance`` keys an
  instance reads from its metadata service. On EC2 they identify the instance to AWS services and
  carry no API permissions at all ("instance identity roles" in the EC2 User Guide), so every EC2
  action answers ``403 UnauthorizedOperation`` "You are not authorized to perform this operation.",
  as EC2 does for a caller no policy allows. Their ARN is EC2's
  ``arn:aws:sts::<account>:assumed-role/aws:ec2-instance/<instance-id>``.

IAM users and instance roles (the IAM issue) add kinds here and replace :func:`permitted`'s rule
with a policy evaluation; the rest of the edge stays as it is. Whatever the policies, every caller
may ask STS who it is (``GetCallerIdentity``).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain import errors

ROOT = "root"
INSTANCE_IDENTITY = "instance-identity"


@dataclass(frozen=True)
class Caller:
    kind: str
    account_id: str
    arn: str
    access_key_id: str
    instance_id: str | None = None  # the instance an instance-identity key belongs to


@dataclass(frozen=True)
class ResolvedKey:
    """An access key the backend knows: the secret to check the signature with, and its caller."""

    secret: str
    caller: Caller


def root(account_id: str, access_key_id: str) -> Caller:
    return Caller(ROOT, account_id, f"arn:aws:iam::{account_id}:root", access_key_id)


def instance_identity(account_id: str, access_key_id: str, instance_id: str) -> Caller:
    return Caller(INSTANCE_IDENTITY, account_id,
                  f"arn:aws:sts::{account_id}:assumed-role/aws:ec2-instance/{instance_id}",
                  access_key_id, instance_id)


# Actions every caller may call whatever its policies say: STS GetCallerIdentity needs no permission
# ("No permissions are required to perform this operation", STS API Reference).
ALWAYS_ALLOWED = frozenset({("sts", "GetCallerIdentity")})


def permitted(caller: Caller, service: str, action: str) -> bool:
    """Whether ``caller`` may call ``action`` of ``service`` (its IAM prefix: ``ec2``, ``sts``, ...).
    The API answers a refusal with its protocol's code (EC2: ``UnauthorizedOperation``)."""
    return caller.kind == ROOT or (service, action) in ALWAYS_ALLOWED


def authorize(caller: Caller, action: str) -> None:
    """Raise EC2's ``UnauthorizedOperation`` unless ``caller`` may call the EC2 action ``action``."""
    if not permitted(caller, "ec2", action):
        raise errors.UnauthorizedOperation()
