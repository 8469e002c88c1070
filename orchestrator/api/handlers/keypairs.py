"""CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair."""

from __future__ import annotations

from typing import Any

from orchestrator.api.context import RequestContext
from orchestrator.api.filters import apply_filters
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
    record, material = keypairs.create(
        ctx.backend, ctx.region, req["KeyName"], req.get("KeyType") or "rsa", req.get("KeyFormat") or "pem",
        req.get("TagSpecifications"),
    )
    return {
        "KeyPairId": record.id,
        "KeyName": record.data["KeyName"],
        "KeyFingerprint": record.data["KeyFingerprint"],
        "KeyMaterial": material,
        "Tags": tag_service.tag_list(ctx.backend.store.tags_of(record.id)),
    }


@action("ImportKeyPair")
def import_key_pair(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    record = keypairs.import_(
        ctx.backend, ctx.region, req["KeyName"], req["PublicKeyMaterial"], req.get("TagSpecifications")
    )
    return {
        "KeyPairId": record.id,
        "KeyName": record.data["KeyName"],
        "KeyFingerprint": record.data["KeyFingerprint"],
        "Tags": tag_service.tag_list(ctx.backend.store.tags_of(record.id)),
    }


@action("DescribeKeyPairs")
def describe_key_pairs(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    records = keypairs.find(ctx.backend, ctx.region, req.get("KeyNames") or [], req.get("KeyPairIds") or [])
    all_tags = ctx.backend.store.tags_by_resource(keypairs.TYPE, ctx.region)
    include = bool(req.get("IncludePublicKey"))
    items = [keypairs.describe(r, all_tags.get(r.id, {}), include) for r in records]
    items = apply_filters(
        items, req.get("Filters"), _FILTERS, tags_of=lambda k: {t["Key"]: t["Value"] for t in k["Tags"]}
    )
    return {"KeyPairs": items}


@action("DeleteKeyPair")
def delete_key_pair(ctx: RequestContext, req: dict[str, Any]) -> dict[str, Any]:
    key_id = keypairs.delete(ctx.backend, ctx.region, req.get("KeyName"), req.get("KeyPairId"))
    return {"Return": True, "KeyPairId": key_id}
