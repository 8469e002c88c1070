"""The EC2 Query protocol, driven by botocore's own ``ec2`` service model.

Parsing turns a flat ``{"InstanceId.1": "i-...", "Filter.1.Name": ...}`` parameter map into the
operation's input structure (the same dict boto3 callers pass), validating types, enums and
required members. Serializing turns a handler's output dict into EC2's XML response, following
the output shapes (``locationName`` element names, lists as ``<item>``).

The EC2 dialect of the query protocol (botocore ``EC2Serializer`` / ``EC2QueryParser``):
- a member's wire name is ``queryName``, else the capitalised ``locationName``, else its name;
- lists are ``Name.1``, ``Name.2`` (no ``member.``);
- responses are ``<ActionResponse xmlns=...><requestId>`` with lists of ``<item>``, and errors
  are ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import math
import re
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from orchestrator.domain import errors

API_VERSION = "2016-11-15"
XMLNS = f"http://ec2.amazonaws.com/doc/{API_VERSION}/"

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


# What XML 1.0 can carry (its ``Char`` production). A string member with anything else (C0 controls
# but tab/LF/CR, surrogates, U+FFFE/U+FFFF) is refused at the parser, and the serializer replaces
# any such character that reaches it anyway, so a response is always well-formed XML.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_ASCII_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
# The range of the model's integer types (EC2 stores them as 32/64-bit numbers).
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Timestamps EC2 can represent: years 1970 to 9999.
_EPOCH_MAX = 253402300799


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _shown(raw: str, limit: int = 64) -> str:
    """A value quoted in an error message: short, and with unprintable characters escaped."""
    text = raw if len(raw) <= limit else raw[:limit] + "..."
    return _NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text)


def _is_index(text: str) -> bool:
    """A list or map index: ASCII decimal digits only (``str.isdigit`` also takes ``²``)."""
    return text.isascii() and text.isdigit()


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ec2")


def input_wire_name(shape: Shape, default: str) -> str:
    ser = shape.serialization
    if "queryName" in ser:
        return ser["queryName"]
    if "name" in ser:
        name = ser["name"]
        return name[0].upper() + name[1:]
    return default


def _error_param_name(shape: Shape, default: str) -> str:
    """The parameter name EC2 uses in its messages: the lower-camel ``locationName``."""
    name = shape.serialization.get("name") or shape.serialization.get("queryName") or default
    return name[0].lower() + name[1:]


# --------------------------------------------------------------------------------------------
# Parsing


def _trie(params: Mapping[str, str]) -> dict[str, Any]:
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


class QueryParser:
    """Parses EC2 Query parameters into an operation's input dict."""

    def __init__(self, model: ServiceModel | None = None) -> None:
        self.model = model or service_model()

    def operation(self, action: str) -> OperationModel:
        try:
            return self.model.operation_model(action)
        except Exception:
            raise errors.InvalidAction(action) from None

    def parse(self, action: str, params: Mapping[str, str]) -> tuple[OperationModel, dict[str, Any]]:
        op = self.operation(action)
        body = {k: v for k, v in params.items() if k not in ENVELOPE_PARAMS}
        shape = op.input_shape
        if shape is None:
            if body:
                raise errors.UnknownParameter(next(iter(body)))
            return op, {}
        tree = _trie(body)
        known = {input_wire_name(s, n) for n, s in shape.members.items()}
        for key in tree:
            if key not in known:
                raise errors.UnknownParameter(key)
        return op, self._structure(shape, tree, "")

    def _structure(self, shape: Shape, node: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise errors.InvalidParameterValue.for_param(path or shape.name, node, "Expected a structure.")
        out: dict[str, Any] = {}
        required = set(shape.required_members)
        for name, member in shape.members.items():
            wire = input_wire_name(member, name)
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
        return self._scalar(shape, node, member_name)

    def _list(self, shape: Shape, node: Any, path: str, member_name: str) -> list[Any]:
        if not isinstance(node, dict):
            # A bare ``Name=value`` where a list is expected: EC2 accepts it as a one-item list.
            node = {"1": node}
        items: list[tuple[int, Any]] = []
        for index, value in node.items():
            if not _is_index(index) or int(index) < 1:
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
        key_name = input_wire_name(shape.key, "key")
        value_name = input_wire_name(shape.value, "value")
        out: dict[str, Any] = {}
        for index, entry in sorted(entries.items(), key=lambda kv: int(kv[0]) if _is_index(kv[0]) else 0):
            if not isinstance(entry, dict) or key_name not in entry:
                raise errors.InvalidParameterValue.for_param(member_name, f"{path}.{index}", "Bad map entry.")
            key = self._scalar(shape.key, entry[key_name], member_name)
            out[key] = self._value(shape.value, entry.get(value_name, ""), f"{path}.{index}", member_name)
        return out

    def _scalar(self, shape: Shape, raw: str, member_name: str) -> Any:
        kind = shape.type_name
        name = _error_param_name(shape, member_name)
        if kind == "string":
            bad = _NOT_XML.search(raw)
            if bad:
                raise errors.InvalidParameterValue.for_param(
                    name, _shown(raw), f"Character {ascii(bad.group())[1:-1]} is not allowed."
                )
            enum = shape.enum
            if enum and raw not in enum and shape.name not in OPEN_ENUMS:
                raise errors.InvalidParameterValue.for_param(
                    name, _shown(raw), f"Valid values: {', '.join(enum)}" if len(enum) <= 20 else ""
                )
            return raw
        if kind in ("integer", "long"):
            if len(raw) > 40 or not _ASCII_INT.fullmatch(raw):
                raise errors.InvalidParameterValue.for_param(name, _shown(raw), "Expected an integer.")
            value = int(raw)
            low, high = _INT_RANGE[kind]
            low = shape.metadata.get("min", low)
            high = shape.metadata.get("max", high)
            if value < low or value > high:
                raise errors.InvalidParameterValue.for_param(
                    name, raw, f"Expected a value between {low} and {high}."
                )
            return value
        if kind == "boolean":
            lowered = raw.lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise errors.InvalidParameterValue.for_param(name, _shown(raw), "Expected a boolean.")
        if kind in ("float", "double"):
            number = float(raw) if len(raw) <= 64 and _ASCII_NUMBER.fullmatch(raw) else math.nan
            if not math.isfinite(number):
                raise errors.InvalidParameterValue.for_param(name, _shown(raw), "Expected a number.")
            return number
        if kind == "timestamp":
            return parse_timestamp(raw, name)
        if kind == "blob":
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise errors.InvalidParameterValue.for_param(
                    name, _shown(raw), "Invalid BASE64 encoding of user data."
                ) from None
        return raw


def parse_timestamp(raw: str, name: str = "timestamp") -> dt.datetime:
    """An ISO 8601 or epoch-seconds timestamp, as a UTC datetime between 1970 and 9999."""
    text = raw.strip()
    invalid = errors.InvalidParameterValue.for_param(name, _shown(raw), "Expected an ISO 8601 timestamp.")
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


# --------------------------------------------------------------------------------------------
# Serializing


def format_timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _document(root: Element) -> bytes:
    # A raw CR in text would reach the client as LF (XML end-of-line handling): send it as &#13;.
    body = tostring(root, encoding="utf-8").replace(b"\r", b"&#13;")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


class XmlSerializer:
    """Serializes handler output dicts to EC2 XML responses, following the output shapes."""

    def response(self, op: OperationModel, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        root = Element(f"{op.name}Response", {"xmlns": XMLNS})
        SubElement(root, "requestId").text = request_id
        shape = op.output_shape
        if shape is not None and result:
            self._members(root, shape, result)
        return _document(root)

    def error(self, err: errors.Ec2Error, request_id: str) -> bytes:
        root = Element("Response")
        error = SubElement(SubElement(root, "Errors"), "Error")
        SubElement(error, "Code").text = xml_safe(err.code)
        SubElement(error, "Message").text = xml_safe(err.message)
        SubElement(root, "RequestID").text = request_id
        return _document(root)

    def _members(self, parent: Element, shape: Shape, value: Mapping[str, Any]) -> None:
        members = shape.members
        for name, item in value.items():
            if item is None:
                continue
            member = members.get(name)
            if member is None:
                raise KeyError(f"{shape.name} has no member {name}")
            self._element(parent, member.serialization.get("name", name), member, item)

    def _element(self, parent: Element, tag: str, shape: Shape, value: Any) -> None:
        kind = shape.type_name
        if kind == "list":
            item_tag = shape.member.serialization.get("name", "member")
            if shape.serialization.get("flattened"):
                for item in value:
                    self._element(parent, tag, shape.member, item)
                return
            el = SubElement(parent, tag)
            for item in value:
                self._element(el, item_tag, shape.member, item)
            return
        el = SubElement(parent, tag)
        if kind == "structure":
            self._members(el, shape, value)
        elif kind == "map":
            key_tag = shape.key.serialization.get("name", "key")
            value_tag = shape.value.serialization.get("name", "value")
            for k, v in value.items():
                entry = SubElement(el, "entry")
                self._element(entry, key_tag, shape.key, k)
                self._element(entry, value_tag, shape.value, v)
        elif kind == "boolean":
            el.text = "true" if value else "false"
        elif kind == "timestamp":
            el.text = format_timestamp(value) if isinstance(value, dt.datetime) else str(value)
        elif kind == "blob":
            raw = value.encode() if isinstance(value, str) else value
            el.text = base64.b64encode(raw).decode()
        else:
            el.text = xml_safe(str(value))
