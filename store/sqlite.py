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

from store.base import Batch
from store.sqlite_bulk import Writes, apply, transaction
from store.sqlite_queries import SqliteQueries
from store.sqlite_rows import case_writes, delivery_writes, record_writes, work_writes
from store.sqlite_schema import (
    ADDED_COLUMNS,
    COUNTED_SQL,
    DAY_SQL,
    ON_TIME_SQL,
    OPEN_INDEXES,
    ROLLUP_TRIGGER,
    ROLLUP_VERSION,
    SCHEMA,
    TRAIL_COLUMNS,
    TRAIL_INDEX,
    UNCOUNTED_SQL,
)
from store.sqlite_stats import SqliteStats
from store.sqlite_trail import SqliteTrail, stored_among
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

    async def put_batch(self, batch: Batch) -> None:
        ids = [r["id"] for r in batch.records]
        # Rows built here (the event loop's thread), one transaction there: the writing thread runs SQLite's work
        # and the link (a hash per new record) without waiting for the loop between statements.
        later = case_writes(batch.cases) + work_writes(batch.work) + delivery_writes(batch.deliveries)

        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                if ids:
                    apply(db, record_writes(batch.link(stored_among(db, ids))))
                apply(db, later)

        await self._run(write)

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None:
        await self._write(record_writes(records))

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None:
        await self._write(case_writes(cases))

    async def put_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        await self._write(delivery_writes(deliveries))

    async def put_work(self, docs: Sequence[dict[str, Any]]) -> None:
        await self._write(work_writes(docs))

    async def _write(self, writes: Writes) -> None:
        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                apply(db, writes)

        if writes:
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
