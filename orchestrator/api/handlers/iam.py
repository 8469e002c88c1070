"""IAM actions (query protocol, 2010-05-08): users and access keys, roles, inline and managed
policies, instance profiles. Each handler makes one service call (``services/iam``) and shapes its
answer; the services check the caller's own IAM permissions."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services.iam import (
    access_keys,
    attach,
    inline,
    policies,
    policy_versions,
    profiles,
    roles,
    users,
)

IAM = "iam"
Req = dict[str, Any]


# -- users ---------------------------------------------------------------------------------------


@action("CreateUser", service=IAM)
def create_user(ctx: RequestContext, req: Req) -> Req:
    return {"User": users.create(ctx.backend, ctx.caller, req["UserName"], req.get("Path"), req.get("Tags"),
                                 req.get("PermissionsBoundary"))}


@action("GetUser", service=IAM)
def get_user(ctx: RequestContext, req: Req) -> Req:
    return {"User": users.get(ctx.backend, ctx.caller, req.get("UserName"))}


@action("ListUsers", service=IAM)
def list_users(ctx: RequestContext, req: Req) -> Req:
    return users.listing(ctx.backend, ctx.caller, req.get("PathPrefix"), req.get("Marker"), req.get("MaxItems"))


@action("DeleteUser", service=IAM)
def delete_user(ctx: RequestContext, req: Req) -> None:
    users.delete(ctx.backend, ctx.caller, req["UserName"])


@action("TagUser", service=IAM)
def tag_user(ctx: RequestContext, req: Req) -> None:
    users.tag(ctx.backend, ctx.caller, req["UserName"], req["Tags"])


@action("UntagUser", service=IAM)
def untag_user(ctx: RequestContext, req: Req) -> None:
    users.untag(ctx.backend, ctx.caller, req["UserName"], req["TagKeys"])


@action("ListUserTags", service=IAM)
def list_user_tags(ctx: RequestContext, req: Req) -> Req:
    return users.tags(ctx.backend, ctx.caller, req["UserName"], req.get("Marker"), req.get("MaxItems"))


# -- access keys -----------------------------------------------------------------------------------


@action("CreateAccessKey", service=IAM)
def create_access_key(ctx: RequestContext, req: Req) -> Req:
    return {"AccessKey": access_keys.create(ctx.backend, ctx.caller, req.get("UserName"))}


@action("ListAccessKeys", service=IAM)
def list_access_keys(ctx: RequestContext, req: Req) -> Req:
    return access_keys.listing(ctx.backend, ctx.caller, req.get("UserName"), req.get("Marker"), req.get("MaxItems"))


@action("UpdateAccessKey", service=IAM)
def update_access_key(ctx: RequestContext, req: Req) -> None:
    access_keys.update(ctx.backend, ctx.caller, req.get("UserName"), req["AccessKeyId"], req["Status"])


@action("DeleteAccessKey", service=IAM)
def delete_access_key(ctx: RequestContext, req: Req) -> None:
    access_keys.delete(ctx.backend, ctx.caller, req.get("UserName"), req["AccessKeyId"])


# -- roles -----------------------------------------------------------------------------------------


@action("CreateRole", service=IAM)
def create_role(ctx: RequestContext, req: Req) -> Req:
    return {"Role": roles.create(ctx.backend, ctx.caller, req)}


@action("GetRole", service=IAM)
def get_role(ctx: RequestContext, req: Req) -> Req:
    return {"Role": roles.get(ctx.backend, ctx.caller, req["RoleName"])}


@action("ListRoles", service=IAM)
def list_roles(ctx: RequestContext, req: Req) -> Req:
    return roles.listing(ctx.backend, ctx.caller, req.get("PathPrefix"), req.get("Marker"), req.get("MaxItems"))


@action("DeleteRole", service=IAM)
def delete_role(ctx: RequestContext, req: Req) -> None:
    roles.delete(ctx.backend, ctx.caller, req["RoleName"])


@action("UpdateAssumeRolePolicy", service=IAM)
def update_assume_role_policy(ctx: RequestContext, req: Req) -> None:
    roles.update_trust(ctx.backend, ctx.caller, req["RoleName"], req["PolicyDocument"])


@action("UpdateRole", service=IAM)
def update_role(ctx: RequestContext, req: Req) -> Req:
    roles.update(ctx.backend, ctx.caller, req["RoleName"], req.get("Description"), req.get("MaxSessionDuration"))
    return {}


@action("TagRole", service=IAM)
def tag_role(ctx: RequestContext, req: Req) -> None:
    roles.tag(ctx.backend, ctx.caller, req["RoleName"], req["Tags"])


@action("UntagRole", service=IAM)
def untag_role(ctx: RequestContext, req: Req) -> None:
    roles.untag(ctx.backend, ctx.caller, req["RoleName"], req["TagKeys"])


@action("ListRoleTags", service=IAM)
def list_role_tags(ctx: RequestContext, req: Req) -> Req:
    return roles.tags(ctx.backend, ctx.caller, req["RoleName"], req.get("Marker"), req.get("MaxItems"))


# -- inline policies -------------------------------------------------------------------------------


@action("PutRolePolicy", service=IAM)
def put_role_policy(ctx: RequestContext, req: Req) -> None:
    inline.put(ctx.backend, ctx.caller, "role", req["RoleName"], req["PolicyName"], req["PolicyDocument"])


@action("GetRolePolicy", service=IAM)
def get_role_policy(ctx: RequestContext, req: Req) -> Req:
    return inline.get(ctx.backend, ctx.caller, "role", req["RoleName"], req["PolicyName"])


@action("ListRolePolicies", service=IAM)
def list_role_policies(ctx: RequestContext, req: Req) -> Req:
    return inline.listing(ctx.backend, ctx.caller, "role", req["RoleName"], req.get("Marker"), req.get("MaxItems"))


@action("DeleteRolePolicy", service=IAM)
def delete_role_policy(ctx: RequestContext, req: Req) -> None:
    inline.delete(ctx.backend, ctx.caller, "role", req["RoleName"], req["PolicyName"])


@action("PutUserPolicy", service=IAM)
def put_user_policy(ctx: RequestContext, req: Req) -> None:
    inline.put(ctx.backend, ctx.caller, "user", req["UserName"], req["PolicyName"], req["PolicyDocument"])


@action("GetUserPolicy", service=IAM)
def get_user_policy(ctx: RequestContext, req: Req) -> Req:
    return inline.get(ctx.backend, ctx.caller, "user", req["UserName"], req["PolicyName"])


@action("ListUserPolicies", service=IAM)
def list_user_policies(ctx: RequestContext, req: Req) -> Req:
    return inline.listing(ctx.backend, ctx.caller, "user", req["UserName"], req.get("Marker"), req.get("MaxItems"))


@action("DeleteUserPolicy", service=IAM)
def delete_user_policy(ctx: RequestContext, req: Req) -> None:
    inline.delete(ctx.backend, ctx.caller, "user", req["UserName"], req["PolicyName"])


# -- managed policies ------------------------------------------------------------------------------


@action("CreatePolicy", service=IAM)
def create_policy(ctx: RequestContext, req: Req) -> Req:
    return {"Policy": policies.create(ctx.backend, ctx.caller, req)}


@action("GetPolicy", service=IAM)
def get_policy(ctx: RequestContext, req: Req) -> Req:
    return {"Policy": policies.get(ctx.backend, ctx.caller, req["PolicyArn"])}


@action("GetPolicyVersion", service=IAM)
def get_policy_version(ctx: RequestContext, req: Req) -> Req:
    return {"PolicyVersion": policies.get_version(ctx.backend, ctx.caller, req["PolicyArn"], req["VersionId"])}


@action("ListPolicyVersions", service=IAM)
def list_policy_versions(ctx: RequestContext, req: Req) -> Req:
    return policies.list_versions(ctx.backend, ctx.caller, req["PolicyArn"], req.get("Marker"), req.get("MaxItems"))


@action("ListPolicies", service=IAM)
def list_policies(ctx: RequestContext, req: Req) -> Req:
    return policy_versions.listing(ctx.backend, ctx.caller, req)


@action("CreatePolicyVersion", service=IAM)
def create_policy_version(ctx: RequestContext, req: Req) -> Req:
    return {"PolicyVersion": policy_versions.create_version(ctx.backend, ctx.caller, req["PolicyArn"],
                                                            req["PolicyDocument"], bool(req.get("SetAsDefault")))}


@action("DeletePolicyVersion", service=IAM)
def delete_policy_version(ctx: RequestContext, req: Req) -> None:
    policy_versions.delete_version(ctx.backend, ctx.caller, req["PolicyArn"], req["VersionId"])


@action("SetDefaultPolicyVersion", service=IAM)
def set_default_policy_version(ctx: RequestContext, req: Req) -> None:
    policy_versions.set_default(ctx.backend, ctx.caller, req["PolicyArn"], req["VersionId"])


@action("DeletePolicy", service=IAM)
def delete_policy(ctx: RequestContext, req: Req) -> None:
    policy_versions.delete(ctx.backend, ctx.caller, req["PolicyArn"])


@action("AttachRolePolicy", service=IAM)
def attach_role_policy(ctx: RequestContext, req: Req) -> None:
    attach.attach(ctx.backend, ctx.caller, "role", req["RoleName"], req["PolicyArn"])


@action("DetachRolePolicy", service=IAM)
def detach_role_policy(ctx: RequestContext, req: Req) -> None:
    attach.detach(ctx.backend, ctx.caller, "role", req["RoleName"], req["PolicyArn"])


@action("ListAttachedRolePolicies", service=IAM)
def list_attached_role_policies(ctx: RequestContext, req: Req) -> Req:
    return attach.listing(ctx.backend, ctx.caller, "role", req["RoleName"], req.get("PathPrefix"),
                          req.get("Marker"), req.get("MaxItems"))


@action("AttachUserPolicy", service=IAM)
def attach_user_policy(ctx: RequestContext, req: Req) -> None:
    attach.attach(ctx.backend, ctx.caller, "user", req["UserName"], req["PolicyArn"])


@action("DetachUserPolicy", service=IAM)
def detach_user_policy(ctx: RequestContext, req: Req) -> None:
    attach.detach(ctx.backend, ctx.caller, "user", req["UserName"], req["PolicyArn"])


@action("ListAttachedUserPolicies", service=IAM)
def list_attached_user_policies(ctx: RequestContext, req: Req) -> Req:
    return attach.listing(ctx.backend, ctx.caller, "user", req["UserName"], req.get("PathPrefix"),
                          req.get("Marker"), req.get("MaxItems"))


# -- instance profiles -----------------------------------------------------------------------------


@action("CreateInstanceProfile", service=IAM)
def create_instance_profile(ctx: RequestContext, req: Req) -> Req:
    return {"InstanceProfile": profiles.create(ctx.backend, ctx.caller, req["InstanceProfileName"],
                                               req.get("Path"), req.get("Tags"))}


@action("GetInstanceProfile", service=IAM)
def get_instance_profile(ctx: RequestContext, req: Req) -> Req:
    return {"InstanceProfile": profiles.get(ctx.backend, ctx.caller, req["InstanceProfileName"])}


@action("ListInstanceProfiles", service=IAM)
def list_instance_profiles(ctx: RequestContext, req: Req) -> Req:
    return profiles.listing(ctx.backend, ctx.caller, req.get("PathPrefix"), req.get("Marker"), req.get("MaxItems"))


@action("DeleteInstanceProfile", service=IAM)
def delete_instance_profile(ctx: RequestContext, req: Req) -> None:
    profiles.delete(ctx.backend, ctx.caller, req["InstanceProfileName"])


@action("AddRoleToInstanceProfile", service=IAM)
def add_role_to_instance_profile(ctx: RequestContext, req: Req) -> None:
    profiles.add_role(ctx.backend, ctx.caller, req["InstanceProfileName"], req["RoleName"])


@action("RemoveRoleFromInstanceProfile", service=IAM)
def remove_role_from_instance_profile(ctx: RequestContext, req: Req) -> None:
    profiles.remove_role(ctx.backend, ctx.caller, req["InstanceProfileName"], req["RoleName"])


@action("ListInstanceProfilesForRole", service=IAM)
def list_instance_profiles_for_role(ctx: RequestContext, req: Req) -> Req:
    return profiles.for_role(ctx.backend, ctx.caller, req["RoleName"], req.get("Marker"), req.get("MaxItems"))
