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

from orchestrator.domain import errors

T = TypeVar("T")
Getter = Callable[[Any], Any]


# EC2's limits on one call's filters (``FilterLimitExceeded``): at most 200 values over all
# filters, each at most 255 characters. A filter without values counts as one, so the number of
# filters is bounded by the same figure.
MAX_FILTER_VALUES = 200
MAX_FILTER_VALUE_LENGTH = 255
# Above this much wildcard work (pattern characters that need scanning) a Describe runs on a
# worker thread instead of the event loop (see ``registry.call``).
HEAVY_FILTER_WORK = 512


def check_limits(filters: Sequence[Mapping[str, Any]] | None) -> None:
    """EC2's bounds on a request's ``Filters``, checked before any matching starts."""
    if not filters:
        return
    count = 0
    for f in filters:
        values = f.get("Values") or []
        count += max(1, len(values))
        if count > MAX_FILTER_VALUES:
            raise errors.FilterLimitExceeded(
                f"The maximum number of filter values specified on a single call is {MAX_FILTER_VALUES}")
        for value in values:
            if len(value) > MAX_FILTER_VALUE_LENGTH:
                raise errors.FilterLimitExceeded(
                    f"The maximum length for a filter value is {MAX_FILTER_VALUE_LENGTH} characters")


def filter_work(filters: Sequence[Mapping[str, Any]] | None) -> int:
    """Characters of wildcard patterns (values with ``*`` or ``?``) in ``filters``: a cost estimate."""
    return sum(len(v) for f in filters or () for v in f.get("Values") or () if "*" in v or "?" in v)


class Wildcard:
    """An EC2 filter pattern: ``*`` any run, ``?`` any one character, ``\\`` escapes the next one.

    Matching never backtracks: the pattern is split on ``*`` into fixed-length segments; the first
    is matched at the start, the last at the end, the ones between found left to right (the leftmost
    place is always the best one for fixed-length pieces). Worst case O(len(text) * len(pattern)),
    in C (``str.find`` for plain segments, a quantifier-free regex for ones with ``?``).
    """

    __slots__ = ("pattern", "_segments", "_star")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        segments: list[list[str | None]] = [[]]  # None stands for ``?``
        i = 0
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\" and i + 1 < len(pattern):
                segments[-1].append(pattern[i + 1])
                i += 2
                continue
            if ch == "*":
                segments.append([])
            else:
                segments[-1].append(None if ch == "?" else ch)
            i += 1
        self._star = len(segments) > 1
        self._segments = [_Segment(seg) for seg in segments]

    def fullmatch(self, text: str) -> bool:
        segs = self._segments
        if not self._star:
            return len(text) == segs[0].size and segs[0].at(text, 0)
        head, tail = segs[0], segs[-1]
        end = len(text) - tail.size
        if end < head.size or not head.at(text, 0) or not tail.at(text, end):
            return False
        pos = head.size
        for seg in segs[1:-1]:
            found = seg.find(text, pos, end)
            if found < 0:
                return False
            pos = found + seg.size
        return True

    def __repr__(self) -> str:
        return f"Wildcard({self.pattern!r})"


class _Segment:
    """A run of literal characters and ``?`` (fixed length) between two ``*``."""

    __slots__ = ("size", "_literal", "_regex")

    def __init__(self, tokens: list[str | None]) -> None:
        self.size = len(tokens)
        if None in tokens:
            self._literal = None
            body = "".join("." if t is None else re.escape(t) for t in tokens)
            self._regex: re.Pattern[str] | None = re.compile(body, re.DOTALL)
        else:
            self._literal = "".join(tokens)  # type: ignore[arg-type]
            self._regex = None

    def at(self, text: str, pos: int) -> bool:
        if self._literal is not None:
            return text.startswith(self._literal, pos)
        assert self._regex is not None
        return self._regex.match(text, pos, pos + self.size) is not None

    def find(self, text: str, start: int, end: int) -> int:
        """The leftmost place in ``text[start:end]`` where the whole segment fits, or -1."""
        if self._literal is not None:
            return text.find(self._literal, start, end)
        assert self._regex is not None
        m = self._regex.search(text, start, end)
        return -1 if m is None else m.start()


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str) -> Wildcard:
    return Wildcard(pattern)


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
    check_limits(filters)
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
