"""STS: who the caller of a request is (``GetCallerIdentity``).

The answer is the caller's account, ARN and ``UserId``, the ``aws:userid`` value IAM's policy
variables give each kind of principal: the account id for the root user, ``<role id>:<session
name>`` for an assumed role. An instance's identity credentials are the session ``<instance id>``
of EC2's ``aws:ec2-instance`` role; ec2d names that role with a stable id of IAM's form (``AROA`` and
17 characters) derived from the account, the same on every call and every restart.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from orchestrator.services import principals
from orchestrator.services.principals import Caller

INSTANCE_IDENTITY_ROLE = "aws:ec2-instance"


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str
    user_id: str


def role_id(account_id: str, role_name: str) -> str:
    """A role's unique id: ``AROA`` + 17 base32 characters, stable for (account, role name)."""
    digest = hashlib.sha256(f"{account_id}:{role_name}".encode()).digest()
    return "AROA" + base64.b32encode(digest).decode()[:17]


def caller_identity(caller: Caller) -> CallerIdentity:
    if caller.kind == principals.INSTANCE_IDENTITY and caller.instance_id:
        user_id = f"{role_id(caller.account_id, INSTANCE_IDENTITY_ROLE)}:{caller.instance_id}"
    else:
        user_id = caller.user_id  # root: the account id; a user: AIDA...; a role session: AROA...:session
    return CallerIdentity(account=caller.account_id, arn=caller.arn, user_id=user_id)
