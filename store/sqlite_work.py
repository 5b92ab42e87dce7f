"""督办 and appeal documents on the embedded store: one row per order or appeal, replaced whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from store.base import NEWEST_FIRST, Page, WorkQuery, decode_cursor
from store.sqlite_bulk import from_json
from store.sqlite_schema import subtree_clause

T = TypeVar("T")

WORK_SCHEMA = """
CREATE TABLE IF NOT EXISTS work (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, case_id TEXT NOT NULL, record_id TEXT, agency_id TEXT NOT NULL,
    status TEXT NOT NULL, at INTEGER NOT NULL, due INTEGER, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS work_newest ON work (type, at DESC, id);
CREATE INDEX IF NOT EXISTS work_due ON work (type, status, due);
"""
WORK_INSERT = from_json(
    "INSERT OR REPLACE INTO work (id, type, case_id, record_id, agency_id, status, at, due, doc)", 9, blobs=(8,)
)


class SqliteWork:
    """Mixed into ``SqliteStore``."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    async def _newest_first(self, table: str, where: list[str], args: list[Any], limit: int) -> Page:
        raise NotImplementedError  # provided by SqliteQueries

    async def get_work(self, work_id: str) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT doc FROM work WHERE id = ?", (work_id,)).fetchone()
            return None if row is None else dict(orjson.loads(row[0]))

        return await self._run(read)

    async def search_work(self, q: WorkQuery) -> Page:
        where: list[str] = ["type = ?"]
        args: list[Any] = [q.type]
        for column, value in (("status", q.status), ("case_id", q.case_id), ("record_id", q.record_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.agency:
            clause, extra = subtree_clause("agency_id", q.agency)
            where.append(clause)
            args += extra
        if q.overdue_at is not None:
            where.append("status = 'open' AND due < ?")
            args.append(q.overdue_at)
        if q.cursor:
            at, wid = decode_cursor(q.cursor, NEWEST_FIRST)
            where.append("(at < ? OR (at = ? AND id > ?))")
            args += [at, at, wid]
        return await self._newest_first("work", where, args, q.limit)
