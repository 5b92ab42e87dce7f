"""The embedded store: one SQLite file in WAL mode, as Zipkin and Jaeger keep an embedded store beside Elasticsearch.

The stdlib driver is synchronous, so every call runs in a worker thread
(``asyncio.to_thread``) holding a thread lock: one writer, many short reads, no
event loop blocked — and, unlike an ``asyncio.Lock``, usable from any event
loop.  Instants are stored as epoch seconds so that range filters and
sorts are integer comparisons on indexed columns.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rules.records import WITHDRAWING_KINDS
from rules.timeutil import parse_instant
from store.base import step_ratio
from store.sqlite_bulk import doc_text, rows_param
from store.sqlite_queries import SqliteQueries
from store.sqlite_schema import (
    ADDED_COLUMNS,
    CASE_INSERT,
    COUNTED_SQL,
    DAY_SQL,
    DELIVERY_INSERT,
    ON_TIME_SQL,
    OPEN_INDEXES,
    RECORD_INSERT,
    REVOKED_INSERT,
    ROLLUP_TRIGGER,
    ROLLUP_VERSION,
    SCHEMA,
    STEP_INSERT,
    TRAIL_COLUMNS,
    TRAIL_INDEX,
    UNCOUNTED_SQL,
    epoch_of,
)
from store.sqlite_stats import SqliteStats
from store.sqlite_trail import SqliteTrail
from store.sqlite_work import WORK_SCHEMA, SqliteWork

T = TypeVar("T")


class SqliteStore(SqliteQueries, SqliteStats, SqliteTrail, SqliteWork):
    """``day_offset``: the UTC offset (seconds) of the days the roll-ups count in — the display offset,
    so that scorecards and daily counts for whole local days read the roll-ups, not the records."""

    def __init__(self, path: str | Path, day_offset: int = 0) -> None:
        self.path = Path(path)
        self.day_offset = day_offset
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return self._call_locked(fn)

    def _call_locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA temp_store=MEMORY")  # GROUP BY and ORDER BY scratch space
            db.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages
            db.execute("PRAGMA mmap_size=268435456")
            # Checkpoint every 40 MiB of log instead of 4 MiB: each checkpoint syncs the file, and at the default
            # the sink's writes spent a third of their time there (bench/sink_bench.py).
            db.execute("PRAGMA wal_autocheckpoint=10000")
            db.executescript(SCHEMA)
            db.executescript(WORK_SCHEMA)
            have = {r[1] for r in db.execute("PRAGMA table_info(records)")}
            for name, kind in TRAIL_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE records ADD COLUMN {name} {kind}")
            db.execute(TRAIL_INDEX)
            for table, column, kind in ADDED_COLUMNS:
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            db.executescript(OPEN_INDEXES)
            self._ensure_rollups(db)
            self._db = db
        return fn(self._db)

    def _ensure_rollups(self, db: sqlite3.Connection) -> None:
        """Per-day counts and points by agency and by official, kept by a trigger on every inserted
        record (an ignored duplicate fires nothing); rebuilt when the file was made for another offset."""
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("day_offset") == str(self.day_offset) and meta.get("rollup_version") == ROLLUP_VERSION:
            return
        o = self.day_offset
        day = DAY_SQL.format(at="at", o=o)
        counted = COUNTED_SQL.format(r="records")
        with db:
            for name in ("records_rollup", "records_revoked", "steps_rollup_in", "steps_rollup_out"):
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
            for table in ("agency_days", "handler_days", "step_days"):
                db.execute(f"DELETE FROM {table}")
            # Files written before revocations were netted: the revoked table from their revocations.
            db.execute(
                "INSERT OR IGNORE INTO revoked SELECT json_extract(CAST(doc AS TEXT), '$.revokes'), id FROM records "
                f"WHERE kind IN {UNCOUNTED_SQL} AND json_extract(CAST(doc AS TEXT), '$.revokes') IS NOT NULL"
            )
            db.execute(
                f"INSERT INTO agency_days SELECT {day} AS d, agency_id, kind, COUNT(*), SUM(points) FROM records "
                f"WHERE {counted} GROUP BY d, agency_id, kind"
            )
            db.execute(
                f"INSERT INTO handler_days SELECT {day} AS d, agency_id, handler_id, kind, COUNT(*), SUM(points) "
                f"FROM records WHERE handler_id IS NOT NULL AND {counted} GROUP BY d, agency_id, handler_id, kind"
            )
            done = DAY_SQL.format(at="completed", o=o)
            db.execute(
                f"INSERT INTO step_days SELECT {done} AS d, agency_id, COALESCE(handler_id, '') AS h, COUNT(*), "
                f"SUM({ON_TIME_SQL.format(s='steps')}) FROM steps WHERE completed IS NOT NULL GROUP BY d, agency_id, h"
            )
            db.executescript(
                ROLLUP_TRIGGER.format(
                    counted_new=COUNTED_SQL.format(r="NEW"),
                    day=DAY_SQL.format(at="NEW.at", o=o),
                    day_r=DAY_SQL.format(at="r.at", o=o),
                    done_new=DAY_SQL.format(at="NEW.completed", o=o),
                    done_old=DAY_SQL.format(at="OLD.completed", o=o),
                    on_time_new=ON_TIME_SQL.format(s="NEW"),
                    on_time_old=ON_TIME_SQL.format(s="OLD"),
                    uncounted=UNCOUNTED_SQL,
                )
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('day_offset', ?)", (str(o),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rollup_version', ?)", (ROLLUP_VERSION,))

    client_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)

    def unavailable(self, exc: BaseException) -> bool:
        """The file busy or locked by another connection past the busy timeout (SQLite's result code, whatever
        the message's wording); any other error is a bug."""
        code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.OperationalError) else None
        return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

    async def setup(self) -> None:
        await self._run(lambda db: None)

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None:
        rows = rows_param([
            (r["id"], r["kind"], r["case_id"], r.get("step"), parse_instant(r["at"]), r["agency_id"], r["item_code"],
             r.get("handler_id"), r.get("points", 0), doc_text(r),
             *((c["p"], c["n"], c["hash"]) if (c := r.get("chain")) else (None, None, None)))
            for r in records
        ])  # fmt: skip
        revoked = rows_param(
            [(r["revokes"], r["id"]) for r in records if r["kind"] in WITHDRAWING_KINDS and r.get("revokes")]
        )

        def write(db: sqlite3.Connection) -> None:
            with db:  # one statement each, run in C without the GIL (store.sqlite_bulk)
                db.execute(RECORD_INSERT, rows)
                db.execute(REVOKED_INSERT, revoked)

        await self._run(write)

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None:
        # Rows built here, three statements for the whole batch there: the writing thread does only SQLite's work.
        latest = list({c["case_id"]: c for c in cases}.values())  # a case twice in a batch: its last document
        case_rows = rows_param([
            (c["case_id"], c["agency_id"], c["item_code"], c.get("handler_id"), c["status"],
             epoch_of(c["submitted_at"]), epoch_of(c.get("completed_at")), epoch_of(c.get("deadline")),
             doc_text(c), 1 if c.get("handled_by") else 0, 1 if c.get("suspended_since") else 0)
            for c in latest
        ])  # fmt: skip
        step_rows = rows_param([
            (c["case_id"], s["step"], c["agency_id"], c["item_code"], s.get("handler_id"),
             epoch_of(s["started_at"]), epoch_of(s.get("completed_at")), epoch_of(s.get("deadline")),
             s["limit_seconds"], 1 if s.get("handled_by") else 0, step_ratio(s), 1 if c.get("suspended_since") else 0)
            for c in latest
            for s in c["steps"]
        ])  # fmt: skip
        case_ids = rows_param([c["case_id"] for c in latest])

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(CASE_INSERT, case_rows)
                db.execute("DELETE FROM steps WHERE case_id IN (SELECT value FROM json_each(?))", case_ids)
                db.execute(STEP_INSERT, step_rows)

        await self._run(write)

    async def put_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        rows = rows_param(
            [(d["id"], d["subscription_id"], d["record_id"], d["status"], parse_instant(d["at"]), doc_text(d))
             for d in deliveries]
        )  # fmt: skip

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute(DELIVERY_INSERT, rows)

        await self._run(write)

    async def refresh(self) -> None:
        """Writes are visible once committed."""

    async def count(self) -> tuple[int, int]:
        def read(db: sqlite3.Connection) -> tuple[int, int]:
            (records,) = db.execute("SELECT COUNT(*) FROM records").fetchone()
            (cases,) = db.execute("SELECT COUNT(*) FROM cases").fetchone()
            return records, cases

        return await self._run(read)

    async def ping(self) -> bool:
        return await self._run(lambda db: db.execute("SELECT 1").fetchone() == (1,))

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(shut)
            self._db = None
