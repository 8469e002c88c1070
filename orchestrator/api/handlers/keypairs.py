"""CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.describe import respond
from orchestrator.api.registry import action
from orchestrator.services import keypairs
from orchestrator.services import tags as tag_service

_FILTERS = {
    "key-pair-id": lambda k: k["KeyPairId"],
    "key-name": lambda k: k["KeyName"],
    "fingerprint": lambda k: k["KeyFingerprint"],
    "key-type": lambda k: k["KeyType"],
}


@action("CreateKeyPair")
def create_key_pair(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, material, tags = keypairs.create_tagged(
        ctx.backend, ctx.region, req["KeyName"], req.get("KeyType") or "rsa", req.get("KeyFormat") or "pem",
        req.get("TagSpecifications"),
    )
    return {
        "KeyPairId": record.id,
        "KeyName": record.data["KeyName"],
        "KeyFingerprint": record.data["KeyFingerprint"],
        "KeyMaterial": material,
        "Tags": tag_service.tag_list(tags),
    }


@action("ImportKeyPair")
def import_key_pair(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record, tags = keypairs.import_tagged(
        ctx.backend, ctx.region, req["KeyName"], req["PublicKeyMaterial"], req.get("TagSpecifications")
    )
    return {
        "KeyPairId": record.id,
        "KeyName": record.data["KeyName"],
        "KeyFingerprint": record.data["KeyFingerprint"],
        "Tags": tag_service.tag_list(tags),
    }


@action("DescribeKeyPairs")
def describe_key_pairs(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    items = keypairs.describe_key_pairs(ctx.backend, ctx.region, req.get("KeyNames") or [],
                                        req.get("KeyPairIds") or [], bool(req.get("IncludePublicKey")))
    return respond(req, items, _FILTERS, "KeyPairs", page=None)


@action("DeleteKeyPair")
def delete_key_pair(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    key_id = keypairs.delete(ctx.backend, ctx.region, req.get("KeyName"), req.get("KeyPairId"))
    return {"Return": True, "KeyPairId": key_id}
