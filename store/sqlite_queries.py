"""The read side of ``SqliteStore``: record pages, exports, timelines, "overdue now", the delivery log.

Every page walks a covering index in its order and stops at the page size; the cursor is
the last row's sort values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import orjson

from rules.timeutil import format_instant
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
from store.sqlite_schema import subtree_clause

T = TypeVar("T")


def _filter(where: list[str], args: list[Any], agency: str | None, equal: tuple[tuple[str, Any], ...]) -> None:
    """The filters records and overdue clocks share: an agency subtree, and columns equal to a value when given."""
    if agency:
        clause, extra = subtree_clause("agency_id", agency)
        where.append(clause)
        args += extra
    for column, value in equal:
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)


class SqliteQueries:
    """Mixed into ``SqliteStore``."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

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

    async def get_record(self, record_id: str) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute(
                "SELECT doc, revoker FROM records LEFT JOIN revoked ON record_id = id WHERE id = ?", (record_id,)
            ).fetchone()
            return None if row is None else _with_revoker(row[0], row[1])

        return await self._run(read)

    async def search_records(self, q: RecordQuery) -> Page:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if q.kinds:
            where.append(f"kind IN ({','.join('?' * len(q.kinds))})")
            args += list(q.kinds)
        _filter(
            where, args, q.agency, (("item_code", q.item_code), ("handler_id", q.handler_id), ("case_id", q.case_id))
        )
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
        filters: list[str] = []
        fargs: list[Any] = []
        _filter(filters, fargs, q.agency, (("item_code", q.item_code), ("handler_id", q.handler_id)))
        if q.due_from is not None:
            filters.append("deadline >= ?")
            fargs.append(q.due_from)
        if q.handled is not None:
            filters.append("handled = ?")
            fargs.append(int(q.handled))
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
                f"deadline, {limit} AS limit_seconds, handled, paused FROM {table} "
                "WHERE completed IS NULL AND deadline IS NOT NULL "
                f"AND deadline {'>=' if q.upcoming else '<'} ?{tail}{after.format(step=step)} ORDER BY {order} LIMIT ?)"
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
                 "deadline": format_instant(d), "limit_seconds": lim, "overdue_seconds": now - d, "handled": bool(hd),
                 "paused": bool(pa)}
                for k, c, s, a, i, h, d, lim, hd, pa in rows
            ]  # fmt: skip
            last = rows[-1] if rows else None
            cursor = encode_cursor([last[6], last[1], last[2]]) if more and last else None
            return Page(items, cursor)

        return await self._run(read)


def _with_revoker(doc: bytes, revoker: str | None) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(doc)
    if revoker is not None:
        out["revoked_by"] = revoker
    return out
