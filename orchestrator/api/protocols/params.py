"""Flat ``Name.1.Sub=value`` request parameters (the ``ec2`` and ``query`` protocols) into an
operation's input dict (the same dict a boto3 caller passes), validating types, enums and required
members against botocore's input shapes.

The two protocols differ only in how a member and a list are named on the wire, which a subclass
says (:meth:`ParamParser.wire_name`, :meth:`ParamParser.list_items`); see :mod:`.ec2` and
:mod:`.query`. Every error carries the code the Query APIs share (``MissingParameter``,
``UnknownParameter``, ``InvalidParameterValue``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.api.protocols.xml import NOT_XML
from orchestrator.domain import errors

# Parameters that are part of every request's envelope, not of the operation's input.
ENVELOPE_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "AWSAccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "Timestamp",
        "Expires",
        "SecurityToken",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
    }
)

# Enums a handler validates itself, with EC2's own error (e.g. InvalidInstanceType), because the
# set of valid values is ec2d's catalogue rather than botocore's list.
OPEN_ENUMS = frozenset({"InstanceType"})

_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_ASCII_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# The range of the model's integer types (EC2 stores them as 32/64-bit numbers).
INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Timestamps EC2 can represent: years 1970 to 9999.
_EPOCH_MAX = 253402300799


def shown(raw: str, limit: int = 64) -> str:
    """A value quoted in an error message: short, and with unprintable characters escaped."""
    text = raw if len(raw) <= limit else raw[:limit] + "..."
    return NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text)


def is_index(text: str) -> bool:
    """A list or map index: ASCII decimal digits only (``str.isdigit`` also takes ``²``)."""
    return text.isascii() and text.isdigit()


def _error_param_name(shape: Shape, default: str) -> str:
    """The parameter name EC2 uses in its messages: the lower-camel ``locationName``."""
    name = shape.serialization.get("name") or shape.serialization.get("queryName") or default
    return name[0].lower() + name[1:]


def trie(params: Mapping[str, str]) -> dict[str, Any]:
    """``{"A.1.B": v}`` -> ``{"A": {"1": {"B": v}}}``; a leaf that is also a prefix keeps ``""``."""
    root: dict[str, Any] = {}
    for key, value in params.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else {"": child}
                node[part] = child
            node = child
        last = parts[-1]
        if isinstance(node.get(last), dict):
            node[last][""] = value
        else:
            node[last] = value
    return root


class ParamParser:
    """Parses flat Query parameters into an operation's input dict (one protocol's wire names)."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model

    # -- what a protocol says --------------------------------------------------------------------
    def wire_name(self, shape: Shape, default: str) -> str:
        """The parameter name of a structure member (``shape``) called ``default`` in the model."""
        raise NotImplementedError

    def list_items(self, shape: Shape, node: Any, path: str) -> tuple[dict[str, Any], str]:
        """The ``{index: value}`` of a list parameter and the path its indexes follow."""
        raise NotImplementedError

    def unknown_action(self, action: str) -> errors.ApiError:
        return errors.InvalidAction(action)

    # -- parsing ---------------------------------------------------------------------------------
    def operation(self, action: str) -> OperationModel:
        try:
            return self.model.operation_model(action)
        except Exception:
            raise self.unknown_action(action) from None

    def parse(self, action: str, params: Mapping[str, str]) -> tuple[OperationModel, dict[str, Any]]:
        op = self.operation(action)
        return op, self.parse_input(op, params)

    def parse_input(self, op: OperationModel, params: Mapping[str, str]) -> dict[str, Any]:
        body = {k: v for k, v in params.items() if k not in ENVELOPE_PARAMS}
        shape = op.input_shape
        if shape is None:
            if body:
                raise errors.UnknownParameter(next(iter(body)))
            return {}
        tree = trie(body)
        known = {self.wire_name(s, n) for n, s in shape.members.items()}
        for key in tree:
            if key not in known:
                raise errors.UnknownParameter(key)
        return self._structure(shape, tree, "")

    def _structure(self, shape: Shape, node: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise errors.InvalidParameterValue.for_param(path or shape.name, node, "Expected a structure.")
        out: dict[str, Any] = {}
        required = set(shape.required_members)
        for name, member in shape.members.items():
            wire = self.wire_name(member, name)
            if wire in node:
                out[name] = self._value(member, node[wire], f"{path}.{wire}" if path else wire, name)
            elif name in required:
                raise errors.MissingParameter(f"{path}.{wire}" if path else wire)
        return out

    def _value(self, shape: Shape, node: Any, path: str, member_name: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape, node, path)
        if kind == "list":
            return self._list(shape, node, path, member_name)
        if kind == "map":
            return self._map(shape, node, path, member_name)
        if isinstance(node, dict):
            if "" in node:
                node = node[""]
            else:
                raise errors.InvalidParameterValue.for_param(member_name, path, "Expected a single value.")
        return self.scalar(shape, node, member_name)

    def _list(self, shape: Shape, node: Any, path: str, member_name: str) -> list[Any]:
        entries, path = self.list_items(shape, node, path)
        items: list[tuple[int, Any]] = []
        for index, value in entries.items():
            if not is_index(index) or int(index) < 1:
                raise errors.UnknownParameter(f"{path}.{index}")
            items.append((int(index), value))
        items.sort(key=lambda kv: kv[0])
        return [self._value(shape.member, v, f"{path}.{i}", member_name) for i, v in items]

    def _map(self, shape: Shape, node: Any, path: str, member_name: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise errors.InvalidParameterValue.for_param(member_name, node, "Expected a map.")
        entries = node.get("entry", node) if not shape.serialization.get("flattened") else node
        if not isinstance(entries, dict):
            raise errors.InvalidParameterValue.for_param(member_name, path, "Expected a map.")
        key_name = self.wire_name(shape.key, "key")
        value_name = self.wire_name(shape.value, "value")
        out: dict[str, Any] = {}
        for index, entry in sorted(entries.items(), key=lambda kv: int(kv[0]) if is_index(kv[0]) else 0):
            if not isinstance(entry, dict) or key_name not in entry:
                raise errors.InvalidParameterValue.for_param(member_name, f"{path}.{index}", "Bad map entry.")
            key = self.scalar(shape.key, entry[key_name], member_name)
            out[key] = self._value(shape.value, entry.get(value_name, ""), f"{path}.{index}", member_name)
        return out

    def scalar(self, shape: Shape, raw: str, member_name: str) -> Any:
        kind = shape.type_name
        name = _error_param_name(shape, member_name)
        if kind == "string":
            return _string(shape, raw, name)
        if kind in ("integer", "long"):
            if len(raw) > 40 or not _ASCII_INT.fullmatch(raw):
                raise errors.InvalidParameterValue.for_param(name, shown(raw), "Expected an integer.")
            return check_int_range(shape, int(raw), name, raw)
        if kind == "boolean":
            lowered = raw.lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise errors.InvalidParameterValue.for_param(name, shown(raw), "Expected a boolean.")
        if kind in ("float", "double"):
            number = float(raw) if len(raw) <= 64 and _ASCII_NUMBER.fullmatch(raw) else math.nan
            if not math.isfinite(number):
                raise errors.InvalidParameterValue.for_param(name, shown(raw), "Expected a number.")
            return number
        if kind == "timestamp":
            return parse_timestamp(raw, name)
        if kind == "blob":
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidParameterValue.for_param(
                    name, shown(raw), "Invalid BASE64 encoding of user data."
                ) from None
        return raw


def _string(shape: Shape, raw: str, name: str) -> str:
    bad = NOT_XML.search(raw)
    if bad:
        raise errors.InvalidParameterValue.for_param(
            name, shown(raw), f"Character {ascii(bad.group())[1:-1]} is not allowed."
        )
    enum = shape.enum
    if enum and raw not in enum and shape.name not in OPEN_ENUMS:
        raise errors.InvalidParameterValue.for_param(
            name, shown(raw), f"Valid values: {', '.join(enum)}" if len(enum) <= 20 else ""
        )
    return raw


def check_int_range(shape: Shape, value: int, name: str, raw: object) -> int:
    low, high = INT_RANGE["long" if shape.type_name == "long" else "integer"]
    low = shape.metadata.get("min", low)
    high = shape.metadata.get("max", high)
    if value < low or value > high:
        raise errors.InvalidParameterValue.for_param(name, raw, f"Expected a value between {low} and {high}.")
    return value


def parse_timestamp(raw: str, name: str = "timestamp") -> dt.datetime:
    """An ISO 8601 or epoch-seconds timestamp, as a UTC datetime between 1970 and 9999."""
    text = raw.strip()
    invalid = errors.InvalidParameterValue.for_param(name, shown(raw), "Expected an ISO 8601 timestamp.")
    if not text.isascii() or len(text) > 64:
        raise invalid
    try:
        if text.replace(".", "", 1).isdigit():
            seconds = float(text)
            if not 0 <= seconds <= _EPOCH_MAX:
                raise invalid
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise invalid from None
    if value.year < 1970:
        raise invalid
    return value
