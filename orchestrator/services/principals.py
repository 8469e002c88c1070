"""Who signed a request, and what that caller may do.

The API resolves every access key to a :class:`Caller` while it checks the signature
(:meth:`Backend.resolve_key`) and asks :func:`authorize` before any handler runs. Two kinds exist
today:

* ``root``: the account's own key (``credentials.json``), allowed everything;
* ``instance-identity``: the ``identity-credentials/ec2/security-credentials/ec2-instance`` keys an
  instance reads from its metadata service. On EC2 they identify the instance to AWS services and
  carry no API permissions at all ("instance identity roles" in the EC2 User Guide), so every EC2
  action answers ``403 UnauthorizedOperation`` "You are not authorized to perform this operation.",
  as EC2 does for a caller no policy allows. Their ARN is EC2's
  ``arn:aws:sts::<account>:assumed-role/aws:ec2-instance/<instance-id>``.

IAM users and instance roles (the IAM issue) add kinds here and replace :func:`authorize`'s rule
with a policy evaluation; the rest of the edge stays as it is.
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


def authorize(caller: Caller, action: str) -> None:
    """Raise ``UnauthorizedOperation`` unless ``caller`` may call the EC2 action ``action``."""
    if caller.kind != ROOT:
        raise errors.UnauthorizedOperation()
