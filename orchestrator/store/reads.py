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
from orchestrator.store.schema import FIELD_NAMES

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
