"""The record trail on the embedded store: chain entries by position, and the checks ``verify`` makes.

A record's chain fields sit in columns beside its document (``chain_p``, ``chain_n``,
``chain_hash``).  An entry is read back with the columns the queries use laid over
its document wherever the two disagree, so an ``UPDATE`` of a column alone (the
points, the kind) shows as an edit, as an edit of the document does.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import orjson

from rules.chain import Entry
from rules.timeutil import format_instant
from store.sqlite_bulk import rows_param
from store.sqlite_schema import COUNTED_SQL, DAY_SQL

T = TypeVar("T")
COLUMNS = ("kind", "case_id", "step", "at", "agency_id", "item_code", "handler_id", "points")


def _entry(row: tuple[Any, ...]) -> Entry:
    doc, n, digest, *cols = row
    record: dict[str, Any] = orjson.loads(doc)
    for name, value in zip(COLUMNS, cols, strict=True):
        shown = format_instant(value) if name == "at" else value
        if name == "points" and isinstance(record.get(name), int | float) and record[name] == value:
            continue
        if record.get(name) != shown:
            record[name] = shown
    return Entry(n, digest, record)


class SqliteTrail:
    """The trail side of ``SqliteStore``, which mixes it in."""

    day_offset: int

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    async def chain_heads(self) -> dict[int, tuple[int, str]]:
        sql = (
            "SELECT chain_p, chain_n, chain_hash FROM records r WHERE chain_p IS NOT NULL "
            "AND chain_n = (SELECT MAX(chain_n) FROM records WHERE chain_p = r.chain_p)"
        )
        return await self._run(lambda db: {p: (n, h) for p, n, h in db.execute(sql)})

    async def chain_partitions(self) -> list[int]:
        return await self._run(
            lambda db: [r[0] for r in db.execute("SELECT DISTINCT chain_p FROM records WHERE chain_p IS NOT NULL")]
        )

    async def chain_entries(self, partition: int, page: int = 5000) -> AsyncIterator[Entry]:
        sql = (
            f"SELECT rowid, doc, chain_n, chain_hash, {', '.join(COLUMNS)} FROM records "
            "WHERE chain_p = ? AND (chain_n > ? OR (chain_n = ? AND rowid > ?)) ORDER BY chain_n, rowid LIMIT ?"
        )
        after = (0, 0)

        def read(db: sqlite3.Connection, a: tuple[int, int]) -> list[tuple[Any, ...]]:
            return db.execute(sql, (partition, a[0], a[0], a[1], page)).fetchall()

        while True:
            rows = await self._run(functools.partial(read, a=after))
            for row in rows:
                yield _entry(row[1:])
            if len(rows) < page:
                return
            after = (rows[-1][2], rows[-1][0])

    async def unchained(self) -> tuple[int, str | None]:
        def read(db: sqlite3.Connection) -> tuple[int, str | None]:
            (n,) = db.execute("SELECT COUNT(*) FROM records WHERE chain_p IS NULL").fetchone()
            first = db.execute("SELECT id FROM records WHERE chain_p IS NULL LIMIT 1").fetchone()
            return n, None if first is None else first[0]

        return await self._run(read)

    async def check_rollups(self) -> list[str]:
        """Where the per-day roll-ups disagree with the rows they count (a row edited or deleted behind
        the triggers' back).  Days are counted at the offset the roll-ups were last built for (the file's
        ``meta``), not this process's: a process opened with another offset rebuilds them for its own, and a
        check at a stale offset would report every record near midnight as tampered with."""

        def read(db: sqlite3.Connection) -> list[str]:
            row = db.execute("SELECT value FROM meta WHERE key = 'day_offset'").fetchone()
            o = self.day_offset if row is None else int(row[0])
            day = DAY_SQL.format(at="at", o=o)
            counted = COUNTED_SQL.format(r="records")
            sql = (
                f"SELECT d, agency_id, kind, SUM(n), SUM(pts) FROM ("
                f" SELECT {day} AS d, agency_id, kind, COUNT(*) AS n, SUM(points) AS pts FROM records"
                f" WHERE {counted} GROUP BY d, agency_id, kind"
                f" UNION ALL SELECT day, agency_id, kind, -n, -points FROM agency_days)"
                f" GROUP BY d, agency_id, kind HAVING SUM(n) != 0 OR ABS(SUM(pts)) > 1e-6 LIMIT 20"
            )
            return [
                f"day {format_instant(d * 86400)[:10]}, agency {a}, kind {k}: the rows count {n:+d} records and "
                f"{p:+g} points against the roll-up"
                for d, a, k, n, p in db.execute(sql)
            ]

        return await self._run(read)

    async def put_integrity(self, report: dict[str, Any]) -> None:
        value = orjson.dumps(report).decode()
        await self._run(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES ('integrity', ?)", (value,)))

    async def get_integrity(self) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT value FROM meta WHERE key = 'integrity'").fetchone()
            return None if row is None else dict(orjson.loads(row[0]))

        return await self._run(read)


def stored_among(db: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Which of these record ids are stored: one statement, however many (``store.sqlite_bulk``)."""
    sql = "SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?))"
    return {r[0] for r in db.execute(sql, rows_param(ids))}
