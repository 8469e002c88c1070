"""What IAM's and STS's stored records hold (see ``records.py``): IAM entities are global, stored
with region ``IAM_REGION``, and a record's id is the entity's unique id (AIDA..., AROA..., ANPA...).

(No ``from __future__ import annotations``: ``TypedDict`` must see ``NotRequired`` in real annotations.)
"""

from typing import NotRequired, TypedDict


class IamTag(TypedDict):
    Key: str
    Value: str


class IamUserData(TypedDict):
    UserName: str
    Path: str
    Arn: str
    CreateDate: float
    Tags: list[IamTag]
    InlinePolicies: dict[str, str]  # policy name -> JSON document as given
    AttachedPolicies: list[str]  # managed policy ARNs, in attachment order
    PermissionsBoundary: NotRequired[str]


class IamAccessKeyData(TypedDict):
    UserId: str  # the owning user's unique id (AIDA...)
    UserName: str
    Status: str  # Active | Inactive
    CreateDate: float
    SealedSecret: str  # the secret access key, encrypted (services/iam/secrets.py)


class IamRoleData(TypedDict):
    RoleName: str
    Path: str
    Arn: str
    CreateDate: float
    AssumeRolePolicyDocument: str
    Description: str
    MaxSessionDuration: int
    Tags: list[IamTag]
    InlinePolicies: dict[str, str]
    AttachedPolicies: list[str]
    PermissionsBoundary: NotRequired[str]


class IamPolicyVersion(TypedDict):
    VersionId: str
    Document: str
    CreateDate: float


class IamPolicyData(TypedDict):
    PolicyName: str
    Path: str
    Arn: str
    Description: str
    CreateDate: float
    UpdateDate: float
    DefaultVersionId: str
    NextVersion: int  # v<N> of the next CreatePolicyVersion (IAM never reuses a number)
    Versions: list[IamPolicyVersion]
    Tags: list[IamTag]


class IamInstanceProfileData(TypedDict):
    InstanceProfileName: str
    Path: str
    Arn: str
    CreateDate: float
    RoleIds: list[str]  # at most one: the role's unique id (AROA...)
    Tags: list[IamTag]


class StsSessionData(TypedDict):
    """An assumed role's temporary credentials (the record id is the ``ASIA...`` key id)."""

    RoleId: str
    RoleArn: str
    RoleName: str
    SessionName: str
    SealedSecret: str
    TokenHash: str  # SHA-256 of the session token (hex): the token itself is not kept
    Issued: float
    Expiration: float
    SourceArn: str  # who assumed the role
    Policy: str | None  # the session policy document, if one was passed
    PolicyArns: list[str]  # managed session policies
    Owner: NotRequired[str]  # what the session belongs to, when not a caller (an instance id)
