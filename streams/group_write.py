"""Group commit: what arrives while a write runs is written together by the next one — one in flight, in order,
and a bounded queue.

A store's commit costs by the pages it touches more than by the rows in it:
SQLite's log takes every page a transaction dirtied, and a record's index entries
land on pages far apart (its id is a hash), so a transaction of 400 records dirties
nearly as many pages as one of 4,000.  Measured on the sink's own batches, 114,000
messages written 500 at a time took twice as long as 20,000 at a time.  A fixed
large batch would make a quiet stream wait for company; grouping instead writes
each fetch at once when the store keeps up, and lets batches grow exactly when it
falls behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupWriter(Generic[T]):
    """``write`` is given everything queued since it last ran, oldest first."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], most: int) -> None:
        self._write = write
        self._most = most  # a fetch waits while the queue holds this much (sizes as ``put`` is told them)
        self._queue: list[T] = []
        self._queued = 0
        self._room = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    async def put(self, item: T, size: int) -> None:
        """Queue ``item``; start a write if none runs; return once the queue has room (the intake waits while the
        store lags, as it must: Kafka holds what is not fetched yet, memory need not)."""
        self._queue.append(item)
        self._queued += size
        if self._task is None or self._task.done():
            if self._task is not None:
                self._task.result()  # a failed write (the store's are retried until they succeed) fails the intake
            self._task = asyncio.ensure_future(self._drain())
        while self._queued >= self._most and not self._task.done():
            self._room.clear()
            await self._room.wait()

    async def settle(self) -> None:
        """Everything queued so far is written."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._task is not None:
            self._task.result()

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken, self._queue, self._queued = self._queue, [], 0
                self._room.set()
                await self._write(taken)
        finally:
            self._room.set()  # a waiting fetch sees the failure in ``put``
