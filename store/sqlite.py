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
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from rules.records import REVOCATION
from rules.timeutil import format_instant, parse_instant
from store.base import (
    NEWEST_FIRST,
    OVERDUE_ORDER,
    DeliveryQuery,
    OverdueQuery,
    Page,
    RecordQuery,
    decode_cursor,
    encode_cursor,
    paged_export,
)
from store.sqlite_schema import (
    COUNTED_SQL,
    DAY_SQL,
    ON_TIME_SQL,
    ROLLUP_TRIGGER,
    ROLLUP_VERSION,
    SCHEMA,
    epoch_of,
    subtree_clause,
)
from store.sqlite_stats import SqliteStats

T = TypeVar("T")


class SqliteStore(SqliteStats):
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
            db.executescript(SCHEMA)
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
                "WHERE kind = 'revocation' AND json_extract(CAST(doc AS TEXT), '$.revokes') IS NOT NULL"
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
                )
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('day_offset', ?)", (str(o),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rollup_version', ?)", (ROLLUP_VERSION,))

    async def setup(self) -> None:
        await self._run(lambda db: None)

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None:
        rows = [
            (r["id"], r["kind"], r["case_id"], r.get("step"), parse_instant(r["at"]), r["agency_id"], r["item_code"],
             r.get("handler_id"), r.get("points", 0), orjson.dumps(r))
            for r in records
        ]  # fmt: skip

        revoked = [(r["revokes"], r["id"]) for r in records if r["kind"] == REVOCATION and r.get("revokes")]

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
                db.executemany("INSERT OR IGNORE INTO revoked VALUES (?,?)", revoked)

        await self._run(write)

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                for c in cases:
                    db.execute(
                        "INSERT OR REPLACE INTO cases VALUES (?,?,?,?,?,?,?,?,?)",
                        (c["case_id"], c["agency_id"], c["item_code"], c.get("handler_id"), c["status"],
                         epoch_of(c["submitted_at"]), epoch_of(c.get("completed_at")), epoch_of(c.get("deadline")),
                         orjson.dumps(c)),
                    )  # fmt: skip
                    db.execute("DELETE FROM steps WHERE case_id = ?", (c["case_id"],))
                    db.executemany(
                        "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?)",
                        [
                            (c["case_id"], s["step"], c["agency_id"], c["item_code"], s.get("handler_id"),
                             epoch_of(s["started_at"]), epoch_of(s.get("completed_at")), epoch_of(s.get("deadline")),
                         s["limit_seconds"])
                            for s in c["steps"]
                        ],
                    )  # fmt: skip

        await self._run(write)

    async def put_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        rows = [
            (d["id"], d["subscription_id"], d["record_id"], d["status"], parse_instant(d["at"]), orjson.dumps(d))
            for d in deliveries
        ]

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO deliveries VALUES (?,?,?,?,?,?)", rows)

        await self._run(write)

    async def search_deliveries(self, q: DeliveryQuery) -> Page:
        where: list[str] = ["subscription_id = ?"]
        args: list[Any] = [q.subscription_id]
        for column, value in (("status", q.status), ("record_id", q.record_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.cursor:
            at, did = decode_cursor(q.cursor, NEWEST_FIRST)
            where.append("(at < ? OR (at = ? AND id > ?))")
            args += [at, at, did]
        return await self._newest_first("deliveries", where, args, q.limit)

    async def refresh(self) -> None:
        """Writes are visible once committed."""

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT doc FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                return None
            doc: dict[str, Any] = orjson.loads(row[0])
            recs = db.execute(
                "SELECT doc, revoker FROM records LEFT JOIN revoked ON record_id = id "
                "WHERE case_id = ? ORDER BY at, id",
                (case_id,),
            ).fetchall()
            doc["records"] = [_with_revoker(r[0], r[1]) for r in recs]
            return doc

        return await self._run(read)

    async def search_records(self, q: RecordQuery) -> Page:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if q.kinds:
            where.append(f"kind IN ({','.join('?' * len(q.kinds))})")
            args += list(q.kinds)
        if q.agency:
            clause, extra = subtree_clause("agency_id", q.agency)
            where.append(clause)
            args += extra
        for column, value in (("item_code", q.item_code), ("handler_id", q.handler_id), ("case_id", q.case_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.since is not None:
            where.append("at >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("at < ?")
            args.append(q.until)
        if q.cursor:
            at, rid = decode_cursor(q.cursor, NEWEST_FIRST)
            where.append("(at < ? OR (at = ? AND id > ?))")
            args += [at, at, rid]
        return await self._newest_first("records LEFT JOIN revoked ON record_id = id", where, args, q.limit)

    async def _newest_first(self, table: str, where: list[str], args: list[Any], limit: int) -> Page:
        """A page of ``table``'s documents by ``at`` descending, then ``id``; the cursor is the last (at, id).
        Records come with the revocation that revoked them, if any."""
        revoker = "revoker" if table.startswith("records") else "NULL"
        sql = f"SELECT doc, at, id, {revoker} FROM {table} WHERE {' AND '.join(where)} ORDER BY at DESC, id LIMIT ?"

        def read(db: sqlite3.Connection) -> Page:
            rows = db.execute(sql, [*args, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            cursor = encode_cursor([rows[-1][1], rows[-1][2]]) if more and rows else None
            return Page([_with_revoker(r[0], r[3]) for r in rows], cursor)

        return await self._run(read)

    def export_records(self, q: RecordQuery, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        return paged_export(self, q, page)

    async def overdue(self, q: OverdueQuery, now: int) -> Page:
        parts, args = [], []
        filters, fargs = [], []
        if q.agency:
            clause, extra = subtree_clause("agency_id", q.agency)
            filters.append(clause)
            fargs += extra
        for column, value in (("item_code", q.item_code), ("handler_id", q.handler_id)):
            if value is not None:
                filters.append(f"{column} = ?")
                fargs.append(value)
        tail = "".join(f" AND {f}" for f in filters)
        after, cargs = "", []
        if q.cursor:
            deadline, case_id, step = decode_cursor(q.cursor, OVERDUE_ORDER)
            after = " AND (deadline > ? OR (deadline = ? AND (case_id > ? OR (case_id = ? AND {step} > ?))))"
            cargs = [deadline, deadline, case_id, case_id, step]
        # Each part walks its covering index in page order and stops at the page size; the
        # union then merges two short lists instead of sorting every overdue step.
        # (kind, table, its step, its limit, the page order its covering index walks)
        sources = (
            ("step", "steps", "step", "limit_seconds", "deadline, case_id, step"),
            ("case", "cases", "''", "NULL", "deadline, case_id"),
        )
        for kind, table, step, limit, order in sources:
            if q.kinds and kind not in q.kinds:
                continue
            parts.append(
                f"SELECT * FROM (SELECT '{kind}' AS kind, case_id, {step} AS step, agency_id, item_code, handler_id, "
                f"deadline, {limit} AS limit_seconds FROM {table} WHERE completed IS NULL AND deadline IS NOT NULL "
                f"AND deadline < ?{tail}{after.format(step=step)} ORDER BY {order} LIMIT ?)"
            )
            args += [now, *fargs, *cargs, q.limit + 1]
        if not parts:
            return Page([])
        sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY deadline, case_id, step LIMIT ?"

        def read(db: sqlite3.Connection) -> Page:
            rows = db.execute(sql, [*args, q.limit + 1]).fetchall()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            items = [
                {"kind": k, "case_id": c, "step": s or None, "agency_id": a, "item_code": i, "handler_id": h,
                 "deadline": format_instant(d), "limit_seconds": lim, "overdue_seconds": now - d}
                for k, c, s, a, i, h, d, lim in rows
            ]  # fmt: skip
            last = rows[-1] if rows else None
            cursor = encode_cursor([last[6], last[1], last[2]]) if more and last else None
            return Page(items, cursor)

        return await self._run(read)

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


def _with_revoker(doc: bytes, revoker: str | None) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(doc)
    if revoker is not None:
        out["revoked_by"] = revoker
    return out
