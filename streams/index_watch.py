"""The sink's eye on this month's five-colour indices: an agency turning yellow, orange or red raises an alarm.

Indices are aggregates over everything the store holds, so they are looked at
where the store is: every ``every_seconds`` the sink rolls this local month's
scorecards up the agency tree (``rules.indicators``) and publishes an
``index_alarm`` record for each agency past green, on the records topic like any
record — chained, indexed, pushed to the page and to webhook subscribers.  The
id is one per agency, month and colour: a repeat (after a restart, before the
store shows the first) is the same record, and subscribers and stores drop it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from rules.indicators import index_alarms, month_of, period_bounds, rolled_up
from store.base import Period, Store
from streams.config import IndexRules

log = logging.getLogger("approval_monitor.sink")


class IndexWatch:
    def __init__(
        self, store: Store, send: Callable[[bytes, bytes], Awaitable[Any]], rules: IndexRules, utc_offset: int
    ) -> None:
        self.store, self.send, self.rules, self.offset = store, send, rules, utc_offset
        self.sent: set[str] = set()

    async def check(self, now: int | None = None) -> int:
        """Publish the alarms this month's indices call for and no one has seen yet; how many were published."""
        now = int(time.time()) if now is None else now
        period = month_of(now, self.offset)
        since, until, _ = period_bounds(period, self.offset)
        rows = rolled_up(await self.store.scorecard("agency", Period(since, until)))
        alarms = [a for a in index_alarms(rows, period, list(self.rules.bands), self.rules.min_steps, now)
                  if a.id not in self.sent]  # fmt: skip
        if not alarms:
            return 0
        fresh = [a for a in alarms if await self.store.get_record(a.id) is None]  # by id alone: `at` is now
        for a in fresh:
            await self.send(a.case_id.encode(), orjson.dumps(a.to_json()))
            log.warning("index alarm: %s is %s in %s", a.agency_id, (a.detail or {}).get("colour"), period,
                        extra={"agency_id": a.agency_id, **(a.detail or {})})  # fmt: skip
        self.sent |= {a.id for a in alarms}
        return len(fresh)
