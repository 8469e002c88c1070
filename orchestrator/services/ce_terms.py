"""Cost Explorer's request terms read against the usage ledger: time periods and their buckets,
dimensions, filter expressions and group definitions, each checked with Cost Explorer's
``ValidationException`` (the code the service answers for any malformed request).

Dimensions ec2d records map onto ledger columns (``SERVICE``, ``USAGE_TYPE``, ``INSTANCE_TYPE``,
``AZ``, ``REGION``, ``SERVICE_CODE``, ``RESOURCE_ID``) or are the same for every line of a single
on-demand account (``LINKED_ACCOUNT``, ``RECORD_TYPE`` "Usage", ``PURCHASE_TYPE`` "On Demand
Instances"); a line without an instance type or zone shows Cost Explorer's ``NoInstanceType`` /
``NoAZ``. A dimension ec2d does not record (``OPERATION``, ``DATABASE_ENGINE`` ...) is refused
rather than answered with made-up values.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.domain import errors, instance_types
from orchestrator.store.usage_reads import Combine, Condition, Group, Match, TagMatch

DATE = "%Y-%m-%d"
HOURLY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_BUCKETS = {"HOURLY": 14 * 24, "DAILY": 3 * 366, "MONTHLY": 38}
MAX_GROUP_BY = 2
MAX_DEPTH = 10
NO_INSTANCE_TYPE, NO_AZ, NO_FAMILY = "NoInstanceType", "NoAZ", "NoInstanceTypeFamily"


def invalid(message: str) -> errors.ValidationException:
    return errors.ValidationException(message)


# ---------------------------------------------------------------------------------------------
# time


@dataclass(frozen=True)
class Period:
    start: float
    end: float
    granularity: str
    edges: list[float]  # bucket boundaries from start to end
    width: float | None  # equal-width buckets (HOURLY, DAILY)

    def label(self, t: float) -> str:
        fmt = HOURLY_FORMAT if self.granularity == "HOURLY" else DATE
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime(fmt)


def parse_time(value: str, field: str, hourly: bool) -> dt.datetime:
    for fmt in ((DATE, HOURLY_FORMAT) if hourly else (DATE,)):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    shape = "YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ" if hourly else "YYYY-MM-DD"
    raise invalid(f"TimePeriod.{field} {value[:40]!r} is not a date in the format {shape}")


def _month_edges(start: dt.datetime, end: dt.datetime) -> list[float]:
    edges = [start.timestamp()]
    cursor = start.replace(day=1, hour=0, minute=0, second=0)
    while True:
        days = calendar.monthrange(cursor.year, cursor.month)[1]
        cursor = cursor + dt.timedelta(days=days)
        if cursor >= end:
            break
        edges.append(cursor.timestamp())
    edges.append(end.timestamp())
    return edges


def period(time_period: Mapping[str, str], granularity: str, now: float, forecast: bool = False) -> Period:
    """The request's ``TimePeriod`` cut into ``granularity`` buckets (End exclusive)."""
    hourly = granularity == "HOURLY"
    start = parse_time(time_period["Start"], "Start", hourly)
    end = parse_time(time_period["End"], "End", hourly)
    if start >= end:
        raise invalid("Start date (and hour) should be before end date (and hour)")
    today = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if not forecast:
        next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        if end > next_month:
            raise invalid("end date past the beginning of next month")
    elif start < today:
        raise invalid("Start date must be equal to or after the current date")
    if granularity == "MONTHLY":
        edges, width = _month_edges(start, end), None
    else:
        width = 3600.0 if hourly else 86400.0
        if (end - start).total_seconds() % width:
            raise invalid(f"TimePeriod must span whole {'hours' if hourly else 'days'} for {granularity} granularity")
        count = int((end - start).total_seconds() // width)
        if count > MAX_BUCKETS[granularity]:
            raise invalid(f"TimePeriod is too long for {granularity} granularity "
                          f"(at most {MAX_BUCKETS[granularity]} periods)")
        edges = [start.timestamp() + i * width for i in range(count + 1)]
    if len(edges) - 1 > MAX_BUCKETS[granularity]:
        raise invalid(f"TimePeriod is too long for {granularity} granularity")
    return Period(start.timestamp(), end.timestamp(), granularity, edges, width)


# ---------------------------------------------------------------------------------------------
# dimensions


@dataclass(frozen=True)
class Dimension:
    """How a Cost Explorer dimension reads a ledger line: a column, shown through ``show``."""

    column: str
    show: Callable[[str, str], str]  # (raw column value, account id) -> the value Cost Explorer shows
    values_of: Callable[[list[str], str], list[str]] | None = None  # filter values -> raw column values


def _same(raw: str, account: str) -> str:
    return raw


def _family(itype: str) -> str:
    return itype.split(".")[0] if itype else NO_FAMILY


def _families(values: list[str], account: str) -> list[str]:
    wanted = set(values)
    out = [t for t in instance_types.CATALOGUE if t.split(".")[0] in wanted]
    return out + ([""] if NO_FAMILY in wanted else [])


def _or_empty(none_value: str) -> Callable[[list[str], str], list[str]]:
    return lambda values, account: [("" if v == none_value else v) for v in values]


def _constant(value: Callable[[str], str]) -> Dimension:
    return Dimension("kind", lambda raw, account: value(account),
                     lambda values, account: ["instance", "volume", "snapshot", "public-ipv4"]
                     if value(account) in values else [])


DIMENSIONS: dict[str, Dimension] = {
    "SERVICE": Dimension("service", _same),
    "SERVICE_CODE": Dimension("service_code", _same),
    "USAGE_TYPE": Dimension("usage_type", _same),
    "REGION": Dimension("region", _same),
    "RESOURCE_ID": Dimension("resource_id", _same),
    "INSTANCE_TYPE": Dimension("instance_type", lambda raw, a: raw or NO_INSTANCE_TYPE, _or_empty(NO_INSTANCE_TYPE)),
    "INSTANCE_TYPE_FAMILY": Dimension("instance_type", lambda raw, a: _family(raw), _families),
    "AZ": Dimension("zone", lambda raw, a: raw or NO_AZ, _or_empty(NO_AZ)),
    "LINKED_ACCOUNT": _constant(lambda account: account),
    "RECORD_TYPE": _constant(lambda account: "Usage"),
    "PURCHASE_TYPE": _constant(lambda account: "On Demand Instances"),
}


def dimension(key: str, with_resources: bool) -> Dimension:
    found = DIMENSIONS.get(key)
    if found is None or (key == "RESOURCE_ID" and not with_resources):
        raise invalid(f"Dimension {key[:64]} is not supported by this endpoint (ec2d records "
                      f"{', '.join(k for k in DIMENSIONS if k != 'RESOURCE_ID')})")
    return found


# ---------------------------------------------------------------------------------------------
# filter expressions

_EXPRESSION_KEYS = ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories")


def _options(given: list[str] | None, allowed: set[str], what: str) -> tuple[bool, bool]:
    """(absent, case_sensitive) from MatchOptions; others than ``allowed`` are refused."""
    opts = set(given or ["EQUALS", "CASE_SENSITIVE"])
    bad = opts - allowed
    if bad:
        raise invalid(f"MatchOptions {sorted(bad)} are not supported for {what} "
                      f"(valid: {', '.join(sorted(allowed))})")
    return "ABSENT" in opts, "CASE_INSENSITIVE" not in opts


def expression(expr: Mapping[str, Any], account: str, with_resources: bool, depth: int = 0) -> Condition:
    """A Cost Explorer ``Expression`` as a ledger condition."""
    if depth > MAX_DEPTH:
        raise invalid(f"Expression is nested deeper than {MAX_DEPTH} levels")
    present = [k for k in _EXPRESSION_KEYS if expr.get(k) is not None]
    if len(present) != 1:
        raise invalid("Expression must have exactly one of And, Or, Not, Dimensions, Tags, CostCategories "
                      f"(found {len(present)})")
    key = present[0]
    value = expr[key]
    if key in ("And", "Or"):
        if len(value) < 2:
            raise invalid(f"{key} expression must have at least 2 operands")
        return Combine(key.upper(), tuple(expression(e, account, with_resources, depth + 1) for e in value))
    if key == "Not":
        return Combine("NOT", (expression(value, account, with_resources, depth + 1),))
    if key == "CostCategories":
        _options(value.get("MatchOptions"), {"EQUALS", "ABSENT", "CASE_SENSITIVE"}, "CostCategories")
        return Combine("OR", ())  # no cost category is defined: it matches nothing
    if key == "Tags":
        absent, case = _options(value.get("MatchOptions"), {"EQUALS", "ABSENT", "CASE_SENSITIVE"}, "Tags")
        if not value.get("Key"):
            raise invalid("Tags expression must have a Key")
        return TagMatch(value["Key"], tuple(value.get("Values") or ()), absent, case)
    _, case = _options(value.get("MatchOptions"), {"EQUALS", "CASE_SENSITIVE"}, "Dimensions")
    if not value.get("Key") or not value.get("Values"):
        raise invalid("Dimensions expression must have a Key and Values")
    dim = dimension(value["Key"], True)
    values = list(value["Values"])
    raw = dim.values_of(values, account) if dim.values_of is not None else values
    return Match(dim.column, tuple(raw), case)


# ---------------------------------------------------------------------------------------------
# group definitions


@dataclass(frozen=True)
class Grouping:
    definition: dict[str, str]  # as the request gave it (echoed in GroupDefinitions)
    group: Group
    show: Callable[[str, str], str]


def groupings(group_by: list[Mapping[str, str]] | None, with_resources: bool) -> list[Grouping]:
    out: list[Grouping] = []
    for g in group_by or []:
        kind, key = g.get("Type"), g.get("Key")
        if not kind or not key:
            raise invalid("GroupBy must have a Type and a Key")
        if kind == "DIMENSION":
            dim = dimension(key, with_resources)
            out.append(Grouping({"Type": kind, "Key": key}, Group(column=dim.column), dim.show))
        elif kind == "TAG":
            out.append(Grouping({"Type": kind, "Key": key}, Group(tag=key),
                                lambda raw, a, k=key: f"{k}${raw}"))
        else:
            raise invalid(f"GroupBy Type {kind} is not supported by this endpoint (DIMENSION and TAG are)")
    if len(out) > MAX_GROUP_BY:
        raise invalid(f"GroupBy can have at most {MAX_GROUP_BY} group definitions")
    if len({(g.definition["Type"], g.definition["Key"]) for g in out}) != len(out):
        raise invalid("GroupBy has the same group definition twice")
    return out
