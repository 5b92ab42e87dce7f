"""A table recovery that stops receiving its changelog is sent back to where it stands.

Faust (faust-streaming 0.15) can stall a recovery after a rebalance: the
fetcher keeps requesting the changelog partitions, yet no event reaches the
recovery, which then waits forever while it holds the partitions — observed
once in CI as a worker that never finished taking over from a worker stopped
beside it (Faust logs "No event received for active tp … since recovery
start" every five seconds).  Faust's consumer drops every message below a
partition's read offset, and a partition that comes back to a worker after a
rebalance can keep a stale one (robinhood/faust#542 fixed one such path).
Seeking the stalled partitions to the offsets the recovery has reached resets
both the fetch position and the read offset; at worst a message is read twice,
and a table write is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import faust

log = logging.getLogger("approval_monitor.recovery")


def stalled(
    remaining: Mapping[Any, int],
    offsets: Mapping[Any, int],
    last_event: Mapping[Any, float],
    started: float,
    kicked: Mapping[Any, float],
    now: float,
    after: float,
) -> dict[Any, int]:
    """Partitions with changelog left to read and no event for ``after`` seconds (nor a kick since): where to seek."""
    out = {}
    for tp, left in remaining.items():
        quiet_since = max(last_event.get(tp, started), kicked.get(tp, started))
        if left > 0 and now - quiet_since >= after:
            out[tp] = max(offsets.get(tp, 0), 0)
    return out


def watch_recovery(app: faust.App, after: float = 20.0) -> None:
    """Check the app's table recovery every few seconds, and re-seek the partitions it waits for in vain."""
    kicked: dict[Any, float] = {}

    @app.timer(interval=after / 4)  # type: ignore[untyped-decorator]
    async def kick_stalled_recovery() -> None:
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        started = getattr(recovery, "_recovery_started_at", None)
        if not recovery.in_recovery or started is None:
            kicked.clear()
            return
        now = time.monotonic()
        seek = stalled(
            recovery.active_remaining(), recovery.active_offsets, recovery._active_events_received_at,
            started, kicked, now, after,
        )  # fmt: skip
        if not seek:
            return
        where = ", ".join(f"{tp.topic}[{tp.partition}]@{off}" for tp, off in sorted(seek.items()))
        log.warning("table recovery received nothing for %.0f s; seeking again: %s", after, where)
        kicked.update(dict.fromkeys(seek, now))
        try:
            await app.consumer.seek_wait(seek)
        except Exception as e:  # a rebalance under way: the next recovery starts afresh
            log.warning("could not seek the stalled changelog partitions: %r", e)
