"""Read queries the store builds from a request: ``IN`` lists, a Describe's narrowing
(``domain/narrowing.py``) and the tag reads. Functions of a connection; :class:`Store` calls them
under its lock (as ``usage_reads``).

Where a query names both an indexed column and ids, a ``+`` before the column keeps SQLite (which
has no statistics: no ANALYZE) from choosing that column's index, whose every row it would then
read, over the lookup by id: the cost stays that of the ids asked, not of the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.domain.narrowing import Narrowing
from orchestrator.store.schema import COUNTED, FIELD_INDEXES, FIELD_NAMES

# Records come oldest first. A whole type's read walks the type's listing index in that order
# (migration 6); a read narrowed by an indexed field sorts its few rows instead: ``+`` keeps SQLite,
# which has no statistics, from walking every record of the type in order to spare that sort.
OLDEST_FIRST = " ORDER BY created_at, id"
OLDEST_FIRST_NARROWED = " ORDER BY +created_at, +id"


def in_list(values: Sequence[Any]) -> str:
    return f"IN ({','.join('?' * len(values))})"


def narrowed(type: str, narrow: Narrowing) -> tuple[str, list[Any]]:
    """The ``AND ...`` conditions of ``narrow`` on ``type``'s records (a tag by the tags'
    ``(key, value)`` index), and their arguments."""
    sql, args = "", []
    if narrow.states is not None:
        sql += f" AND state {in_list(narrow.states)}"
        args.extend(narrow.states)
    for key, values in narrow.tagged:
        # ``+resource_type``: the (key, value) index, not the type's tag listing (migration 6)
        sql += f" AND id IN (SELECT resource_id FROM tags WHERE key = ? AND value {in_list(values)} AND +resource_type = ?)"
        args.extend([key, *values, type])
    for name, values in narrow.fields.items():
        if name not in FIELD_NAMES:
            raise ValueError(f"not a selectable field: {name!r}")
        sql += f" AND json_extract(data, '$.{name}') {in_list(values)}"
        args.extend(values)
    return sql, args


def tags_of(db: sqlite3.Connection, resource_id: str) -> dict[str, str]:
    rows = db.execute("SELECT key, value FROM tags WHERE resource_id = ? ORDER BY key", (resource_id,)).fetchall()
    return {r[0]: r[1] for r in rows}


def tags_by_resource(db: sqlite3.Connection, resource_type: str, region: str,
                     ids: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
    """All tags of one resource type in a region (of ``ids`` only: by id), grouped by resource id."""
    if ids is None:
        sql, args = "SELECT resource_id, key, value FROM tags WHERE resource_type = ? AND region = ?", [
            resource_type, region]
    elif not ids:
        return {}
    else:
        sql = f"SELECT resource_id, key, value FROM tags WHERE +resource_type = ? AND +region = ? AND resource_id {in_list(ids)}"
        args = [resource_type, region, *ids]
    out: dict[str, dict[str, str]] = {}
    for rid, key, value in db.execute(sql + " ORDER BY resource_id, key", args).fetchall():
        out.setdefault(rid, {})[key] = value
    return out


def all_tags(db: sqlite3.Connection, region: str, resource_ids: Iterable[str] | None = None,
             keys: Iterable[str] | None = None) -> list[tuple[str, str, str, str]]:
    """(resource_id, resource_type, key, value) for every tag in the region (of ``resource_ids``: by
    id; with one of ``keys``: by the region's (region, key) index), sorted."""
    by_id = "+" if resource_ids is not None else ""
    sql, args = f"SELECT resource_id, resource_type, key, value FROM tags WHERE {by_id}region = ?", [region]
    for column, wanted in (("resource_id", resource_ids), ("key", keys)):
        if wanted is not None:
            values = list(wanted)
            sql += f" AND {column} {in_list(values)}"
            args.extend(values)
    return [tuple(r) for r in db.execute(sql + " ORDER BY resource_id, key", args).fetchall()]  # type: ignore[misc]


def field_values(db: sqlite3.Connection, type: str, name: str, region: str) -> list[Any]:
    """The values (``None`` left out, repeats kept) of the top-level field ``name`` over the
    records of ``type`` in ``region``, read from the field's expression index
    (:data:`schema.FIELD_INDEXES`; ``INDEXED BY``: without statistics SQLite may pick another)
    without one JSON document parsed: the public addresses in use at 10,000 instances in 8 ms, not 80."""
    index = FIELD_INDEXES.get(name)
    if index is None:
        raise ValueError(f"no index holds {name!r}")
    value = f"json_extract(data, '$.{name}')"
    return [r[0] for r in db.execute(f"SELECT {value} FROM resources INDEXED BY {index}"
                                     f" WHERE type = ? AND region = ? AND {value} IS NOT NULL", (type, region))]


def count_by(db: sqlite3.Connection, type: str, name: str, region: str | None, states: Iterable[str] | None,
             skip_states: Iterable[str], skip_ids: Iterable[str], ids_per_read: int) -> list[tuple[Any, int]]:
    """``(value, how many)`` of the field ``name`` that :data:`schema.COUNTED` keeps totals of for
    ``type``, over its records (in ``region``, in one of ``states``, in none of ``skip_states``, not
    ``skip_ids``): read from the totals the triggers keep (a few rows, at any number of records),
    less the skipped records that count (read by id). A record without the field counts under ``None``."""
    if COUNTED.get(type) != name:
        raise ValueError(f"no totals are kept of {type} {name!r}")
    wanted = None if states is None else {str(s) for s in states}  # (StrEnum states as text)
    skipped = {str(s) for s in skip_states}

    def counts(state: str, in_region: str) -> bool:
        return (wanted is None or state in wanted) and state not in skipped and region in (None, in_region)
    totals: dict[Any, int] = {}
    for value, state, in_region, count in db.execute(
            "SELECT value, state, region, count FROM resource_totals WHERE type = ? AND count != 0", (type,)):
        if counts(state, in_region):
            totals[value] = totals.get(value, 0) + count
    ids = list(dict.fromkeys(skip_ids))
    for part in (ids[at:at + ids_per_read] for at in range(0, len(ids), ids_per_read)):
        for value, state, in_region in db.execute(
                f"SELECT IFNULL(json_extract(data, '$.{name}'), ''), state, region FROM resources"
                f" WHERE type = ? AND id {in_list(part)}", [type, *part]):
            if counts(state, in_region):
                totals[value] = totals.get(value, 0) - 1
    return [(None if value == "" else value, n) for value, n in totals.items() if n]
