"""Condition operators (IAM User Guide, "IAM JSON policy elements: Condition operators").

A Condition block is an AND of operators, each an AND of keys, each an OR of values. This module
turns one (operator, key, values) into a `Condition` whose `matches` is the operator's positive
test of one context value; `holds` adds what the operator's name says around it:

- negated operators (StringNotEquals, NotIpAddress, ArnNotLike...) hold when no value matches,
  and hold when the key is absent ("If the policy condition requires that the key is not
  matched ... and the right key is not present, the condition is true");
- ``...IfExists`` holds when the key is absent;
- ``ForAnyValue:`` holds when some context value passes (false for an absent key or empty set),
  ``ForAllValues:`` when every one does (true for an absent key or empty set);
- without a qualifier a multivalued context value passes when any of its values does;
- ``Null`` tests presence: ``true`` holds when the key is absent.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.iam.model import Condition, ContextValue, MalformedPolicy, Matcher
from orchestrator.domain.iam.variables import context_str, has_variables, resolve, resolve_plain
from orchestrator.domain.iam.wildcards import compile_globs, compile_tokens

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

QUALIFIERS = ("ForAnyValue:", "ForAllValues:")

# negated operator -> its positive counterpart
NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}

_ORDER: dict[str, Callable[[float, float], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}


# --- value parsing -------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def parse_date(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 time or date, or of epoch seconds; None if neither."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return float(text)
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _bool(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    return text if text in ("true", "false") else None


def _binary(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


# --- matchers: the positive test of one context value ----------------------------------------

def _string_matcher(values: tuple[str, ...], version: str, fold: bool) -> Matcher:
    variables = version == "2012-10-17"
    static = frozenset(v.casefold() if fold else v for v in values if not (variables and has_variables(v)))
    templates = tuple(v for v in values if variables and has_variables(v))

    def matches(value: ContextValue, ctx: Mapping[str, ContextValue]) -> bool:
        s = context_str(value)
        if fold:
            s = s.casefold()
        if s in static:
            return True
        for t in templates:
            resolved = resolve_plain(t, ctx)
            if resolved is not None and (resolved.casefold() if fold else resolved) == s:
                return True
        return False

    return matches


def _like_matcher(values: tuple[str, ...], version: str, arn: bool) -> Matcher:
    variables = version == "2012-10-17"
    static = compile_globs([v for v in values if not (variables and has_variables(v))], arn=arn)
    templates = tuple(v for v in values if variables and has_variables(v))

    def matches(value: ContextValue, ctx: Mapping[str, ContextValue]) -> bool:
        s = context_str(value)
        if arn and s.count(":") < 5:
            return False
        if static.fullmatch(s):
            return True
        for t in templates:
            tokens = resolve(t, ctx)
            if tokens is not None and compile_tokens(tokens, arn=arn).fullmatch(s):
                return True
        return False

    return matches


def _ordered_matcher(values: tuple[Any, ...], parse: Callable[[Any], float | None], test: str) -> Matcher:
    wanted = tuple(n for n in map(parse, values) if n is not None)
    compare = _ORDER[test]

    def matches(value: ContextValue, ctx: Mapping[str, ContextValue]) -> bool:
        n = parse(value)
        return n is not None and any(compare(n, w) for w in wanted)

    return matches


def _ip_matcher(values: tuple[str, ...]) -> Matcher:
    networks = []
    for v in values:
        try:
            networks.append(ipaddress.ip_network(str(v).strip(), strict=False))
        except ValueError:
            continue

    def matches(value: ContextValue, ctx: Mapping[str, ContextValue]) -> bool:
        try:
            address = ipaddress.ip_address(str(value).strip())
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in networks)

    return matches


def _set_matcher(values: tuple[Any, ...], parse: Callable[[Any], Any]) -> Matcher:
    wanted = frozenset(p for p in map(parse, values) if p is not None)

    def matches(value: ContextValue, ctx: Mapping[str, ContextValue]) -> bool:
        return parse(value) in wanted

    return matches


def _null_matcher(values: tuple[Any, ...]) -> Matcher:  # unused: Null is decided in holds()
    return lambda value, ctx: False


def _matcher(base: str, values: tuple[Any, ...], version: str) -> Matcher:
    if base == "StringEquals":
        return _string_matcher(values, version, fold=False)
    if base == "StringEqualsIgnoreCase":
        return _string_matcher(values, version, fold=True)
    if base == "StringLike":
        return _like_matcher(values, version, arn=False)
    if base in ("ArnEquals", "ArnLike"):
        return _like_matcher(values, version, arn=True)
    if base.startswith("Numeric"):
        return _ordered_matcher(values, _number, base[len("Numeric") :])
    if base.startswith("Date"):
        return _ordered_matcher(values, parse_date, base[len("Date") :])
    if base == "Bool":
        return _set_matcher(values, _bool)
    if base == "BinaryEquals":
        return _set_matcher(values, _binary)
    if base == "IpAddress":
        return _ip_matcher(values)
    return _null_matcher(values)


POSITIVE = frozenset(
    {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "Bool", "BinaryEquals", "IpAddress",
     "ArnEquals", "ArnLike", "Null"}
    | {f"{family}{test}" for family in ("Numeric", "Date") for test in _ORDER}
)
OPERATORS = POSITIVE | frozenset(NEGATED)


# --- building and evaluating -------------------------------------------------------------------

def split_operator(name: str) -> tuple[str, str, bool]:
    """("ForAllValues", "StringLike", True) for "ForAllValues:StringLikeIfExists"."""
    qualifier = ""
    for q in QUALIFIERS:
        if name.startswith(q):
            qualifier, name = q[:-1], name[len(q) :]
            break
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def _values(raw: Any) -> tuple[Any, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[Any] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (int, float)):
            out.append(str(item))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise MalformedPolicy(SYNTAX)
    return tuple(out)


def build(op: str, key: str, raw: Any, version: str) -> Condition:
    """One Condition for ``{op: {key: raw}}``; MalformedPolicy for an unknown operator or a date
    IAM cannot read."""
    if not isinstance(op, str) or not isinstance(key, str):
        raise MalformedPolicy(SYNTAX)
    qualifier, written, if_exists = split_operator(op)
    if written not in OPERATORS:
        raise MalformedPolicy(SYNTAX)
    if ":" not in key:
        raise MalformedPolicy(NO_VENDOR)
    values = _values(raw)
    negated = written in NEGATED
    base = NEGATED.get(written, written)
    if base.startswith("Date") and any(parse_date(v) is None for v in values):
        raise MalformedPolicy(LEGACY)
    return Condition(
        operator=op, base=base, qualifier=qualifier, if_exists=if_exists, negated=negated,
        key=key.lower(), values=values, matches=_matcher(base, values, version), name=key,
    )


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, (list, tuple)) and len(value) == 0)


def holds(cond: Condition, ctx: Mapping[str, ContextValue]) -> bool:
    value = ctx.get(cond.key)
    present = _present(value)
    if cond.base == "Null":
        return any((v.lower() == "true") != present for v in cond.values if isinstance(v, str))
    if not present:
        if cond.qualifier == "ForAllValues":
            return True
        if cond.if_exists:
            return True
        return cond.negated and cond.qualifier == ""
    test = cond.matches
    if not isinstance(value, (list, tuple)):  # one value: the qualifiers' all/any of one
        return test(value, ctx) != cond.negated
    items = value
    if cond.qualifier == "ForAllValues":
        return all(test(v, ctx) != cond.negated for v in items)
    if cond.qualifier == "ForAnyValue":
        return any(test(v, ctx) != cond.negated for v in items)
    hit = any(test(v, ctx) for v in items)
    return hit != cond.negated
