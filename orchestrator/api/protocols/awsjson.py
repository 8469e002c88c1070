"""The ``json`` protocol, AWS JSON 1.1 (Cost Explorer, Price List; botocore ``JSONSerializer`` /
``JSONParser``):

- ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` (``AWSPriceListService.DescribeServices``)
  and ``Content-Type: application/x-amz-json-1.1``; the body is the input structure as a JSON object
  (member names as in the model or their ``locationName``; timestamps as epoch seconds, blobs base64);
- a response is the output structure as JSON, its request id in the ``x-amzn-RequestId`` header;
- an error is ``{"__type": "<Code>", "message": "..."}`` with the error's HTTP status.

Members the input shape does not have are ignored, as AWS JSON services do (a newer client may
send them); a member of the wrong type is ``SerializationException``, a missing required member or
a value outside its constraints ``ValidationException``. An unknown ``X-Amz-Target`` is
``UnknownOperationException`` with status 400, as real JSON 1.1 services answer it (CloudWatch Logs
in aws/aws-sdk-net#1536 and OpsWorks in aws/aws-sdk-js#425 quote ``{"__type":
"UnknownOperationException"}`` with 400; the generic "Common Errors" page says 404).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.api.protocols.base import AuthCodes, Call, Protocol, WireRequest
from orchestrator.api.protocols.params import INT_RANGE, parse_timestamp
from orchestrator.domain import errors

INVALID_TOKEN = "The security token included in the request is invalid."
_EPOCH_MAX = 253402300799


class JsonProtocol(Protocol):
    content_type = "application/x-amz-json-1.1"
    charset = None
    auth_codes: AuthCodes = {
        "AuthFailure": ("UnrecognizedClientException", 400, INVALID_TOKEN),
        "SignatureDoesNotMatch": ("InvalidSignatureException", 400, None),
        "IncompleteSignature": ("IncompleteSignatureException", 400, None),
        "MissingAuthenticationToken": ("MissingAuthenticationTokenException", 403, "Missing Authentication Token"),
        "RequestExpired": ("InvalidSignatureException", 400, "Signature expired."),
    }

    def __init__(self, model: ServiceModel | None) -> None:
        super().__init__(model)
        self.target_prefix = model.metadata.get("targetPrefix", "") if model is not None else ""

    async def read(self, request: WireRequest) -> Call:
        target = _header(request.headers, "x-amz-target") or ""
        prefix, _, action = target.rpartition(".")
        if not target or prefix != self.target_prefix or not action:
            raise errors.UnknownOperation(f"The operation {target or '(no X-Amz-Target)'} is not known to "
                                          f"{self.target_prefix or 'this service'}.")
        if not request.body.strip():
            return Call(action, {})
        try:
            raw = json.loads(request.body)
        except (ValueError, RecursionError):
            raise errors.SerializationException("The request body is not valid JSON.") from None
        if not isinstance(raw, dict):
            raise errors.SerializationException("The request body must be a JSON object.")
        return Call(action, raw)

    def operation(self, action: str) -> OperationModel:
        if self.model is None or action not in self.model.operation_names:
            raise errors.UnknownOperation(f"The operation {self.target_prefix}.{action} is not known.")
        return self.model.operation_model(action)

    def parse(self, op: OperationModel, raw: Any) -> dict[str, Any]:
        shape = op.input_shape
        return {} if shape is None else _structure(shape, raw, "")

    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        shape = op.output_shape
        body = _out_structure(shape, result or {}) if shape is not None else {}
        return json.dumps(body, separators=(",", ":")).encode()

    def error(self, err: errors.ApiError, request_id: str) -> bytes:
        return json.dumps({"__type": err.code, "message": err.message}, separators=(",", ":")).encode()

    def not_implemented(self, action: str) -> errors.ApiError:
        return errors.UnknownOperation(f"The operation {self.target_prefix}.{action} is not supported by ec2d yet.")

    def unknown_service(self, service: str, served: list[str]) -> errors.ApiError:
        return errors.UnknownOperation(f"The service {service} is not served by this endpoint "
                                       f"(it serves {', '.join(served)}).")

    def denied(self, caller_arn: str, prefix: str, action: str) -> errors.ApiError:
        return errors.AccessDeniedException(caller_arn, prefix, action)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


# --------------------------------------------------------------------------------------- input


def _where(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _structure(shape: Shape, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.SerializationException(f"Expected an object at '{path or shape.name}'.")
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        wire = member.serialization.get("name", name)
        item = value.get(wire)
        if item is None:
            if name in shape.required_members:
                raise errors.ValidationException(
                    f"1 validation error detected: Value null at '{_where(path, wire)}' failed to satisfy "
                    "constraint: Member must not be null")
            continue
        out[name] = _value(member, item, _where(path, wire))
    return out


def _value(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            raise errors.SerializationException(f"Expected a list at '{path}'.")
        return [_value(shape.member, v, f"{path}.{i}") for i, v in enumerate(value, 1)]
    if kind == "map":
        if not isinstance(value, dict):
            raise errors.SerializationException(f"Expected an object at '{path}'.")
        return {_value(shape.key, k, path): _value(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    return _scalar(shape, value, path)


def _scalar(shape: Shape, value: Any, path: str) -> Any:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            raise errors.SerializationException(f"Expected a string at '{path}'.")
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
        if len(value) < low or (high is not None and len(value) > high):
            raise errors.ValidationException(
                f"1 validation error detected: Value at '{path}' failed to satisfy constraint: Member must "
                f"have length between {low} and {high if high is not None else 'any'}")
        if shape.enum and value not in shape.enum:
            raise errors.ValidationException(
                f"1 validation error detected: Value '{value[:64]}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise errors.SerializationException(f"Expected a boolean at '{path}'.")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.SerializationException(f"Expected an integer at '{path}'.")
        low, high = INT_RANGE[kind]
        low, high = shape.metadata.get("min", low), shape.metadata.get("max", high)
        if not low <= value <= high:
            raise errors.ValidationException(
                f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value between {low} and {high}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise errors.SerializationException(f"Expected a number at '{path}'.")
        return float(value)
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _EPOCH_MAX:
            raise errors.SerializationException(f"Expected epoch seconds at '{path}'.")
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise errors.SerializationException(f"Expected base64 at '{path}'.") from None
    return value


# -------------------------------------------------------------------------------------- output


def _out_structure(shape: Shape, value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue
        member = shape.members.get(name)
        if member is None:
            raise KeyError(f"{shape.name} has no member {name}")
        out[member.serialization.get("name", name)] = _out(member, item)
    return out


def _out(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _out_structure(shape, value)
    if kind == "list":
        return [_out(shape.member, v) for v in value]
    if kind == "map":
        return {k: _out(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        when = parse_timestamp(value) if isinstance(value, str) else value
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp()
        return int(seconds) if seconds.is_integer() else round(seconds, 3)
    if kind == "blob":
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    return value
