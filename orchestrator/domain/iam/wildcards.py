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


def _glob_chars(text: str, colons: int, arn: bool) -> tuple[list[str], int]:
    out: list[str] = []
    for ch in text:
        in_head = arn and colons < 5
        if ch == "*":
            out.append("[^:]*" if in_head else ".*")
        elif ch == "?":
            out.append("[^:]" if in_head else ".")
        else:
            if ch == ":":
                colons += 1
            out.append(re.escape(ch))
    return out, colons


def tokens_regex(tokens: Iterable[Token], arn: bool = False) -> str:
    parts: list[str] = []
    colons = 0
    for kind, text in tokens:
        if kind == "lit":
            colons += text.count(":")
            parts.append(re.escape(text))
        else:
            chars, colons = _glob_chars(text, colons, arn)
            parts.extend(chars)
    return "".join(parts)


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
