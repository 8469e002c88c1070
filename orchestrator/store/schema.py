"""The state database's schema: its numbered migrations (``PRAGMA user_version`` records how many
ran) and the top-level JSON fields the store may select or match on (:data:`FIELD_NAMES`: the
expression indexes the hot queries read are on them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from orchestrator.store import ledger

# the field whose totals (per type, region, value and state) the ``resource_totals`` table keeps:
# what :meth:`Store.count_by` counts (an instance's memory is its type's, a volume's space its size)
COUNTED = {"instance": "InstanceType", "volume": "Size"}


def _totals() -> list[str]:
    """Migration 7: the ``resource_totals`` table, its triggers on ``resources`` and its first
    totals. A record without the field counts under ``''``. A row whose count fell to 0 stays (the
    few (value, state) pairs a type goes through). A record's type never changes (no write sets it)."""
    out = ["""
    CREATE TABLE resource_totals (
        type   TEXT NOT NULL,
        region TEXT NOT NULL,
        value  NOT NULL,
        state  TEXT NOT NULL,
        count  INTEGER NOT NULL,
        PRIMARY KEY (type, region, value, state)
    ) WITHOUT ROWID
    """, "DROP INDEX resources_size"]
    for type, field in COUNTED.items():
        def value(row: str) -> str:
            return f"IFNULL(json_extract({row}.data, '$.{field}'), '')"  # noqa: B023 (used at once)

        def add(row: str) -> str:
            return (f"INSERT INTO resource_totals (type, region, value, state, count)"
                    f" VALUES ({row}.type, {row}.region, {value(row)}, {row}.state, 1)"
                    " ON CONFLICT (type, region, value, state) DO UPDATE SET count = count + 1;")

        def remove(row: str) -> str:
            return (f"UPDATE resource_totals SET count = count - 1 WHERE type = {row}.type"
                    f" AND region = {row}.region AND value = {value(row)} AND state = {row}.state;")
        out += [
            f"CREATE TRIGGER resource_totals_insert_{type} AFTER INSERT ON resources"
            f" WHEN NEW.type = '{type}' BEGIN {add('NEW')} END",
            f"CREATE TRIGGER resource_totals_delete_{type} AFTER DELETE ON resources"
            f" WHEN OLD.type = '{type}' BEGIN {remove('OLD')} END",
            f"CREATE TRIGGER resource_totals_update_{type} AFTER UPDATE OF region, state, data ON resources"
            f" WHEN OLD.type = '{type}' AND (OLD.region IS NOT NEW.region OR OLD.state IS NOT NEW.state"
            f" OR {value('OLD')} IS NOT {value('NEW')})"
            f" BEGIN {remove('OLD')} {add('NEW')} END",
            f"INSERT INTO resource_totals (type, region, value, state, count) SELECT type, region,"
            f" IFNULL(json_extract(data, '$.{field}'), ''), state, COUNT(*) FROM resources WHERE type = '{type}'"
            " GROUP BY 1, 2, 3, 4",
        ]
    return out


MIGRATIONS: list[str | list[str]] = [
    # 1: resources, tags, settings
    """
    CREATE TABLE resources (
        id         TEXT PRIMARY KEY,
        type       TEXT NOT NULL,
        region     TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT '',
        data       TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        version    INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX resources_type_region ON resources (type, region);
    CREATE TABLE tags (
        resource_id   TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        region        TEXT NOT NULL,
        PRIMARY KEY (resource_id, key)
    );
    CREATE INDEX tags_region ON tags (region, key);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: the usage ledger (store/ledger.py); meters of records already stored open at the upgrade
    ledger.SCHEMA,
    # 3: the fields the hot paths select on (:meth:`Store.fields`, :meth:`Store.list_where`): an
    # ENI's subnet (address allocation), an instance's VPC (a VPC's sync), an instance's automatic
    # public IP (public IP allocation), a request's ClientToken (RunInstances, CreateVolume: boto3
    # sends one with every call)
    """
    CREATE INDEX resources_subnet ON resources (type, region, json_extract(data, '$.SubnetId'));
    CREATE INDEX resources_vpc ON resources (type, region, json_extract(data, '$.VpcId'));
    CREATE INDEX resources_auto_public_ip ON resources (type, region, json_extract(data, '$.AutoPublicIp'));
    CREATE INDEX resources_client_token ON resources (type, region, json_extract(data, '$.ClientToken'))
    """,
    # 4: a Describe's tag:KEY filter reads the tags of that key and value (``Store.list``'s narrowing)
    """
    CREATE INDEX tags_key_value ON tags (key, value)
    """,
    # 5: capacity admission's totals (:meth:`Store.count_by`: instances by type, volumes by size, at
    # every RunInstances, StartInstances and CreateVolume) read from these indexes alone, which hold
    # every column the total reads: not one JSON document is parsed (25x less at 20,000 volumes)
    """
    CREATE INDEX resources_instance_type ON resources (type, region, json_extract(data, '$.InstanceType'), state, id);
    CREATE INDEX resources_size ON resources (type, region, json_extract(data, '$.Size'), state, id)
    """,
    # 6: a Describe of everything reads its rows in the order it answers them, from an index, instead
    # of sorting every row in a temporary B-tree (whole documents, in SQLite's 2 MiB of sorter memory
    # before it spills): a type's records oldest first (:meth:`Store.list`; replaces the type's
    # unordered index, its prefix) and a type's tags by resource and key, the index holding every
    # column read (``reads.tags_by_resource``). At 10,000 instances and volumes: all volumes 126 -> 60
    # ms, their tags 122 -> 64 ms. A read that narrows by an indexed field says ``ORDER BY
    # +created_at, +id`` (``reads.OLDEST_FIRST_NARROWED``) and a tag filter ``+resource_type``, so that
    # SQLite (no statistics) keeps its narrowing index instead of walking a whole type in order.
    """
    CREATE INDEX resources_listing ON resources (type, region, created_at, id);
    DROP INDEX resources_type_region;
    CREATE INDEX tags_listing ON tags (resource_type, region, resource_id, key, value)
    """,
    # 7: capacity admission's totals kept by triggers (``_totals``), read in a few rows instead of
    # counted over every record of the type at each RunInstances, StartInstances and CreateVolume
    # (4.3 ms a CreateVolume at 20,000 volumes, under the store's lock); migration 5's index on the
    # volumes' sizes served only that count
    _totals(),
]
# top-level fields :meth:`Store.fields` may select or match on (names only: they are put into the SQL)
FIELD_NAMES = frozenset({"SubnetId", "VpcId", "AutoPublicIp", "PrivateIpAddress", "SecondaryPrivateIps",
                         "InstanceType", "PublicIp", "ClientToken", "Size", "SystemCheck", "MaintenanceOptions"})
# the expression index on ``(type, region, json_extract(data, '$.FIELD'))`` of each field that has one
# (:meth:`Store.field_values` reads such a field's values from it alone)
FIELD_INDEXES = {"SubnetId": "resources_subnet", "VpcId": "resources_vpc",
                 "AutoPublicIp": "resources_auto_public_ip", "ClientToken": "resources_client_token",
                 "InstanceType": "resources_instance_type"}
LEDGER_MIGRATION = 2


def migrate(db: sqlite3.Connection, meter_existing: Callable[[], None]) -> None:
    """Run the migrations the database has not had yet, each in its own transaction (the caller
    holds the store's lock); ``meter_existing`` runs inside :data:`LEDGER_MIGRATION`'s."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in script if isinstance(script, list) else script.split(";"):
                if statement.strip():
                    db.execute(statement)
            if number == LEDGER_MIGRATION:
                meter_existing()
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
