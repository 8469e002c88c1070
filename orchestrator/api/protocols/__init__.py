"""The wire protocols, one module each, driven by botocore's models: ``ec2`` (:mod:`.ec2`),
``query`` (:mod:`.query`), ``json`` (:mod:`.awsjson`). :func:`for_model` picks the one a service's
model declares; :func:`fallback` answers for a service ec2d does not serve."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.model import ServiceModel

from orchestrator.api.protocols.awsjson import JsonProtocol
from orchestrator.api.protocols.base import Call, Protocol, WireRequest, load_model
from orchestrator.api.protocols.ec2 import Ec2Protocol
from orchestrator.api.protocols.query import QueryProtocol

__all__ = ["Call", "Protocol", "WireRequest", "for_model", "fallback", "load_model"]

_BY_NAME: dict[str, type[Protocol]] = {"ec2": Ec2Protocol, "query": QueryProtocol, "json": JsonProtocol}


def for_model(model: ServiceModel) -> Protocol:
    name = model.metadata["protocol"]
    cls = _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"{model.service_name}: protocol {name} is not served by ec2d")
    return cls(model)


def fallback(headers: Mapping[str, str]) -> Protocol:
    """The protocol a request for a service ec2d does not serve speaks, judged from the request
    itself: JSON when it names an ``X-Amz-Target`` or sends an ``x-amz-json`` body, else Query (the
    error envelope every Query client, EC2's too, parses)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "x-amz-target" in lowered or lowered.get("content-type", "").startswith("application/x-amz-json"):
        return JsonProtocol(None)
    return QueryProtocol(None)
