"""Scorecards and daily counts on the embedded store: whole local days from the roll-ups, ragged ends raw."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from rules.timeutil import format_instant
from store.base import Period, empty_card
from store.sqlite_schema import COUNTED_SQL, ON_TIME_SQL, subtree_clause

COUNTED = COUNTED_SQL.format(r="records")

T = TypeVar("T")


class SqliteStats:
    """The read side of the roll-ups; ``SqliteStore`` mixes it in."""

    day_offset: int

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    def _whole_days(self, since: int, until: int) -> tuple[int, int]:
        """The local days [d0, d1) lying wholly inside [since, until); empty when d0 >= d1."""
        o = self.day_offset
        return -((-(since + o)) // 86400), (until + o) // 86400

    def _day_start(self, d: int) -> int:
        return d * 86400 - self.day_offset

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
        scope, sargs = ("1=1", []) if period.agency is None else subtree_clause("agency_id", period.agency)
        raw_sql = (
            f"SELECT {column}, kind, COUNT(*), SUM(points) FROM records WHERE at >= ? AND at < ? AND {scope} "
            f"AND {column} IS NOT NULL AND {COUNTED} GROUP BY {column}, kind"
        )
        roll_sql = (
            f"SELECT {column}, kind, SUM(n), SUM(points) FROM {table} WHERE day >= ? AND day < ? AND {scope} "
            f"GROUP BY {column}, kind HAVING SUM(n) > 0"
        )
        step_sql = (
            f"SELECT {column}, COUNT(*), SUM({ON_TIME_SQL.format(s='steps')}) "
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

    async def step_ratios(self, by: str, period: Period) -> dict[str, list[float]]:
        column = {"agency": "agency_id", "handler": "handler_id"}[by]
        scope, sargs = ("1=1", []) if period.agency is None else subtree_clause("agency_id", period.agency)
        sql = (
            f"SELECT {column}, ratio FROM steps WHERE completed >= ? AND completed < ? AND ratio IS NOT NULL "
            f"AND {column} IS NOT NULL AND {scope}"
        )

        def read(db: sqlite3.Connection) -> dict[str, list[float]]:
            out: dict[str, list[float]] = {}
            for key, ratio in db.execute(sql, [period.since, period.until, *sargs]):
                out.setdefault(key, []).append(ratio)
            return out

        return await self._run(read)

    async def daily(self, period: Period, utc_offset: int) -> list[dict[str, Any]]:
        scope, sargs = ("1=1", []) if period.agency is None else subtree_clause("agency_id", period.agency)
        raw_sql = (
            "SELECT (at + ?) / 86400 AS d, kind, COUNT(*) FROM records "
            f"WHERE at >= ? AND at < ? AND {scope} AND {COUNTED} GROUP BY d, kind"
        )
        if utc_offset == self.day_offset:
            edges, days = self._split(period.since, period.until)
        else:  # the roll-ups count other days: every record is read
            edges, days = [(period.since, period.until)], None
        queries = [(raw_sql, [utc_offset, a, b, *sargs]) for a, b in edges]
        if days is not None:
            queries.append(
                (f"SELECT day, kind, SUM(n) FROM agency_days WHERE day >= ? AND day < ? AND {scope} "
                 "GROUP BY day, kind HAVING SUM(n) > 0",
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
