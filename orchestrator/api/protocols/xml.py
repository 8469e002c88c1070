"""XML bodies of the two XML protocols (``ec2`` and ``query``), written from botocore's output shapes.

Both protocols put an operation's output members in the same way (``locationName`` element names,
lists wrapped in ``<member>`` or the list member's own name, or flattened, maps as ``<entry>``);
they differ only in the envelope around them (see :mod:`.ec2` and :mod:`.query`).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from botocore.model import Shape

# What XML 1.0 can carry (its ``Char`` production). A string member with anything else (C0 controls
# but tab/LF/CR, surrogates, U+FFFE/U+FFFF) is refused at the parser, and the serializer replaces
# any such character that reaches it anyway, so a response is always well-formed XML.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def format_timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def document(root: Element) -> bytes:
    # A raw CR in text would reach the client as LF (XML end-of-line handling): send it as &#13;.
    body = tostring(root, encoding="utf-8").replace(b"\r", b"&#13;")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def write_members(parent: Element, shape: Shape, value: Mapping[str, Any]) -> None:
    """The members of ``value`` (an output dict of ``shape``) as child elements of ``parent``."""
    members = shape.members
    for name, item in value.items():
        if item is None:
            continue
        member = members.get(name)
        if member is None:
            raise KeyError(f"{shape.name} has no member {name}")
        _element(parent, member.serialization.get("name", name), member, item)


def _element(parent: Element, tag: str, shape: Shape, value: Any) -> None:
    kind = shape.type_name
    if kind == "list":
        item_tag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for item in value:  # botocore reads a flattened list under its member's name, if it has one
                _element(parent, item_tag if "name" in shape.member.serialization else tag, shape.member, item)
            return
        el = SubElement(parent, tag)
        for item in value:
            _element(el, item_tag, shape.member, item)
        return
    el = SubElement(parent, tag)
    if kind == "structure":
        write_members(el, shape, value)
    elif kind == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        for k, v in value.items():
            entry = SubElement(el, "entry")
            _element(entry, key_tag, shape.key, k)
            _element(entry, value_tag, shape.value, v)
    elif kind == "boolean":
        el.text = "true" if value else "false"
    elif kind == "timestamp":
        el.text = format_timestamp(value) if isinstance(value, dt.datetime) else str(value)
    elif kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        el.text = base64.b64encode(raw).decode()
    else:
        el.text = xml_safe(str(value))
