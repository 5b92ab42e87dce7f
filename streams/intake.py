"""The intake of the worker and the sink: each fetch of their input topics handed over whole, past Faust's
per-message path.

Faust delivers every message on its own: a task raced against flow control
(``wait_first``), a ``Message`` and an ``Event`` object, the conductor, a
channel queue, a stream and its acknowledgement bookkeeping.  Profiled, that
path cost the worker more than judging did (README, Performance).  The worker
needs none of it: its own read positions decide what is judged and when
(``streams.positions``), and it commits the group's offsets from them
(``streams.app``); the sink commits what it has written (``streams.sink``).
So this consumer takes what aiokafka fetched for the input topics as one list
per fetch and awaits the process's handler with it; every other topic (the
tables' changelogs while they recover) goes Faust's usual way.

Faust keeps everything else: the consumer group and its rebalancing, tables,
changelogs and recovery, flow control.  A fetch made before a rebalance is
dropped when the generation changed meanwhile, as Faust drops it; the
positions then read what was dropped directly (a gap) or skip it (not owned).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

log = logging.getLogger("approval_monitor.intake")

Handler = Callable[[list[Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Intake:
    """The input topics taken whole, and the coroutine that judges one fetch of them."""

    topics: frozenset[str]
    handler: Handler


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, draining the intake's topics a fetch at a time."""

    intake: Intake | None = None

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by Faust's fetcher
        intake = self.intake
        if intake is None:
            await super()._drain_messages(fetcher)
            return
        callback = self.callback
        app = self.app
        read_offset = self._read_offset
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await self._wait_next_records(1.0)
                await asyncio.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self._seek_back()
                    continue
                generation = app.consumer_generation_id
                batch: list[Any] = []
                for tp, recs in records.items():
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in intake.topics:
                        batch.extend(recs)
                    else:
                        for rec in recs:
                            if app.consumer_generation_id != generation or not self.flow_active:
                                break
                            await self.wait_first(callback(self._to_message(tp, rec)), self.suspend_flow.wait())
                    read_offset[tp] = recs[-1].offset
                if batch and app.consumer_generation_id == generation and self.flow_active:
                    await intake.handler(batch)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise

    async def _seek_back(self) -> None:
        """Flow stopped (a rebalance): seek back to the committed offsets, as Faust's own drain does."""
        try:
            await self.perform_seek()
        except Exception as e:
            self.log.warning("exception performing seek when flow not active %r", e)


class BatchTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose consumer hands the intake's topics over a fetch at a time."""

    Consumer = BatchConsumer

    def __init__(self, *args: Any, intake: Intake, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.intake = intake

    def create_consumer(self, callback: Any, **kwargs: Any) -> Any:
        consumer = cast(BatchConsumer, super().create_consumer(callback, **kwargs))
        consumer.intake = self.intake
        return consumer


def use_intake(
    app: Any, source: Any, handler: Handler, resume_at: Callable[[], Mapping[TP, int]] | None = None
) -> GroupOffsets:
    """Make ``app``'s consumer (not yet created) hand ``source``'s topics to ``handler`` a fetch at a time, subscribe
    the group to them, and commit the group's offsets once a second: what ``resume_at`` says (the worker's read
    positions) and what the handler marked done (``GroupOffsets.done_with``)."""
    app.transport = BatchTransport(app.conf.broker_consumer, app, intake=Intake(frozenset(source.topics), handler))
    app.topics.add(source)  # subscribed by the group and co-partitioned with the tables, as an agent's would be
    group = GroupOffsets(app, resume_at)

    @app.task  # type: ignore[untyped-decorator]
    async def commit_every_second() -> None:
        while True:
            await asyncio.sleep(1.0)
            await group.commit()

    return group


class GroupOffsets:
    """The offsets the group should resume at, committed by the app's own task (once a second, not per batch).

    Faust commits what its streams acknowledged; the intake's messages never pass
    a stream, so the process says what is done (the worker: its read positions;
    the sink: what it wrote) and this commits it.  A commit that fails or lands
    late costs repeated work after a restart, never a message.
    """

    def __init__(self, app: Any, resume_at: Callable[[], Mapping[TP, int]] | None = None) -> None:
        self.app = app
        self.resume_at = resume_at
        self.pending: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}

    def done(self, offsets: Mapping[TP, int]) -> None:
        self.pending.update(offsets)

    def done_with(self, messages: Iterable[Any]) -> None:
        """Every message up to these is handled: resume after the last of each partition."""
        for m in messages:
            tp = TP(m.topic, m.partition)
            if m.offset + 1 > self.pending.get(tp, -1):
                self.pending[tp] = m.offset + 1

    def forget(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self.pending.pop(tp, None)
            self.committed.pop(tp, None)

    async def commit(self) -> None:
        if self.resume_at is not None:
            self.done(self.resume_at())
        offsets = {tp: off for tp, off in self.pending.items() if self.committed.get(tp) != off}
        if not offsets:
            return
        try:
            # Bounded: a commit waits for any rebalance that has begun, and that rebalance may wait for the caller.
            await asyncio.wait_for(self.app.consumer._commit_offsets(offsets), timeout=5.0)
            self.committed.update(offsets)
        except Exception as e:  # a rebalance under way, a coordinator away: the next commit will do
            log.warning("could not commit the group's offsets: %r", e)
