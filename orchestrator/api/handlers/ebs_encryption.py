"""EnableEbsEncryptionByDefault, DisableEbsEncryptionByDefault, GetEbsEncryptionByDefault,
GetEbsDefaultKmsKeyId, ModifyEbsDefaultKmsKeyId, ResetEbsDefaultKmsKeyId."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.registry import action
from orchestrator.services import ebs_encryption


@action("EnableEbsEncryptionByDefault")
def enable_ebs_encryption_by_default(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"EbsEncryptionByDefault": ebs_encryption.set_by_default(ctx.backend, ctx.region, True)}


@action("DisableEbsEncryptionByDefault")
def disable_ebs_encryption_by_default(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"EbsEncryptionByDefault": ebs_encryption.set_by_default(ctx.backend, ctx.region, False)}


@action("GetEbsEncryptionByDefault")
def get_ebs_encryption_by_default(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"EbsEncryptionByDefault": ebs_encryption.by_default(ctx.backend, ctx.region)}


@action("GetEbsDefaultKmsKeyId")
def get_ebs_default_kms_key_id(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"KmsKeyId": ebs_encryption.default_key(ctx.backend, ctx.region)}


@action("ModifyEbsDefaultKmsKeyId")
def modify_ebs_default_kms_key_id(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"KmsKeyId": ebs_encryption.modify_default_key(ctx.backend, ctx.region, req.get("KmsKeyId"))}


@action("ResetEbsDefaultKmsKeyId")
def reset_ebs_default_kms_key_id(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"KmsKeyId": ebs_encryption.reset_default_key(ctx.backend, ctx.region)}
