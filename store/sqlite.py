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

import orjson

from rules.timeutil import format_instant, parse_instant
from store.base import OverdueQuery, Page, Period, RecordQuery, decode_cursor, empty_card, encode_cursor

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT, at INTEGER NOT NULL,
    agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT, points REAL NOT NULL, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_at ON records (at DESC, id);
CREATE INDEX IF NOT EXISTS records_agency_at ON records (agency_id, at DESC);
CREATE INDEX IF NOT EXISTS records_case ON records (case_id);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    status TEXT NOT NULL, submitted INTEGER NOT NULL, completed INTEGER, deadline INTEGER, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_open_deadline ON cases (deadline) WHERE completed IS NULL;
CREATE TABLE IF NOT EXISTS steps (
    case_id TEXT NOT NULL, step TEXT NOT NULL, agency_id TEXT NOT NULL, item_code TEXT NOT NULL, handler_id TEXT,
    started INTEGER NOT NULL, completed INTEGER, deadline INTEGER, limit_seconds INTEGER NOT NULL,
    PRIMARY KEY (case_id, step)
);
CREATE INDEX IF NOT EXISTS steps_open_deadline ON steps (deadline) WHERE completed IS NULL;
"""


def _t(text: str | None) -> int | None:
    return None if text is None else parse_instant(text)


def _subtree(column: str, scope: str) -> tuple[str, list[Any]]:
    prefix = scope.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"({column} = ? OR {column} LIKE ? ESCAPE '\\')", [scope.rstrip("/"), prefix + "/%"]


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
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
            db.executescript(SCHEMA)
            self._db = db
        return fn(self._db)

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
        sql = f"SELECT doc, at, id FROM records WHERE {' AND '.join(where)} ORDER BY at DESC, id LIMIT ?"

        def read(db: sqlite3.Connection) -> Page:
            rows = db.execute(sql, [*args, q.limit + 1]).fetchall()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            cursor = encode_cursor([rows[-1][1], rows[-1][2]]) if more and rows else None
            return Page([orjson.loads(r[0]) for r in rows], cursor)

        return await self._run(read)

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
        if not q.kinds or "step" in q.kinds:
            parts.append(
                "SELECT 'step' AS kind, case_id, step, agency_id, item_code, handler_id, deadline, limit_seconds "
                f"FROM steps WHERE completed IS NULL AND deadline IS NOT NULL AND deadline < ?{tail}"
            )
            args += [now, *fargs]
        if not q.kinds or "case" in q.kinds:
            parts.append(
                "SELECT 'case' AS kind, case_id, '' AS step, agency_id, item_code, handler_id, deadline, NULL "
                f"FROM cases WHERE completed IS NULL AND deadline IS NOT NULL AND deadline < ?{tail}"
            )
            args += [now, *fargs]
        if not parts:
            return Page([])
        outer = ""
        if q.cursor:
            deadline, case_id, step = decode_cursor(q.cursor)
            outer = " WHERE (deadline > ? OR (deadline = ? AND (case_id > ? OR (case_id = ? AND step > ?))))"
            args += [deadline, deadline, case_id, case_id, step]
        sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}){outer} ORDER BY deadline, case_id, step LIMIT ?"

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

    async def scorecard(self, by: str, period: Period) -> list[dict[str, Any]]:
        column = {"agency": "agency_id", "handler": "handler_id"}[by]
        scope, sargs = ("1=1", []) if period.agency is None else _subtree("agency_id", period.agency)
        rec_sql = (
            f"SELECT {column}, kind, COUNT(*), SUM(points) FROM records WHERE at >= ? AND at < ? AND {scope} "
            f"AND {column} IS NOT NULL GROUP BY {column}, kind"
        )
        step_sql = (
            f"SELECT {column}, COUNT(*), SUM(CASE WHEN deadline IS NULL OR completed <= deadline THEN 1 ELSE 0 END) "
            f"FROM steps WHERE completed >= ? AND completed < ? AND {scope} AND {column} IS NOT NULL GROUP BY {column}"
        )

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cards: dict[str, dict[str, Any]] = {}
            for key, kind, n, pts in db.execute(rec_sql, [period.since, period.until, *sargs]):
                card = cards.setdefault(key, empty_card(key))
                card["counts"][kind] = n
                card["points"] += pts or 0
            for key, done, on_time in db.execute(step_sql, [period.since, period.until, *sargs]):
                card = cards.setdefault(key, empty_card(key))
                card["steps_completed"], card["steps_on_time"] = done, on_time
            return [cards[k] for k in sorted(cards)]

        return await self._run(read)

    async def daily(self, period: Period, utc_offset: int) -> list[dict[str, Any]]:
        scope, sargs = ("1=1", []) if period.agency is None else _subtree("agency_id", period.agency)
        sql = (
            "SELECT (at + ?) / 86400 AS d, kind, COUNT(*) FROM records "
            f"WHERE at >= ? AND at < ? AND {scope} GROUP BY d, kind ORDER BY d, kind"
        )

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = db.execute(sql, [utc_offset, period.since, period.until, *sargs]).fetchall()
            return [{"day": format_instant(d * 86400)[:10], "kind": k, "count": n} for d, k, n in rows]

        return await self._run(read)

    async def ping(self) -> bool:
        return await self._run(lambda db: db.execute("SELECT 1").fetchone() == (1,))

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            await self._run(shut)
            self._db = None
