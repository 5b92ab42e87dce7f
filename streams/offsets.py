"""Where a consumer starts reading a partition its group has never committed.

Faust (0.11) loses messages there.  Between the broker's assignment and Faust
pausing the new partitions for recovery, the fetcher may already have read
records of a stream partition; Faust drops records of partitions that are not
yet active, and after recovery it seeks back only the partitions that have a
committed offset.  A partition without one keeps the advanced position, and the
dropped messages are never seen — observed as a worker restarted after a crash
skipping every event sent while it was down, because the crashed worker had
not yet committed.  So after every rebalance, before the partitions resume, each
stream partition without a committed offset is explicitly sent to its earliest
offset, which is what ``consumer_auto_offset_reset="earliest"`` promises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import faust

log = logging.getLogger("approval_monitor.offsets")


def start_uncommitted_at_earliest(app: faust.App, topics: Iterable[str]) -> None:
    """Connect the guard to ``app``'s rebalance-complete signal for ``topics``."""
    names = frozenset(topics)

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def seek_uncommitted(sender: Any, **kwargs: Any) -> None:
        consumer = app.consumer
        ours = [tp for tp in consumer.assignment() if tp.topic in names]
        if not ours:
            return
        # What Faust does next anyway; the concrete consumer has it, Faust's protocol does not.
        committed = await consumer.seek_to_committed()  # type: ignore[attr-defined]
        fresh = [tp for tp in ours if not committed.get(tp)]
        if fresh:
            earliest = await consumer.earliest_offsets(*fresh)
            await consumer.seek_wait(earliest)
            where = ", ".join(f"{tp.topic}[{tp.partition}]@{off}" for tp, off in sorted(earliest.items()))
            log.info("no committed offset; reading from the earliest: %s", where)
