"""The usage ledger: billable intervals, written in the transaction of the record change that
starts or ends them, and read as sums per time bucket and group.

One row per interval a resource accrued one meter (``domain/billing.Meter``): opened with
``end_at`` NULL, closed once by setting ``end_at``. Rows are never deleted nor changed otherwise
(triggers refuse it), so the table is append-only but for that single close: a crash cannot lose an
interval nor count one twice, because the row opens and closes in the very transaction that moves
the resource's state (``Store.insert/update/transition/delete`` call :func:`sync`).

The open intervals of a resource are the truth :func:`sync` compares a record's new meters with,
not the record's previous data: a meter present and unchanged stays open, a meter gone is closed,
a new one opened (with the 60-second minimum when its kind was not open before: a start, not a
resize), a changed one (ModifyVolume's new size) closed and reopened without a new minimum.

Reading bills an interval from ``start_at`` to ``max(end_at or now, start_at + minimum)``: open
intervals up to "now", and a 20-second run as 60 seconds.

``usage_hours`` and ``usage_days`` roll the closed intervals up per UTC hour and day and usage
line (region, zone, usage type), written when an interval closes, in the same transaction: a read
that filters and groups by dimensions only (what Cost Explorer's GetCostAndUsage mostly asks) sums
those slots (days when its buckets are whole days, else hours) plus the few open intervals,
whatever the ledger's length; a read by resource id or tag reads the ledger itself. The roll-ups
are derived: :func:`rebuild_roll_ups` recomputes them from the ledger. The reads (Cost Explorer's
sums per bucket and group) are ``store/usage_reads.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from orchestrator.domain import billing
from orchestrator.domain.billing import Meter

SCHEMA: list[str] = [
    """
    CREATE TABLE usage_ledger (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        resource_id   TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        region        TEXT NOT NULL,
        zone          TEXT NOT NULL,
        kind          TEXT NOT NULL,
        usage_type    TEXT NOT NULL,
        service       TEXT NOT NULL,
        service_code  TEXT NOT NULL,
        unit          TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        quantity      REAL NOT NULL,
        minimum       REAL NOT NULL,
        start_at      REAL NOT NULL,
        end_at        REAL,
        tag_set       INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX usage_ledger_open ON usage_ledger (resource_id) WHERE end_at IS NULL",
    "CREATE INDEX usage_ledger_start ON usage_ledger (start_at)",
    "CREATE INDEX usage_ledger_open_start ON usage_ledger (start_at) WHERE end_at IS NULL",
    # the closed intervals' billed quantity x seconds per UTC hour and per UTC day: roll-ups of the
    # ledger, kept in the transaction that closes an interval, so dimension-only reads sum slots
    """
    CREATE TABLE usage_hours (
        slot          INTEGER NOT NULL,
        region        TEXT NOT NULL,
        zone          TEXT NOT NULL,
        usage_type    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        service       TEXT NOT NULL,
        service_code  TEXT NOT NULL,
        unit          TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        quantity_seconds REAL NOT NULL,
        PRIMARY KEY (slot, region, zone, usage_type)
    )
    """,
    """
    CREATE TABLE usage_days (
        slot          INTEGER NOT NULL,
        region        TEXT NOT NULL,
        zone          TEXT NOT NULL,
        usage_type    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        service       TEXT NOT NULL,
        service_code  TEXT NOT NULL,
        unit          TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        quantity_seconds REAL NOT NULL,
        PRIMARY KEY (slot, region, zone, usage_type)
    )
    """,
    # the resource's tags while an interval accrued (0: none): a tag change closes the resource's open
    # intervals and reopens them under the new set, so cost follows the tags it was spent under
    "CREATE TABLE usage_tag_sets (id INTEGER PRIMARY KEY, tags TEXT NOT NULL UNIQUE)",
    """
    CREATE TABLE usage_tag_items (
        tag_set INTEGER NOT NULL,
        key     TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (tag_set, key)
    )
    """,
    "CREATE INDEX usage_tag_items_key ON usage_tag_items (key, value)",
    # the closed intervals' billed quantity x seconds per UTC hour and day and tag (key, value) they
    # carried: what reads grouped or filtered by one tag key sum
    """
    CREATE TABLE usage_tag_hours (
        slot          INTEGER NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        region        TEXT NOT NULL,
        zone          TEXT NOT NULL,
        usage_type    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        service       TEXT NOT NULL,
        service_code  TEXT NOT NULL,
        unit          TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        quantity_seconds REAL NOT NULL,
        PRIMARY KEY (key, slot, value, region, zone, usage_type)
    )
    """,
    """
    CREATE TABLE usage_tag_days (
        slot          INTEGER NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        region        TEXT NOT NULL,
        zone          TEXT NOT NULL,
        usage_type    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        service       TEXT NOT NULL,
        service_code  TEXT NOT NULL,
        unit          TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        quantity_seconds REAL NOT NULL,
        PRIMARY KEY (key, slot, value, region, zone, usage_type)
    )
    """,
    """
    CREATE TRIGGER usage_ledger_no_delete BEFORE DELETE ON usage_ledger
    BEGIN SELECT RAISE(ABORT, 'the usage ledger is append-only'); END
    """,
    """
    CREATE TRIGGER usage_ledger_no_rewrite BEFORE UPDATE OF seq, resource_id, resource_type, region, zone,
        kind, usage_type, service, service_code, unit, instance_type, quantity, start_at, tag_set ON usage_ledger
    BEGIN SELECT RAISE(ABORT, 'the usage ledger is append-only'); END
    """,
    # the minimum may only shrink, in the close itself: a change (resize, retag) hands the rest of
    # it on to the next interval (see ``sync``)
    """
    CREATE TRIGGER usage_ledger_minimum_at_close BEFORE UPDATE OF minimum ON usage_ledger
    WHEN OLD.end_at IS NOT NULL OR NEW.end_at IS NULL OR NEW.minimum > OLD.minimum OR NEW.minimum < 0
    BEGIN SELECT RAISE(ABORT, 'a ledger minimum only shrinks as its interval closes'); END
    """,
    """
    CREATE TRIGGER usage_ledger_close_once BEFORE UPDATE OF end_at ON usage_ledger
    WHEN OLD.end_at IS NOT NULL OR NEW.end_at IS NULL OR NEW.end_at < OLD.start_at
    BEGIN SELECT RAISE(ABORT, 'a ledger interval closes once, not before it opened'); END
    """,
]

_COLUMNS = ("resource_id, resource_type, region, zone, kind, usage_type, service, service_code, unit,"
            " instance_type, quantity, minimum, start_at, tag_set")


@dataclass(frozen=True)
class Interval:
    seq: int
    resource_id: str
    resource_type: str
    region: str
    zone: str
    kind: str
    usage_type: str
    service: str
    service_code: str
    unit: str
    instance_type: str
    quantity: float
    minimum: float
    start_at: float
    end_at: float | None
    tag_set: int = 0

    def billed_until(self, now: float) -> float:
        return max(self.end_at if self.end_at is not None else now, self.start_at + self.minimum)


def _same(row: sqlite3.Row, m: Meter, tag_set: int) -> bool:
    return (row["usage_type"], row["quantity"], row["zone"], row["instance_type"], row["tag_set"]) == (
        m.usage_type, m.quantity, m.zone, m.instance_type, tag_set)


def tag_set(db: sqlite3.Connection, resource_id: str) -> int:
    """The id of the resource's current tags as a set (0 when it has none), made on first use."""
    items = [(str(k), str(v)) for k, v in db.execute(
        "SELECT key, value FROM tags WHERE resource_id = ? ORDER BY key", (resource_id,))]
    if not items:
        return 0
    canonical = json.dumps(items, separators=(",", ":"))
    row = db.execute("SELECT id FROM usage_tag_sets WHERE tags = ?", (canonical,)).fetchone()
    if row is not None:
        return int(row[0])
    set_id = int(db.execute("INSERT INTO usage_tag_sets (tags) VALUES (?)", (canonical,)).lastrowid or 0)
    db.executemany("INSERT INTO usage_tag_items (tag_set, key, value) VALUES (?, ?, ?)",
                   [(set_id, k, v) for k, v in items])
    return set_id


def sync(db: sqlite3.Connection, resource_id: str, resource_type: str, region: str,
         meters: Sequence[Meter], at: float) -> None:
    """Make the resource's open intervals be exactly ``meters`` under its current tags from ``at``
    on (see the module docstring); called inside the transaction that wrote the record or its tags.

    A meter that stops (its kind no longer wanted) closes and keeps its minimum. A meter that
    changes (size, usage type, tags) closes at ``at`` billed for exactly what it ran, and its
    successor opens with the rest of the minimum: a resize or retag in the first minute neither
    bills that minute twice nor drops it."""
    open_rows = db.execute("SELECT * FROM usage_ledger WHERE resource_id = ? AND end_at IS NULL",
                           (resource_id,)).fetchall()
    wanted = {m.kind: m for m in meters}
    tags = tag_set(db, resource_id) if wanted else 0
    carried: dict[str, float] = {}
    for row in open_rows:
        m = wanted.get(row["kind"])
        if m is not None and _same(row, m, tags):
            del wanted[row["kind"]]
            continue
        end = max(at, row["start_at"])
        minimum = float(row["minimum"])
        if m is not None:  # a change, not a stop: the rest of the minimum moves on
            carried[row["kind"]] = max(0.0, row["start_at"] + minimum - end)
            minimum = min(minimum, end - row["start_at"])
        db.execute("UPDATE usage_ledger SET end_at = ?, minimum = ? WHERE seq = ?", (end, minimum, row["seq"]))
        _roll_up(db, row, end, minimum)
    for m in wanted.values():
        if m.kind in carried:
            minimum = carried[m.kind]
        else:
            minimum = billing.MINIMUM_SECONDS if billing.starts_with_minimum(m.kind) else 0.0
        db.execute(f"INSERT INTO usage_ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (resource_id, resource_type, region, m.zone, m.kind, m.usage_type, m.service,
                    m.service_code, m.unit, m.instance_type, m.quantity, minimum, at, tags))


def retag(db: sqlite3.Connection, resource_id: str, at: float) -> None:
    """After the resource's tags changed: its open intervals continue under the new tag set."""
    rows = db.execute("SELECT * FROM usage_ledger WHERE resource_id = ? AND end_at IS NULL ORDER BY seq",
                      (resource_id,)).fetchall()
    if rows:
        sync(db, resource_id, rows[0]["resource_type"], rows[0]["region"], [_meter_of(r) for r in rows], at)


def _meter_of(row: sqlite3.Row) -> Meter:
    return Meter(row["kind"], row["usage_type"], row["service"], row["service_code"], row["unit"],
                 float(row["quantity"]), row["zone"], row["instance_type"])


HOUR, DAY = 3600, 86400
ROLL_UPS = (("usage_hours", HOUR), ("usage_days", DAY))  # (table, slot seconds)
TAG_ROLL_UPS = (("usage_tag_hours", HOUR), ("usage_tag_days", DAY))  # the same per tag (key, value)
_LINE = "region, zone, usage_type, kind, service, service_code, unit, instance_type"


def _slots(start: float, until: float, width: int) -> Iterator[tuple[int, float]]:
    """(slot, seconds of [start, until) in it) for each slot of ``width`` seconds it touches."""
    slot = int(start // width)
    while slot * width < until:
        lo, hi = max(start, slot * width), min(until, (slot + 1) * width)
        if hi > lo:
            yield slot, hi - lo
        slot += 1


def _roll_up(db: sqlite3.Connection, row: sqlite3.Row, end: float, minimum: float) -> None:
    """Add a closed interval's billed quantity x seconds to each roll-up, slot by slot, and per
    hour and day to each tag it carried."""
    start = float(row["start_at"])
    until = max(end, start + minimum)
    quantity = float(row["quantity"])
    line = (row["region"], row["zone"], row["usage_type"], row["kind"], row["service"], row["service_code"],
            row["unit"], row["instance_type"])
    for table, width in ROLL_UPS:
        db.executemany(f"INSERT INTO {table} (slot, {_LINE}, quantity_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT (slot, region, zone, usage_type)"
                       " DO UPDATE SET quantity_seconds = quantity_seconds + excluded.quantity_seconds",
                       [(slot, *line, quantity * secs) for slot, secs in _slots(start, until, width)])
    if not row["tag_set"]:
        return
    items = db.execute("SELECT key, value FROM usage_tag_items WHERE tag_set = ?", (row["tag_set"],)).fetchall()
    for table, width in TAG_ROLL_UPS:
        db.executemany(f"INSERT INTO {table} (slot, key, value, {_LINE}, quantity_seconds)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT (key, slot, value, region, zone, usage_type)"
                       " DO UPDATE SET quantity_seconds = quantity_seconds + excluded.quantity_seconds",
                       [(slot, k, v, *line, quantity * secs) for slot, secs in _slots(start, until, width)
                        for k, v in items])


def rebuild_roll_ups(db: sqlite3.Connection) -> None:
    """Recompute the roll-ups from the ledger's closed intervals (they are derived data)."""
    for table, _ in (*ROLL_UPS, *TAG_ROLL_UPS):
        db.execute(f"DELETE FROM {table}")
    for row in db.execute("SELECT * FROM usage_ledger WHERE end_at IS NOT NULL").fetchall():
        _roll_up(db, row, float(row["end_at"]), float(row["minimum"]))


def intervals(db: sqlite3.Connection, since: float | None = None, resource_id: str | None = None) -> list[Interval]:
    """Every interval that was still open at or ended after ``since`` (all when None), oldest first."""
    sql, args = "SELECT * FROM usage_ledger WHERE 1", []
    if since is not None:
        sql += " AND (end_at IS NULL OR end_at + minimum >= ?)"
        args.append(since)
    if resource_id is not None:
        sql += " AND resource_id = ?"
        args.append(resource_id)
    rows = db.execute(sql + " ORDER BY seq", args).fetchall()
    return [Interval(**{k: r[k] for k in r.keys()}) for r in rows]
