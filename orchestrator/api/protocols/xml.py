"""XML bodies of the two XML protocols (``ec2`` and ``query``), written from botocore's output shapes.

Both protocols put an operation's output members in the same way (``locationName`` element names,
lists wrapped in ``<member>`` or the list member's own name, or flattened, maps as ``<entry>``);
they differ only in the envelope around them (see :mod:`.ec2` and :mod:`.query`).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree.ElementTree import Element, tostring

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


def element(tag: str, inner: str) -> str:
    """``<tag>inner</tag>``, or ``<tag />`` when empty (as ElementTree writes it)."""
    return f"<{tag}>{inner}</{tag}>" if inner else f"<{tag} />"


def text(value: str) -> str:
    """Character data: XML's three escapes, and a raw CR as ``&#13;`` (it would reach the client as
    LF: XML end-of-line handling)."""
    return (xml_safe(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def document_of(tag: str, xmlns: str | None, inner: str) -> bytes:
    """A whole response: the root ``tag`` (with its namespace) around ``inner``."""
    attrs = f' xmlns="{xmlns}"' if xmlns else ""
    root = f"<{tag}{attrs}>{inner}</{tag}>" if inner else f"<{tag}{attrs} />"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + root.encode()


def members_xml(shape: Shape, value: Mapping[str, Any]) -> str:
    """The members of ``value`` (an output dict of ``shape``) as XML elements, written as text (a
    Describe's thousands of items: no element tree built and walked again)."""
    out: list[str] = []
    _members(out, shape, value)
    return "".join(out)


def _members(out: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
    members = shape.members
    for name, item in value.items():
        if item is None:
            continue
        member = members.get(name)
        if member is None:
            raise KeyError(f"{shape.name} has no member {name}")
        _element(out, member.serialization.get("name", name), member, item)


def _element(out: list[str], tag: str, shape: Shape, value: Any) -> None:
    kind = shape.type_name
    if kind == "list":
        item_tag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for item in value:  # botocore reads a flattened list under its member's name, if it has one
                _element(out, item_tag if "name" in shape.member.serialization else tag, shape.member, item)
            return
        _children(out, tag, lambda: [_element(out, item_tag, shape.member, item) for item in value])
    elif kind == "structure":
        _children(out, tag, lambda: _members(out, shape, value))
    elif kind == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")

        def entries() -> None:
            for k, v in value.items():
                out.append("<entry>")
                _element(out, key_tag, shape.key, k)
                _element(out, value_tag, shape.value, v)
                out.append("</entry>")
        _children(out, tag, entries)
    elif kind == "boolean":
        out.append(f"<{tag}>{'true' if value else 'false'}</{tag}>")
    elif kind == "timestamp":
        out.append(element(tag, text(format_timestamp(value) if isinstance(value, dt.datetime) else str(value))))
    elif kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        out.append(element(tag, base64.b64encode(raw).decode()))
    else:
        out.append(element(tag, text(str(value))))


def _children(out: list[str], tag: str, write: Callable[[], object]) -> None:
    """``<tag>`` around what ``write`` appends, or ``<tag />`` when it appends nothing."""
    at = len(out)
    out.append(f"<{tag}>")
    write()
    if len(out) == at + 1:
        out[at] = f"<{tag} />"
    else:
        out.append(f"</{tag}>")
