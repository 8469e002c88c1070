"""Generic ``Filters`` (AWS wildcard semantics), tag filters, and ``MaxResults``/``NextToken``.

A filter matches an item when any of the item's values for that filter name matches any of the
filter's values; all filters must match. ``*`` matches any run of characters, ``?`` any single
character, ``\\`` escapes either. ``tag:KEY``, ``tag-key`` and ``tag-value`` work on every
resource that has tags. An unknown filter name is EC2's ``InvalidParameterValue``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from orchestrator.api import errors

T = TypeVar("T")
Getter = Callable[[Any], Any]


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | int | float):
        return [str(value)]
    out: list[str] = []
    for v in value:
        out.extend(_as_strings(v))
    return out


def _matches(values: list[str], patterns: Sequence[str]) -> bool:
    return any(wildcard(p).fullmatch(v) for p in patterns for v in values)


def apply_filters(
    items: Iterable[T],
    filters: Sequence[Mapping[str, Any]] | None,
    getters: Mapping[str, Getter],
    tags_of: Callable[[T], Mapping[str, str]] | None = None,
) -> list[T]:
    """Keep the items every filter matches. ``getters`` maps a filter name to a value getter."""
    items = list(items)
    if not filters:
        return items
    checks: list[Callable[[T], bool]] = []
    for f in filters:
        name = f.get("Name")
        if not name:
            raise errors.InvalidParameterValue("The filter 'null' is invalid")
        patterns = list(f.get("Values") or [])
        checks.append(_check(name, patterns, getters, tags_of))
    return [item for item in items if all(check(item) for check in checks)]


def _check(
    name: str,
    patterns: list[str],
    getters: Mapping[str, Getter],
    tags_of: Callable[[Any], Mapping[str, str]] | None,
) -> Callable[[Any], bool]:
    if tags_of is not None:
        if name.startswith("tag:"):
            key = name[4:]
            return lambda item: key in tags_of(item) and _matches([tags_of(item)[key]], patterns)
        if name == "tag-key":
            return lambda item: _matches(list(tags_of(item)), patterns)
        if name == "tag-value":
            return lambda item: _matches(list(tags_of(item).values()), patterns)
    getter = getters.get(name)
    if getter is None:
        raise errors.InvalidFilter(name)
    return lambda item: _matches(_as_strings(getter(item)), patterns)


def paginate(
    items: Sequence[T],
    max_results: int | None,
    next_token: str | None,
    *,
    low: int = 5,
    high: int = 1000,
    param: str = "maxResults",
) -> tuple[list[T], str | None]:
    """A page of ``items`` and the token for the next one (None on the last page)."""
    start = 0
    if next_token:
        start = _decode_token(next_token)
    if max_results is None:
        if start:
            return list(items[start:]), None
        return list(items), None
    if not low <= max_results <= high:
        raise errors.InvalidParameterValue.for_param(
            param, max_results, f"Expected a value between {low} and {high}."
        )
    end = start + max_results
    page = list(items[start:end])
    return page, (_encode_token(end) if end < len(items) else None)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.InvalidPaginationToken(token) from None
    if not isinstance(offset, int) or offset < 0:
        raise errors.InvalidPaginationToken(token)
    return offset
