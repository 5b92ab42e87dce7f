"""Waiting between attempts: one backoff for webhook POSTs, store writes and Kafka sends.

Waits double from a first wait up to a cap, half of each random ("equal
jitter"), so that processes failing together do not retry together.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff: float  # seconds before the first retry
    cap: float  # longest wait
    max_attempts: int | None = None  # None: until it succeeds (``until_done``)

    def delay(self, failed: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Wait after the ``failed``-th failed attempt; at least ``retry_after`` (a server's ask) up to the cap."""
        base = min(self.cap, self.backoff * 2.0 ** (failed - 1))
        wait: float = base / 2 + (rng or random).random() * base / 2
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait


async def until_done(
    what: str, action: Callable[[], Awaitable[None]], policy: RetryPolicy, log: logging.Logger,
    on_failure: Callable[[], None],
) -> None:  # fmt: skip
    """Run ``action`` until it succeeds, however often it fails: for writes that must never be dropped."""
    failed = 0
    while True:
        try:
            await action()
            return
        except Exception as e:
            failed += 1
            on_failure()
            wait = policy.delay(failed)
            log.warning(
                "%s failed (%s: %s); retrying in %.1fs", what, type(e).__name__, e, wait,
                extra={"what": what, "error": f"{type(e).__name__}: {e}", "retry_in": round(wait, 3)},
            )  # fmt: skip
            await asyncio.sleep(wait)
