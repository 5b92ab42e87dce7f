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

from rules.timeutil import format_instant, parse_instant
from store.base import (
    DeliveryQuery,
    OverdueQuery,
    Page,
    Period,
    RecordQuery,
    decode_cursor,
    empty_card,
    encode_cursor,
    paged_export,
)

T = TypeVar("T")

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
CREATE INDEX IF NOT EXISTS records_at_filters ON records (at DESC, id, kind, agency_id, item_code, handler_id, points);
CREATE INDEX IF NOT EXISTS records_handler ON records (handler_id, at DESC, id);
CREATE INDEX IF NOT EXISTS records_case ON records (case_id);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    status TEXT NOT NULL, submitted INTEGER NOT NULL, completed INTEGER, deadline INTEGER, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_open_cover ON cases (deadline, case_id, agency_id, item_code, handler_id)
    WHERE completed IS NULL;
CREATE TABLE IF NOT EXISTS steps (
    case_id TEXT NOT NULL, step TEXT NOT NULL, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    started INTEGER NOT NULL, completed INTEGER, deadline INTEGER, limit_seconds INTEGER NOT NULL,
    PRIMARY KEY (case_id, step)
);
CREATE INDEX IF NOT EXISTS steps_open_cover
    ON steps (deadline, case_id, step, agency_id, item_code, handler_id, limit_seconds) WHERE completed IS NULL;
CREATE INDEX IF NOT EXISTS steps_completed_cover ON steps (completed, agency_id, handler_id, deadline)
    WHERE completed IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, record_id TEXT NOT NULL, status TEXT NOT NULL,
    at INTEGER NOT NULL, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_log ON deliveries (subscription_id, at DESC, id, status, record_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
_DAY = "(({at} + {o}) - ((({at} + {o}) % 86400) + 86400) % 86400) / 86400"
ROLLUP_TRIGGER = """
CREATE TRIGGER records_rollup AFTER INSERT ON records BEGIN
    INSERT INTO agency_days VALUES ({day}, NEW.agency_id, NEW.kind, 1, NEW.points)
        ON CONFLICT DO UPDATE SET n = n + 1, points = points + excluded.points;
    INSERT INTO handler_days SELECT {day}, NEW.agency_id, NEW.handler_id, NEW.kind, 1, NEW.points
        WHERE NEW.handler_id IS NOT NULL
        ON CONFLICT DO UPDATE SET n = n + 1, points = points + excluded.points;
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
_ON_TIME = "(CASE WHEN {s}.deadline IS NULL OR {s}.completed <= {s}.deadline THEN 1 ELSE 0 END)"


def _t(text: str | None) -> int | None:
    return None if text is None else parse_instant(text)


def _subtree(column: str, scope: str) -> tuple[str, list[Any]]:
    """``scope`` and everything below it, as a range an index can serve: ids under ``a/b`` sort
    between ``a/b/`` and ``a/b0`` (``0`` follows ``/`` in code-point order)."""
    root = scope.rstrip("/")
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [root, root + "/", root + "0"]


class SqliteStore:
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
        row = db.execute("SELECT value FROM meta WHERE key = 'day_offset'").fetchone()
        has_trigger = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'steps_rollup_out'").fetchone()
        if row is not None and int(row[0]) == self.day_offset and has_trigger:
            return
        o = self.day_offset
        day = _DAY.format(at="at", o=o)
        with db:
            for name in ("records_rollup", "steps_rollup_in", "steps_rollup_out"):
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
            for table in ("agency_days", "handler_days", "step_days"):
                db.execute(f"DELETE FROM {table}")
            db.execute(
                f"INSERT INTO agency_days SELECT {day} AS d, agency_id, kind, COUNT(*), SUM(points) FROM records "
                "GROUP BY d, agency_id, kind"
            )
            db.execute(
                f"INSERT INTO handler_days SELECT {day} AS d, agency_id, handler_id, kind, COUNT(*), SUM(points) "
                "FROM records WHERE handler_id IS NOT NULL GROUP BY d, agency_id, handler_id, kind"
            )
            done = _DAY.format(at="completed", o=o)
            db.execute(
                f"INSERT INTO step_days SELECT {done} AS d, agency_id, COALESCE(handler_id, '') AS h, COUNT(*), "
                f"SUM({_ON_TIME.format(s='steps')}) FROM steps WHERE completed IS NOT NULL GROUP BY d, agency_id, h"
            )
            db.executescript(
                ROLLUP_TRIGGER.format(
                    day=_DAY.format(at="NEW.at", o=o),
                    done_new=_DAY.format(at="NEW.completed", o=o),
                    done_old=_DAY.format(at="OLD.completed", o=o),
                    on_time_new=_ON_TIME.format(s="NEW"),
                    on_time_old=_ON_TIME.format(s="OLD"),
                )
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('day_offset', ?)", (str(o),))

    def _whole_days(self, since: int, until: int) -> tuple[int, int]:
        """The local days [d0, d1) lying wholly inside [since, until); empty when d0 >= d1."""
        o = self.day_offset
        return -((-(since + o)) // 86400), (until + o) // 86400

    def _day_start(self, d: int) -> int:
        return d * 86400 - self.day_offset

    async def setup(self) -> None:
        await self._run(lambda db: None)

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None:
        rows = [
            (r["id"], r["kind"], r["case_id"], r.get("step"), parse_instant(r["at"]), r["agency_id"], r["item_code"],
             r.get("handler_id"), r.get("points", 0), orjson.dumps(r))
            for r in records
        ]  # fmt: skip

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

        await self._run(write)

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                for c in cases:
                    db.execute(
                        "INSERT OR REPLACE INTO cases VALUES (?,?,?,?,?,?,?,?,?)",
                        (c["case_id"], c["agency_id"], c["item_code"], c.get("handler_id"), c["status"],
                         _t(c["submitted_at"]), _t(c.get("completed_at")), _t(c.get("deadline")), orjson.dumps(c)),
                    )  # fmt: skip
                    db.execute("DELETE FROM steps WHERE case_id = ?", (c["case_id"],))
                    db.executemany(
                        "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?)",
                        [
                            (c["case_id"], s["step"], c["agency_id"], c["item_code"], s.get("handler_id"),
                             _t(s["started_at"]), _t(s.get("completed_at")), _t(s.get("deadline")), s["limit_seconds"])
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
            at, did = decode_cursor(q.cursor)
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
            recs = db.execute("SELECT doc FROM records WHERE case_id = ? ORDER BY at, id", (case_id,)).fetchall()
            doc["records"] = [orjson.loads(r[0]) for r in recs]
            return doc

        return await self._run(read)

    async def search_records(self, q: RecordQuery) -> Page:
        where, args = ["1=1"], []
        if q.kinds:
            where.append(f"kind IN ({','.join('?' * len(q.kinds))})")
            args += list(q.kinds)
        if q.agency:
            clause, extra = _subtree("agency_id", q.agency)
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
            at, rid = decode_cursor(q.cursor)
            where.append("(at < ? OR (at = ? AND id > ?))")
            args += [at, at, rid]
        return await self._newest_first("records", where, args, q.limit)

    async def _newest_first(self, table: str, where: list[str], args: list[Any], limit: int) -> Page:
        """A page of ``table``'s documents by ``at`` descending, then ``id``; the cursor is the last (at, id)."""
        sql = f"SELECT doc, at, id FROM {table} WHERE {' AND '.join(where)} ORDER BY at DESC, id LIMIT ?"

        def read(db: sqlite3.Connection) -> Page:
            rows = db.execute(sql, [*args, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            cursor = encode_cursor([rows[-1][1], rows[-1][2]]) if more and rows else None
            return Page([orjson.loads(r[0]) for r in rows], cursor)

        return await self._run(read)

    def export_records(self, q: RecordQuery, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        return paged_export(self, q, page)

    async def overdue(self, q: OverdueQuery, now: int) -> Page:
        parts, args = [], []
        filters, fargs = [], []
        if q.agency:
            clause, extra = _subtree("agency_id", q.agency)
            filters.append(clause)
            fargs += extra
        for column, value in (("item_code", q.item_code), ("handler_id", q.handler_id)):
            if value is not None:
                filters.append(f"{column} = ?")
                fargs.append(value)
        tail = "".join(f" AND {f}" for f in filters)
        after, cargs = "", []
        if q.cursor:
            deadline, case_id, step = decode_cursor(q.cursor)
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

    def _split(self, since: int, until: int) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
        """[since, until) as raw ranges at its ragged ends plus the whole local days the roll-ups hold."""
        d0, d1 = self._whole_days(since, until)
        if d0 >= d1:
            return [(since, until)], None
        edges = [(since, self._day_start(d0)), (self._day_start(d1), until)]
        return [(a, b) for a, b in edges if a < b], (d0, d1)

    async def scorecard(self, by: str, period: Period) -> list[dict[str, Any]]:
        column = {"agency": "agency_id", "handler": "handler_id"}[by]
        table = {"agency": "agency_days", "handler": "handler_days"}[by]
        scope, sargs = ("1=1", []) if period.agency is None else _subtree("agency_id", period.agency)
        raw_sql = (
            f"SELECT {column}, kind, COUNT(*), SUM(points) FROM records WHERE at >= ? AND at < ? AND {scope} "
            f"AND {column} IS NOT NULL GROUP BY {column}, kind"
        )
        roll_sql = (
            f"SELECT {column}, kind, SUM(n), SUM(points) FROM {table} WHERE day >= ? AND day < ? AND {scope} "
            f"GROUP BY {column}, kind"
        )
        step_sql = (
            f"SELECT {column}, COUNT(*), SUM({_ON_TIME.format(s='steps')}) "
            f"FROM steps WHERE completed >= ? AND completed < ? AND {scope} AND {column} IS NOT NULL GROUP BY {column}"
        )
        step_roll_sql = (
            f"SELECT {column}, SUM(done), SUM(on_time) FROM step_days WHERE day >= ? AND day < ? AND {scope} "
            f"AND {column} != '' GROUP BY {column} HAVING SUM(done) > 0"
        )
        edges, days = self._split(period.since, period.until)
        queries = [(raw_sql, [a, b, *sargs]) for a, b in edges]
        step_queries = [(step_sql, [a, b, *sargs]) for a, b in edges]
        if days is not None:
            queries.append((roll_sql, [*days, *sargs]))
            step_queries.append((step_roll_sql, [*days, *sargs]))

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cards: dict[str, dict[str, Any]] = {}
            for sql, args in queries:
                for key, kind, n, pts in db.execute(sql, args):
                    card = cards.setdefault(key, empty_card(key))
                    card["counts"][kind] = card["counts"].get(kind, 0) + n
                    card["points"] += pts or 0
            for sql, args in step_queries:
                for key, done, on_time in db.execute(sql, args):
                    card = cards.setdefault(key, empty_card(key))
                    card["steps_completed"] += done
                    card["steps_on_time"] += on_time
            return [cards[k] for k in sorted(cards)]

        return await self._run(read)

    async def daily(self, period: Period, utc_offset: int) -> list[dict[str, Any]]:
        scope, sargs = ("1=1", []) if period.agency is None else _subtree("agency_id", period.agency)
        raw_sql = (
            "SELECT (at + ?) / 86400 AS d, kind, COUNT(*) FROM records "
            f"WHERE at >= ? AND at < ? AND {scope} GROUP BY d, kind"
        )
        if utc_offset == self.day_offset:
            edges, days = self._split(period.since, period.until)
        else:  # the roll-ups count other days: every record is read
            edges, days = [(period.since, period.until)], None
        queries = [(raw_sql, [utc_offset, a, b, *sargs]) for a, b in edges]
        if days is not None:
            queries.append(
                (f"SELECT day, kind, SUM(n) FROM agency_days WHERE day >= ? AND day < ? AND {scope} GROUP BY day, kind",
                 [*days, *sargs])
            )  # fmt: skip

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            counts: dict[tuple[int, str], int] = {}
            for sql, args in queries:
                for d, k, n in db.execute(sql, args):
                    counts[(d, k)] = counts.get((d, k), 0) + n
            return [
                {"day": format_instant(d * 86400)[:10], "kind": k, "count": n} for (d, k), n in sorted(counts.items())
            ]

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
