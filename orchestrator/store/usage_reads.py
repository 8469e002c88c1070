"""Reads of the usage ledger (``store/ledger.py``): billed ``quantity x seconds`` per time bucket
and group, for Cost Explorer, and the values and tag keys a period's usage shows.

Reads in whole hours sum the roll-ups plus the few open intervals: dimension-only reads the hourly
or daily roll-up, reads on one tag key its hourly or daily roll-up per tag (the untagged rest as the
slot's total less the tagged sums); the others (by resource id, several tag keys, the absence of a
tag in a filter, buckets not in whole hours) read the intervals in one SQL pass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from orchestrator.store.ledger import DAY as _DAY
from orchestrator.store.ledger import HOUR as _HOUR
from orchestrator.store.ledger import ROLL_UPS, TAG_ROLL_UPS

# what a query may filter and group on: the ledger's own columns
COLUMNS = frozenset({"resource_id", "resource_type", "region", "zone", "kind", "usage_type", "service",
                     "service_code", "unit", "instance_type"})
HOUR_COLUMNS = COLUMNS - {"resource_id", "resource_type"}  # what the roll-ups keep


@dataclass(frozen=True)
class Match:
    """``column`` is one of ``values`` (case-insensitively unless ``case_sensitive``)."""

    column: str
    values: tuple[str, ...]
    case_sensitive: bool = True


@dataclass(frozen=True)
class TagMatch:
    """The resource's tag ``key`` has one of ``values``; with ``absent``, or it has no such tag."""

    key: str
    values: tuple[str, ...]
    absent: bool = False
    case_sensitive: bool = True


@dataclass(frozen=True)
class Combine:
    op: str  # "AND", "OR" or "NOT" (one part)
    parts: tuple[Condition, ...]


Condition = Match | TagMatch | Combine


@dataclass(frozen=True)
class Group:
    """A group-by key: a ledger column, or a tag key (``tag`` set, ``column`` empty)."""

    column: str = ""
    tag: str = ""


@dataclass
class Query:
    edges: list[float]  # bucket boundaries, ascending: buckets [edges[i], edges[i+1])
    now: float
    width: float | None = None  # equal buckets of this many seconds (faster), else by edges
    where: Condition | None = None
    groups: list[Group] = field(default_factory=list)
    open_only: bool = False  # only intervals still open (a forecast's run rate)
    open_until: float | None = None  # open intervals accrue until then (default ``now``)


class Sum(NamedTuple):
    """``quantity x seconds`` billed in one bucket for one group, usage type and region (a tuple:
    an hourly answer has tens of thousands)."""

    bucket: int
    keys: tuple[str, ...]
    usage_type: str
    region: str
    unit: str
    quantity_seconds: float


class _Sql:
    def __init__(self) -> None:
        self.args: dict[str, object] = {}

    def arg(self, value: object) -> str:
        name = f"p{len(self.args)}"
        self.args[name] = value
        return f":{name}"

    def cond(self, c: Condition) -> str:
        if isinstance(c, Match):
            if c.column not in COLUMNS:
                raise ValueError(f"not a ledger column: {c.column}")
            return self._in(f"l.{c.column}", c.values, c.case_sensitive)
        if isinstance(c, TagMatch):  # on the tag set the interval accrued under
            key = self.arg(c.key)
            inner = self._in("i.value", c.values, c.case_sensitive) if c.values else "0"
            has = f"l.tag_set IN (SELECT i.tag_set FROM usage_tag_items i WHERE i.key = {key} AND {inner})"
            if c.absent:
                return f"({has} OR l.tag_set NOT IN (SELECT i.tag_set FROM usage_tag_items i WHERE i.key = {key}))"
            return has
        if c.op == "NOT":
            return f"NOT ({self.cond(c.parts[0])})"
        if not c.parts:  # an empty AND holds, an empty OR does not
            return "1" if c.op == "AND" else "0"
        return "(" + f" {c.op} ".join(self.cond(p) for p in c.parts) + ")"

    def _in(self, expr: str, values: Iterable[str], case_sensitive: bool) -> str:
        vals = list(values)
        if not vals:
            return "0"
        if case_sensitive:
            return f"{expr} IN ({', '.join(self.arg(v) for v in vals)})"
        return f"lower({expr}) IN ({', '.join(self.arg(v.lower()) for v in vals)})"

    def group(self, g: Group) -> str:
        if g.tag:  # the value in the tag set the interval accrued under
            return (f"COALESCE((SELECT i.value FROM usage_tag_items i WHERE i.tag_set = l.tag_set"
                    f" AND i.key = {self.arg(g.tag)}), '')")
        if g.column not in COLUMNS:
            raise ValueError(f"not a ledger column: {g.column}")
        return f"l.{g.column}"


def _bucket(expr: str, q: Query) -> str:
    t0 = float(q.edges[0])
    if q.width:
        return f"CAST(({expr} - {t0!r}) / {float(q.width)!r} AS INTEGER)"
    arms = " ".join(f"WHEN {expr} < {float(e)!r} THEN {i}" for i, e in enumerate(q.edges[1:-1]))
    return f"(CASE {arms} ELSE {len(q.edges) - 2} END)" if arms else "0"


def aggregate(db: sqlite3.Connection, q: Query) -> list[Sum]:
    """Billed ``quantity x seconds`` per bucket, group keys, usage type and region, in ``q``'s
    period: from the hourly roll-up plus the open intervals when the query names dimensions only
    and its buckets are whole hours, else from the ledger's intervals."""
    if q.open_only or any(e % _HOUR for e in q.edges):
        return _merged(_from_ledger(db, q))
    if _by_dimensions(q):
        return _merged(_from_roll_ups(db, q) + _from_ledger(db, replace(q, open_only=True)))
    by_tag = _by_one_tag(q)
    if by_tag is not None:
        return _merged(_from_tag_roll_ups(db, q, *by_tag) + _from_ledger(db, replace(q, open_only=True)))
    return _merged(_from_ledger(db, q))


def _merged(sums: list[Sum]) -> list[Sum]:
    """One Sum per bucket, keys, usage type, region and unit."""
    out: dict[tuple[int, tuple[str, ...], str, str, str], float] = {}
    for s in sums:
        key = (s.bucket, s.keys, s.usage_type, s.region, s.unit)
        out[key] = out.get(key, 0.0) + s.quantity_seconds
    return [Sum(b, k, u, r, unit, v) for (b, k, u, r, unit), v in out.items()]


def _columns_only(c: Condition) -> bool:
    if isinstance(c, Match):
        return c.column in HOUR_COLUMNS
    if isinstance(c, TagMatch):
        return False
    return all(_columns_only(p) for p in c.parts)


def _by_dimensions(q: Query) -> bool:
    return (all(not g.tag and g.column in HOUR_COLUMNS for g in q.groups)
            and (q.where is None or _columns_only(q.where)))


def _by_one_tag(q: Query) -> tuple[str, TagMatch | None] | None:
    """(key, filter on it) when ``q`` involves one tag key, which the tag roll-ups answer: groups
    by dimensions and at most that tag; a filter of dimensions, that tag's values (not its absence),
    or both under one AND. None otherwise."""
    tags = [g.tag for g in q.groups if g.tag]
    if len(tags) > 1 or not all(g.tag or g.column in HOUR_COLUMNS for g in q.groups):
        return None
    parts = (list(q.where.parts) if isinstance(q.where, Combine) and q.where.op == "AND"
             else [q.where] if q.where is not None else [])
    matches = [p for p in parts if isinstance(p, TagMatch)]
    if len(matches) > 1 or not all(_columns_only(p) for p in parts if not isinstance(p, TagMatch)):
        return None
    match = matches[0] if matches else None
    if match is not None and (match.absent or "" in match.values or (tags and tags[0] != match.key)):
        return None
    key = tags[0] if tags else match.key if match is not None else None
    return None if key is None else (key, match)


def _from_tag_roll_ups(db: sqlite3.Connection, q: Query, key: str, match: TagMatch | None) -> list[Sum]:
    """The closed intervals' part of a query on one tag key, from ``usage_tag_days`` when every
    bucket is whole UTC days, else ``usage_tag_hours``: the sums of each of the key's values; grouped by the key without a filter on it, also the rest (intervals
    without the key, value "") as the dimension roll-up's total less the tagged sums."""
    sql = _Sql()
    dims = [g for g in q.groups if not g.tag]
    position = next((i for i, g in enumerate(q.groups) if g.tag), None)
    keys = [("l.value" if g.tag else sql.group(g)) for g in q.groups]
    parts = [p for p in (q.where.parts if isinstance(q.where, Combine) else [q.where] if q.where else [])
             if not isinstance(p, TagMatch)]
    where = "".join(f" AND {sql.cond(p)}" for p in parts)
    if match is not None:
        where += f" AND {sql._in('l.value', match.values, match.case_sensitive)}"
    table, width = TAG_ROLL_UPS[1] if all(e % _DAY == 0 for e in q.edges) else TAG_ROLL_UPS[0]
    s0, s1 = sql.arg(int(q.edges[0] // width)), sql.arg(int(q.edges[-1] // width))
    k = sql.arg(key)
    key_cols = "".join(f", {c}" for c in keys)
    rows = db.execute(f"SELECT {_bucket(f'(l.slot * {float(width)!r})', q)} AS b{key_cols}, l.usage_type, l.region,"
                      f" l.unit, SUM(l.quantity_seconds) FROM {table} l WHERE l.key = {k}"
                      f" AND l.slot >= {s0} AND l.slot < {s1}{where}"
                      f" GROUP BY b{key_cols}, l.usage_type, l.region, l.unit", sql.args)
    n = len(keys)
    tagged = [Sum(r[0], r[1:1 + n], r[1 + n], r[2 + n], r[3 + n], r[4 + n]) for r in rows]
    if position is None or match is not None:
        return tagged
    total: dict[tuple[int, tuple[str, ...], str, str, str], float] = {}
    for t in _from_roll_ups(db, replace(q, groups=dims, where=Combine("AND", tuple(parts)) if parts else None)):
        total[(t.bucket, t.keys, t.usage_type, t.region, t.unit)] = t.quantity_seconds
    rest = dict(total)
    for t in tagged:
        line = (t.bucket, t.keys[:position] + t.keys[position + 1:], t.usage_type, t.region, t.unit)
        rest[line] = rest.get(line, 0.0) - t.quantity_seconds
    return tagged + [Sum(b, ks[:position] + ("",) + ks[position:], u, r, unit, v)
                     for (b, ks, u, r, unit), v in rest.items() if v > _ROUNDING * total.get((b, ks, u, r, unit), 0.0)]


_ROUNDING = 1e-9  # a remainder this small relative to its total is the sums' rounding, not untagged usage


def _from_roll_ups(db: sqlite3.Connection, q: Query) -> list[Sum]:
    """The closed intervals' part, from ``usage_days`` when every bucket is whole UTC days (daily
    and monthly reads), else from ``usage_hours``."""
    table, width = ROLL_UPS[1] if all(e % _DAY == 0 for e in q.edges) else ROLL_UPS[0]
    sql = _Sql()
    keys = [sql.group(g) for g in q.groups]
    key_cols = "".join(f", {k}" for k in keys)
    where = f" AND {sql.cond(q.where)}" if q.where is not None else ""
    s0, s1 = sql.arg(int(q.edges[0] // width)), sql.arg(int(q.edges[-1] // width))
    bucket = _bucket(f"(l.slot * {float(width)!r})", q)
    group_keys = "".join(f", {k}" for k in keys)
    rows = db.execute(f"SELECT {bucket} AS b{key_cols}, l.usage_type, l.region, l.unit, SUM(l.quantity_seconds)"
                      f" FROM {table} l WHERE l.slot >= {s0} AND l.slot < {s1}{where}"
                      f" GROUP BY b{group_keys}, l.usage_type, l.region, l.unit", sql.args)
    n = len(keys)
    return [Sum(r[0], r[1:1 + n], r[1 + n], r[2 + n], r[3 + n], r[4 + n]) for r in rows]


def _from_ledger(db: sqlite3.Connection, q: Query) -> list[Sum]:
    """From the intervals themselves, in one pass: SQLite groups them by the buckets their billed
    span starts and ends in (and the group keys), summing ``quantity``, ``quantity x start`` and
    ``quantity x end``; each such group is then spread over its buckets here (the first and last
    partly, those between whole), so the work after SQL is per group, never per interval."""
    sql = _Sql()
    t0, t1 = sql.arg(float(q.edges[0])), sql.arg(float(q.edges[-1]))
    now = sql.arg(q.open_until if q.open_until is not None else q.now)
    keys = [sql.group(g) for g in q.groups]
    key_cols = "".join(f", {k} AS k{i}" for i, k in enumerate(keys))
    where = f" AND {sql.cond(q.where)}" if q.where is not None else ""
    if q.open_only:  # SQLite reads them through the partial index usage_ledger_open_start: the few open ones
        where += " AND l.end_at IS NULL"
    inner = (f"SELECT l.usage_type AS usage_type, l.region AS region, l.unit AS unit, l.quantity AS quantity"
             f"{key_cols}, MAX(l.start_at, {t0}) AS s,"
             f" MIN(MAX(COALESCE(l.end_at, {now}), l.start_at + l.minimum), {t1}) AS e"
             f" FROM usage_ledger l WHERE l.start_at < {t1}{where}")
    group_keys = "".join(f", k{i}" for i in range(len(keys)))
    b_s, b_e = _bucket("s", q), _bucket("(e - 0.000001)", q)
    rows = db.execute(f"SELECT {b_s} AS bs, {b_e} AS be{group_keys}, usage_type, region, unit,"
                      f" SUM(quantity), SUM(quantity * (s - {t0})), SUM(quantity * (e - {t0}))"
                      f" FROM ({inner}) WHERE e > s"
                      f" GROUP BY bs, be{group_keys}, usage_type, region, unit", sql.args)
    return _spread(rows, len(keys), [e - q.edges[0] for e in q.edges])  # times relative to the start: exact


Line = tuple[tuple[str, ...], str, str, str]  # group keys, usage type, region, unit


def _spread(rows: Iterable[sqlite3.Row], n: int, edges: list[float]) -> list[Sum]:
    """Each (first bucket, last bucket, line) group over its buckets: the first and last partly,
    those between at ``sum(quantity)`` per second, added up per line with a difference array (so
    the work is per line and bucket, not per group and bucket)."""
    amounts: dict[tuple[int, Line], float] = {}
    steps: dict[Line, list[float]] = {}

    def add(bucket: int, line: Line, value: float) -> None:
        amounts[(bucket, line)] = amounts.get((bucket, line), 0.0) + value

    for r in rows:
        first, last = int(r[0]), int(r[1])
        line: Line = (tuple(str(v) for v in r[2:2 + n]), r[2 + n], r[3 + n], r[4 + n])
        qsum, q_start, q_end = float(r[5 + n]), float(r[6 + n]), float(r[7 + n])
        if first == last:
            add(first, line, q_end - q_start)
            continue
        add(first, line, qsum * edges[first + 1] - q_start)
        add(last, line, q_end - qsum * edges[last])
        if last > first + 1:
            step = steps.setdefault(line, [0.0] * len(edges))
            step[first + 1] += qsum
            step[last] -= qsum
    for line, step in steps.items():
        rate = 0.0
        for i in range(len(edges) - 1):
            rate += step[i]
            if rate:
                add(i, line, rate * (edges[i + 1] - edges[i]))
    return [Sum(b, ks, usage, region, unit, v) for (b, (ks, usage, region, unit)), v in amounts.items()]


def distinct(db: sqlite3.Connection, column: str, start: float, end: float, now: float,
             where: Condition | None = None) -> list[str]:
    """The values of ``column`` over the intervals billed in [start, end) that match ``where``."""
    if column not in COLUMNS:
        raise ValueError(f"not a ledger column: {column}")
    sql = _Sql()
    cond = f" AND {sql.cond(where)}" if where is not None else ""
    args = {**sql.args, "s": start, "e": end, "n": now}
    rows = db.execute(f"SELECT DISTINCT l.{column} FROM usage_ledger l WHERE l.start_at < :e"
                      f" AND MAX(COALESCE(l.end_at, :n), l.start_at + l.minimum) > :s{cond} ORDER BY 1", args)
    return [str(r[0]) for r in rows]


def tag_keys(db: sqlite3.Connection, start: float, end: float, now: float) -> list[str]:
    rows = db.execute("SELECT DISTINCT t.key FROM usage_tag_items t JOIN usage_ledger l ON t.tag_set = l.tag_set"
                      " WHERE l.start_at < ? AND MAX(COALESCE(l.end_at, ?), l.start_at + l.minimum) > ?"
                      " ORDER BY 1", (end, now, start))
    return [str(r[0]) for r in rows]
