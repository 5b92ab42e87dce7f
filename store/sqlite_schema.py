"""The embedded store's schema: tables, covering indexes in page order, and the trigger-kept daily roll-ups."""

from __future__ import annotations

from typing import Any

from rules.records import UNCOUNTED_KINDS
from rules.timeutil import parse_instant
from store.sqlite_bulk import from_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT, at INTEGER NOT NULL,
    agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT, points REAL NOT NULL, doc BLOB NOT NULL
);
DROP INDEX IF EXISTS records_at;
DROP INDEX IF EXISTS records_agency_at;
DROP INDEX IF EXISTS steps_completed;
DROP INDEX IF EXISTS steps_open_deadline;
DROP INDEX IF EXISTS cases_open_deadline;
DROP INDEX IF EXISTS cases_open_cover;
DROP INDEX IF EXISTS steps_open_cover;
CREATE INDEX IF NOT EXISTS records_at_filters ON records (at DESC, id, kind, agency_id, item_code, handler_id, points);
CREATE INDEX IF NOT EXISTS records_handler ON records (handler_id, at DESC, id);
CREATE INDEX IF NOT EXISTS records_case ON records (case_id);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    status TEXT NOT NULL, submitted INTEGER NOT NULL, completed INTEGER, deadline INTEGER, doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    case_id TEXT NOT NULL, step TEXT NOT NULL, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    started INTEGER NOT NULL, completed INTEGER, deadline INTEGER, limit_seconds INTEGER NOT NULL,
    PRIMARY KEY (case_id, step)
);
CREATE INDEX IF NOT EXISTS steps_completed_cover ON steps (completed, agency_id, handler_id, deadline)
    WHERE completed IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, record_id TEXT NOT NULL, status TEXT NOT NULL,
    at INTEGER NOT NULL, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_log ON deliveries (subscription_id, at DESC, id, status, record_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revoked (record_id TEXT PRIMARY KEY, revoker TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agency_days (
    day INTEGER NOT NULL, agency_id TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, points REAL NOT NULL,
    PRIMARY KEY (day, agency_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS step_days (
    day INTEGER NOT NULL, agency_id TEXT NOT NULL, handler_id TEXT NOT NULL, done INTEGER NOT NULL,
    on_time INTEGER NOT NULL, PRIMARY KEY (day, agency_id, handler_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS handler_days (
    day INTEGER NOT NULL, agency_id TEXT NOT NULL, handler_id TEXT NOT NULL, kind TEXT NOT NULL,
    n INTEGER NOT NULL, points REAL NOT NULL, PRIMARY KEY (day, agency_id, handler_id, kind)
) WITHOUT ROWID;
"""

# Day numbers of the roll-ups: floor((at + offset) / 86400), written so negative instants floor too.
DAY_SQL = "(({at} + {o}) - ((({at} + {o}) % 86400) + 86400) % 86400) / 86400"
# The record trail (rules.chain): added to files made before it; an entry's position per partition.
TRAIL_COLUMNS = (("chain_p", "INTEGER"), ("chain_n", "INTEGER"), ("chain_hash", "TEXT"))
TRAIL_INDEX = "CREATE INDEX IF NOT EXISTS records_chain ON records (chain_p, chain_n)"
# Added to files made before 督办: whether an open clock's alarm was marked handled (``rules.work_views``).
# And how much of its limit a completed step used (``store.base.step_ratio``).
ADDED_COLUMNS = (
    ("steps", "handled", "INTEGER NOT NULL DEFAULT 0"), ("cases", "handled", "INTEGER NOT NULL DEFAULT 0"),
    ("steps", "ratio", "REAL"), ("steps", "paused", "INTEGER NOT NULL DEFAULT 0"),
    ("cases", "paused", "INTEGER NOT NULL DEFAULT 0"),
)  # fmt: skip
# "Overdue now" walks these in page order and reads nothing else (made once the columns above exist).
OPEN_INDEXES = """
DROP INDEX IF EXISTS cases_open_handled;
DROP INDEX IF EXISTS steps_open_handled;
CREATE INDEX IF NOT EXISTS cases_open_clocks
    ON cases (deadline, case_id, agency_id, item_code, handler_id, handled, paused) WHERE completed IS NULL;
CREATE INDEX IF NOT EXISTS steps_open_clocks
    ON steps (deadline, case_id, step, agency_id, item_code, handler_id, limit_seconds, handled, paused)
    WHERE completed IS NULL;
"""
RECORD_INSERT = from_json(
    "INSERT OR IGNORE INTO records (id, kind, case_id, step, at, agency_id, item_code, handler_id, points, doc, "
    "chain_p, chain_n, chain_hash)",
    13,
    blobs=(9,),
)
REVOKED_INSERT = from_json("INSERT OR IGNORE INTO revoked (record_id, revoker)", 2)
CASE_INSERT = from_json(
    "INSERT OR REPLACE INTO cases (case_id, agency_id, item_code, handler_id, status, submitted, completed, deadline, "
    "doc, handled, paused)",
    11,
    blobs=(8,),
)
STEP_INSERT = from_json(
    "INSERT INTO steps (case_id, step, agency_id, item_code, handler_id, started, completed, deadline, limit_seconds, "
    "handled, ratio, paused)",
    12,
)
DELIVERY_INSERT = from_json(
    "INSERT OR REPLACE INTO deliveries (id, subscription_id, record_id, status, at, doc)", 6, blobs=(5,)
)

# Which records count: a revocation or an adjustment counts for nothing, and neither does the record it withdraws,
# whichever of the two was written first (``revoked`` is filled from them as they arrive); nor do the records of
# supervisors' and agencies' actions.
UNCOUNTED_SQL = "(" + ", ".join(f"'{k}'" for k in UNCOUNTED_KINDS) + ")"
COUNTED_SQL = (
    "{r}.kind NOT IN " + UNCOUNTED_SQL + " AND NOT EXISTS (SELECT 1 FROM revoked v WHERE v.record_id = {r}.id)"
)
ROLLUP_VERSION = "3"  # 2: revoked records and revocations are left out; 3: adjustments and action records too
ROLLUP_TRIGGER = """
CREATE TRIGGER records_rollup AFTER INSERT ON records WHEN {counted_new} BEGIN
    INSERT INTO agency_days VALUES ({day}, NEW.agency_id, NEW.kind, 1, NEW.points)
        ON CONFLICT DO UPDATE SET n = n + 1, points = points + excluded.points;
    INSERT INTO handler_days SELECT {day}, NEW.agency_id, NEW.handler_id, NEW.kind, 1, NEW.points
        WHERE NEW.handler_id IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1, points = points + excluded.points;
END;
CREATE TRIGGER records_revoked AFTER INSERT ON revoked BEGIN
    UPDATE agency_days SET n = n - 1, points = points - (SELECT points FROM records WHERE id = NEW.record_id)
        WHERE (day, agency_id, kind) IN (SELECT {day_r}, agency_id, kind FROM records r
                                        WHERE r.id = NEW.record_id AND r.kind NOT IN {uncounted});
    UPDATE handler_days SET n = n - 1, points = points - (SELECT points FROM records WHERE id = NEW.record_id)
        WHERE (day, agency_id, handler_id, kind) IN (SELECT {day_r}, agency_id, handler_id, kind FROM records r
                                                    WHERE r.id = NEW.record_id AND r.kind NOT IN {uncounted});
END;
CREATE TRIGGER steps_rollup_in AFTER INSERT ON steps WHEN NEW.completed IS NOT NULL BEGIN
    INSERT INTO step_days VALUES ({done_new}, NEW.agency_id, COALESCE(NEW.handler_id, ''), 1, {on_time_new})
        ON CONFLICT DO UPDATE SET done = done + 1, on_time = on_time + excluded.on_time;
END;
CREATE TRIGGER steps_rollup_out AFTER DELETE ON steps WHEN OLD.completed IS NOT NULL BEGIN
    UPDATE step_days SET done = done - 1, on_time = on_time - {on_time_old}
        WHERE day = {done_old} AND agency_id = OLD.agency_id AND handler_id = COALESCE(OLD.handler_id, '');
END;
"""
# A step is on time when it has no deadline or completed at or before it.
ON_TIME_SQL = "(CASE WHEN {s}.deadline IS NULL OR {s}.completed <= {s}.deadline THEN 1 ELSE 0 END)"


def epoch_of(text: str | None) -> int | None:
    return None if text is None else parse_instant(text)


def subtree_clause(column: str, scope: str) -> tuple[str, list[Any]]:
    """``scope`` and everything below it, as a range an index can serve: ids under ``a/b`` sort
    between ``a/b/`` and ``a/b0`` (``0`` follows ``/`` in code-point order)."""
    root = scope.rstrip("/")
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [root, root + "/", root + "0"]
