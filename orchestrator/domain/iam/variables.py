"""Policy variables, resolved from the request context as AWS resolves them.

``${aws:username}``, ``${aws:PrincipalTag/team}``, ``${ec2:SourceInstanceARN}``: any condition
key, looked up case-insensitively. ``${aws:PrincipalTag/team, 'none'}`` gives a default when the
key is absent. ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters. Variables are
resolved only in policies of Version 2012-10-17 (in 2008-10-17 the text is literal), in Resource
and NotResource and in String*/Arn* condition values. A key that is absent (with no default) or
multivalued makes that resource or value match nothing, as AWS does: the statement cannot be
resolved for this request, so it neither allows nor denies through that value.

A resolved value is matched literally: a ``*`` in a user's name or a tag value is no wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.iam.wildcards import Token

_VAR = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?$")
_ESCAPES = {"*", "?", "$"}


def has_variables(text: str) -> bool:
    return "${" in text and _VAR.search(text) is not None


def variable_keys(text: str) -> set[str]:
    """The context keys (lower-cased) the ``${...}`` variables of ``text`` look up: ``aws:username``
    for ``${aws:username}`` and for ``${aws:username, 'none'}``; escapes name none."""
    out: set[str] = set()
    for m in _VAR.finditer(text):
        named = _NAME.match(m.group(1))
        if named is not None and m.group(1).strip() not in _ESCAPES:
            out.add(named.group(1).lower())
    return out


def context_str(value: Any) -> str:
    """A context value as the string AWS compares (``true``, ISO 8601 times)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def lookup(inner: str, ctx: Mapping[str, Any]) -> str | None:
    """The value of the variable written ``${inner}``, or None when it cannot be resolved."""
    inner_s = inner.strip()
    if inner_s in _ESCAPES:
        return inner_s
    m = _NAME.match(inner)
    if m is None:
        return None
    value = ctx.get(m.group(1).lower())
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    if value is None:
        return m.group(2)  # the default, or None
    return context_str(value)


def resolve(template: str, ctx: Mapping[str, Any]) -> tuple[Token, ...] | None:
    """The template as tokens (its text as wildcards, variables as literals), None if unresolved."""
    out: list[Token] = []
    pos = 0
    for m in _VAR.finditer(template):
        if m.start() > pos:
            out.append(("glob", template[pos : m.start()]))
        value = lookup(m.group(1), ctx)
        if value is None:
            return None
        out.append(("lit", value))
        pos = m.end()
    if pos < len(template):
        out.append(("glob", template[pos:]))
    return tuple(out)


def resolve_plain(template: str, ctx: Mapping[str, Any]) -> str | None:
    """The template with its variables replaced, for operators without wildcards (StringEquals)."""
    tokens = resolve(template, ctx)
    return None if tokens is None else "".join(text for _, text in tokens)
