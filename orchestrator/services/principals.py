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

* ``iam-user``: an access key of an IAM user (``AKIA...``, ``services/iam``);
* ``assumed-role``: the temporary credentials of an STS ``AssumeRole`` session (``ASIA...`` with
  its session token), ARN ``arn:aws:sts::<account>:assumed-role/<role>/<session>``.

IAM users and assumed roles pass :func:`permitted`: IAM's and STS's services evaluate the caller's
policies themselves, against the resource each action names (``services/iam/access.py``); EC2's,
Cost Explorer's and Price List's requests are evaluated at the API edge, per resource, by
``services/iam/authorize.check`` once the request is parsed. Whatever the policies, every caller
may ask STS who it is (``GetCallerIdentity``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.domain import errors

ROOT = "root"
INSTANCE_IDENTITY = "instance-identity"
IAM_USER = "iam-user"
ASSUMED_ROLE = "assumed-role"


@dataclass(frozen=True)
class Caller:
    kind: str
    account_id: str
    arn: str
    access_key_id: str
    instance_id: str | None = None  # the instance an instance-identity key belongs to
    # iam-user: the user's name and unique id (AIDA...); assumed-role: the role's (AROA...)
    name: str | None = None
    unique_id: str | None = None
    role_arn: str | None = None  # assumed-role: the role's ARN (``arn:aws:iam::...:role/PATH/NAME``)
    session_name: str | None = None
    session_policy: str | None = None  # assumed-role: the session policy document, if any
    session_policy_arns: tuple[str, ...] = ()  # assumed-role: managed session policies
    # the store's (IAM, tags) generations (`Store.generations`) when the key was resolved, for the
    # API edge's policy check of the same request (``services/iam/authorize``); None: not known
    generations: tuple[int, ...] | None = field(default=None, compare=False)

    @property
    def user_id(self) -> str:
        """``aws:userid``: the account for root, the user's id, ``<role id>:<session>`` for a role."""
        if self.kind == IAM_USER and self.unique_id:
            return self.unique_id
        if self.kind == ASSUMED_ROLE and self.unique_id:
            return f"{self.unique_id}:{self.session_name}"
        return self.account_id


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


def iam_user(account_id: str, access_key_id: str, arn: str, name: str, user_id: str,
             generations: tuple[int, ...] | None = None) -> Caller:
    return Caller(IAM_USER, account_id, arn, access_key_id, name=name, unique_id=user_id, generations=generations)


def assumed_role(account_id: str, access_key_id: str, role_arn: str, role_name: str, role_id: str,
                 session_name: str, policy: str | None = None, policy_arns: tuple[str, ...] = (),
                 instance_id: str | None = None) -> Caller:
    return Caller(ASSUMED_ROLE, account_id, f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}",
                  access_key_id, instance_id=instance_id, name=role_name, unique_id=role_id, role_arn=role_arn,
                  session_name=session_name, session_policy=policy, session_policy_arns=policy_arns)


# Actions every caller may call whatever its policies say: STS GetCallerIdentity needs no permission
# ("No permissions are required to perform this operation", STS API Reference).
ALWAYS_ALLOWED = frozenset({("sts", "GetCallerIdentity")})


# Services that evaluate an IAM user's or an assumed role's policies themselves, per resource.
SELF_EVALUATED = frozenset({"iam", "sts"})


def permitted(caller: Caller, service: str, action: str) -> bool:
    """Whether ``caller`` may call ``action`` of ``service`` (its IAM prefix: ``ec2``, ``sts``, ...)
    at all, before its input is looked at. The API answers a refusal with its protocol's code (EC2:
    ``UnauthorizedOperation``). IAM users and assumed roles pass: their policies are evaluated per
    resource afterwards (IAM's and STS's services; ``services/iam/authorize`` for the others)."""
    if caller.kind == ROOT or (service, action) in ALWAYS_ALLOWED:
        return True
    return caller.kind in (IAM_USER, ASSUMED_ROLE)


def authorize(caller: Caller, action: str) -> None:
    """Raise EC2's ``UnauthorizedOperation`` unless ``caller`` may call the EC2 action ``action``
    whatever its resources: root only. Fails closed for IAM users and assumed roles, whose rights
    depend on the resources (``services/iam/authorize.check`` decides those)."""
    if not permitted(caller, "ec2", action) or caller.kind in (IAM_USER, ASSUMED_ROLE):
        raise errors.UnauthorizedOperation()
