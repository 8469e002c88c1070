"""IAM's wildcards as regular expressions: ``*`` (any run of characters) and ``?`` (one character).

Actions match case-insensitively (``EC2:describe*`` matches ``ec2:DescribeInstances``), resources
and string conditions case-sensitively. ArnLike/ArnEquals check each of an ARN's six
colon-separated parts on its own, so there a wildcard in the first five parts stops at a colon.

Patterns are built from tokens: ``("glob", text)`` is policy text whose ``*``/``?`` are wildcards,
``("lit", text)`` is a resolved policy variable or an escape (``${*}``), matched literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

Token = tuple[str, str]

_ANY = re.compile(r"(?!)")  # matches nothing: an empty alternation


def tokens_regex(tokens: Iterable[Token], arn: bool = False) -> str:
    """The regex of a wildcard pattern, safe from catastrophic backtracking.

    A pattern is chunks between stars: ``c0*c1*...*cN``. A string matches when it starts with c0,
    ends with cN and holds c1..cN-1 in order between them; placing each middle chunk at its
    leftmost fit is always right (the next star absorbs whatever it skipped), so each one is an
    atomic group ``(?>.*?ci)`` the regex engine never backtracks into. Plain ``.*c1.*c2...`` would
    try every split: ``a*a*a*a*a*a*a*a*a*a*a*a*b`` against 26 a's took 0.35 s, and a policy is
    user input evaluated on every request."""
    chunks: list[list[str]] = [[]]
    stars: list[str] = []
    colons = 0
    for kind, text in tokens:
        if kind == "lit":
            colons += text.count(":")
            chunks[-1].append(re.escape(text))
            continue
        for ch in text:
            any_char = "[^:]" if arn and colons < 5 else "."
            if ch == "*":
                stars.append(any_char)
                chunks.append([])
            elif ch == "?":
                chunks[-1].append(any_char)
            else:
                colons += ch == ":"
                chunks[-1].append(re.escape(ch))
    parts = ["".join(c) for c in chunks]
    if not stars:
        return parts[0]
    middle = "".join(f"(?>{star}*?{chunk})" for star, chunk in zip(stars[:-1], parts[1:-1], strict=True))
    return f"{parts[0]}{middle}{stars[-1]}*{parts[-1]}"


def glob_regex(pattern: str, arn: bool = False) -> str:
    return tokens_regex((("glob", pattern),), arn)


@lru_cache(maxsize=8192)
def compile_tokens(tokens: tuple[Token, ...], ignore_case: bool = False, arn: bool = False) -> re.Pattern[str]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(tokens_regex(tokens, arn), flags)


def compile_globs(patterns: Sequence[str], ignore_case: bool = False, arn: bool = False) -> re.Pattern[str]:
    """One regex matching (with ``fullmatch``) any of the glob patterns."""
    if not patterns:
        return _ANY
    if "*" in patterns:
        return re.compile(".*", re.DOTALL)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("|".join(f"(?:{glob_regex(p, arn)})" for p in patterns), flags)


class ActionSet:
    """A statement's Action list as a matcher: patterns grouped by service prefix, each group
    compiled on first use. ReadOnlyAccess lists ~2,000 actions over ~400 services; one regex of
    them all costs ~60 µs a match and ~250 ms to compile, one service's group a few µs. Answers are
    kept per action (at most ``MEMO_MAX``; a statement's patterns never change), since the API edge
    asks the same few actions of the same statements on every request."""

    __slots__ = ("everything", "groups", "compiled", "other", "memo")
    MEMO_MAX = 64

    def __init__(self, patterns: Sequence[str]) -> None:
        self.everything = "*" in patterns
        self.groups: dict[str, list[str]] = {}
        wild: list[str] = []
        for p in patterns:
            vendor, sep, _ = p.partition(":")
            if sep and "*" not in vendor and "?" not in vendor:
                self.groups.setdefault(vendor.lower(), []).append(p)
            else:
                wild.append(p)
        self.compiled: dict[str, re.Pattern[str]] = {}
        self.other = compile_globs(wild, ignore_case=True) if wild else None
        self.memo: dict[str, bool] = {}

    def fullmatch(self, action: str) -> bool:
        hit = self.memo.get(action)
        if hit is None:
            if len(self.memo) >= self.MEMO_MAX:
                self.memo.clear()
            hit = self.memo[action] = self._match(action)
        return hit

    def _match(self, action: str) -> bool:
        if self.everything:
            return True
        vendor = action.partition(":")[0].lower()
        pattern = self.compiled.get(vendor)
        if pattern is None and vendor in self.groups:
            pattern = self.compiled[vendor] = compile_globs(self.groups[vendor], ignore_case=True)
        if pattern is not None and pattern.fullmatch(action):
            return True
        return self.other is not None and self.other.fullmatch(action) is not None
