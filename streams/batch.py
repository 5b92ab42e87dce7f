"""One batch of the worker: its states, outputs and wake-ups, made durable in that order.

Events apply in event time, one by one; the wall clock fires once per changed
case after the whole batch; timer ticks fire what is due.  ``commit`` sends the
records and rejections and waits for Kafka, then writes the case states to the
table and its changelog and waits again; the caller saves the read positions
after that (``streams.judging``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from rules.actions import Action, parse_action
from rules.agency import in_subtree
from rules.engine import CaseState, Output
from rules.events import Event, Rejection, future_stamped, parse_line
from rules.live import on_action, on_event, on_tick
from rules.records import Record
from streams.outbox import of_topic
from streams.provenance import SCOPE_HEADER, SENDER_HEADER, header, received_at
from streams.rejections import rejection_message, too_large

if TYPE_CHECKING:
    from streams.judging import Judge

log = logging.getLogger("approval_monitor.worker")


def parse_tick(msg: Any) -> tuple[int, list[str], dict[str, int]]:
    """(partition, due cases, each input's end offset when the tick was sent); a tick from before the offsets
    were sent is a bare list of cases, and one that is not JSON names nothing."""
    try:
        got = orjson.loads(msg.value)
        if isinstance(got, list):
            return msg.partition, [str(c) for c in got], {}
        return msg.partition, [str(c) for c in got["cases"]], {str(t): int(o) for t, o in got["after"].items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        log.error("a tick that is not one the worker sends was skipped", extra={"offset": msg.offset})
        return msg.partition, [], {}


class Batch:
    """One batch: its states, outputs and wake-ups, made durable in that order."""

    def __init__(self, judge: Judge, now: int) -> None:
        self.j = judge
        self.now = now
        self.states: dict[bytes, tuple[int, CaseState | None]] = {}  # key -> (partition, state; None = forget)
        self.applied: dict[bytes, list[Event | Action]] = {}  # this batch's inputs per case, to rebuild after a failure
        self.touched: dict[bytes, int] = {}  # cases of caught-up partitions an event changed
        self.outputs: list[tuple[Output, Any]] = []
        self.timed: list[Record] = []  # raised by a timer: their lateness is measured once acknowledged
        self.events = 0  # counted once per batch: the metric's lock costs more than the addition

    def load(self, key: bytes, partition: int) -> CaseState | None:
        if key in self.states:
            return self.states[key][1]
        st = self.j.decoded.get(key)
        if st is not None:
            self.j.decoded.move_to_end(key)
            return st
        return self.j.load_stored(key, partition)

    def event(self, msg: Any) -> None:
        j = self.j
        self.events += 1
        value = self._value(msg)
        if value is None:
            return
        got = parse_line(value, msg.offset)
        if isinstance(got, Rejection):
            self.outputs.append((got, msg))
            return
        got.received = received_at(msg)  # the broker's stamp, whatever the sender wrote (contract §7.8)
        if got.received is not None and (future := future_stamped(got, j.engine.pack.future_tolerance)) is not None:
            self.outputs.append((future, msg))
            return
        key = got.case_id.encode()
        if msg.key != key:
            reason = (
                f"the message key {msg.key!r} is not the case_id; key every event by its case_id "
                "so that a case's events stay on one partition, in order"
            )
            self.outputs.append((Rejection(msg.offset, got.event_id, got.case_id, "bad_key", reason, value), msg))
            return
        p = msg.partition
        scope = header(msg, SCOPE_HEADER)
        if scope is not None and (refused := self._out_of_scope(key, got, scope, msg)) is not None:
            self.outputs.append((refused, msg))
            return
        try:
            st, outputs = on_event(j.engine, self.load(key, p), got)
        except Exception as e:  # a bug in the engine: keep the event, never stop on it
            self._failed(key, p, e)
            reason = (
                f"the engine failed on this event ({type(e).__name__}: {e}); it is kept here and the case goes on "
                "without it: report it to the operators"
            )
            self.outputs.append(
                (Rejection(msg.offset, got.event_id, got.case_id, "internal_error", reason, value), msg)
            )
            return
        self.outputs.extend((o, msg) for o in outputs)
        # An unknown case is kept too (closed, forgotten after the retention like a completed one): its
        # events' ids are used up, so a copy resent later is skipped as replay skips it (contract §1).
        self._keep(key, p, st, got)

    def action(self, msg: Any) -> None:
        """A supervisor's or agency's action from the API (``rules.workflow``), judged in the case's order."""
        j = self.j
        value = self._value(msg)
        if value is None:
            return
        got = parse_action(value, msg.offset)
        if isinstance(got, Rejection):
            self.outputs.append((got, msg))
            return
        key = got.case_id.encode()
        if msg.key != key:
            reason = f"the message key {msg.key!r} is not the case_id {got.case_id!r}; the API keys actions by case"
            self.outputs.append((Rejection(msg.offset, got.action_id, got.case_id, "bad_key", reason, value), msg))
            return
        p = msg.partition
        try:
            st, outputs = on_action(j.engine, self.load(key, p), got)
        except Exception as e:  # a bug: keep the action, never stop on it
            self._failed(key, p, e)
            reason = f"the worker failed on this action ({type(e).__name__}: {e}); report it to the operators"
            refused = Rejection(msg.offset, got.action_id, got.case_id, "internal_error", reason, value)
            self.outputs.append((refused, msg))
            return
        self.outputs.extend((o, msg) for o in outputs)
        if st.work is not None:  # else nothing applied (refused): the case is left as it was
            self._keep(key, p, st, got)

    def _value(self, msg: Any) -> bytes | None:
        """The message's bytes, or None when it is over the size limit (then kept as a rejection)."""
        value = b"" if msg.value is None else bytes(msg.value)
        limit = self.j.conf.max_event_bytes
        if len(value) > limit:
            self.outputs.append((too_large(msg.offset, len(value), limit, value), msg))
            return None
        return value

    def _keep(self, key: bytes, partition: int, st: CaseState, got: Event | Action) -> None:
        """The case's new state, to be made durable with the batch; its wall clock fires after the batch."""
        st.partition = partition
        self.states[key] = (partition, st)
        self.applied.setdefault(key, []).append(got)
        if self.j.live(partition):
            self.touched[key] = partition

    def _out_of_scope(self, key: bytes, ev: Event, scope: str, msg: Any) -> Rejection | None:
        """An event may only change a case of its sender's agency subtree; the case's agency is the one
        it was submitted with (for a submission, the event's own)."""
        st = self.load(key, msg.partition)
        agency = st.agency_id if st is not None and st.item is not None else ev.agency_id
        if agency is None or in_subtree(agency, scope):
            return None  # an unknown case is refused by the engine, without revealing whose it is
        sender = header(msg, SENDER_HEADER) or "a producer"
        reason = (
            f"{sender} may write events for agency subtree {scope!r} only, and case {ev.case_id!r} belongs to "
            f"{agency!r}: send it with a key of that agency"
        )
        return Rejection(msg.offset, ev.event_id, ev.case_id, "out_of_scope", reason, ev.raw)

    def wake(self, key: bytes, partition: int) -> None:
        st = self.load(key, partition)
        if st is None:
            return
        if st.closed and st.due is None and not st.awaiting and st.last_t + self.j.conf.retain_seconds <= self.now:
            self.states[key] = (partition, None)
            return
        if not self._fire(key, partition, st, timed=True):
            self.j.timers.set(partition, st.case_id, self.j.wake_at(st))

    def fire_wall_clock(self) -> None:
        """After the batch's events: what the wall clock says is due for the cases they changed."""
        for key, p in self.touched.items():
            st = self.states.get(key, (p, None))[1]
            if st is not None:
                self._fire(key, p, st, timed=False)

    def _fire(self, key: bytes, partition: int, st: CaseState, timed: bool) -> bool:
        try:
            fired = on_tick(self.j.engine, st, self.now, self.j.conf.grace)
        except Exception as e:  # a bug in the engine: the case waits for its next event
            self._failed(key, partition, e)
            self.j.timers.set(partition, st.case_id, None)
            return True
        if not fired:
            return False
        self.outputs.extend((o, None) for o in fired)
        if timed:
            self.timed.extend(o for o in fired if type(o) is Record)
        self.states[key] = (partition, st)
        return True

    def _failed(self, key: bytes, partition: int, e: Exception) -> None:
        """Rebuild the case from its last durable state and this batch's events that applied cleanly."""
        log.error("the engine failed on case %r", key, exc_info=e, extra={"case_id": key.decode(errors="replace")})
        self.j.metrics.internal_errors.inc()
        self.j.decoded.pop(key, None)
        st = self.j.load_stored(key, partition)
        for got in self.applied.get(key, []):  # deterministic: what they raised is already in the outputs
            st, _ = on_event(self.j.engine, st, got) if isinstance(got, Event) else on_action(self.j.engine, st, got)
        if st is None:
            self.states.pop(key, None)
        else:
            self.states[key] = (partition, st)

    async def commit(self) -> None:
        """Records acknowledged, then states written and acknowledged; positions are saved after."""
        j = self.j
        # Straight to the producer, a record batch per partition: Faust's topic layer (schemas,
        # sensors, future wrappers) and even aiokafka's ``send`` cost more per message than judging did.
        box = j.outbox
        await box.ready(j.conf.records_topic, j.conf.rejected_topic)
        for out, msg in self.outputs:
            if type(out) is Record:
                box.put(j.conf.records_topic, out.case_id.encode(), orjson.dumps(out.to_json()))
            else:
                assert isinstance(out, Rejection)
                key = out.case_id.encode() if out.case_id else msg.key
                box.put(j.conf.rejected_topic, key, rejection_message(out, msg, j.conf.rejected_max_bytes))
        await box.send()
        acked = time.time()
        j.metrics.events.inc(self.events)
        counts = Counter((True, o.kind) if isinstance(o, Record) else (False, o.code) for o, _ in self.outputs)
        for (is_record, label), n in counts.items():
            (j.metrics.records if is_record else j.metrics.rejected).labels(label).inc(n)
        for rec in self.timed:
            j.metrics.lateness.observe(max(0.0, acked - (rec.at + j.conf.grace)))
        table = j.cases
        values: list[bytes | None] = []
        for key, (partition, st) in self.states.items():
            state = None if st is None else j.stored(st)
            values.append(state)
            box.add(table.changelog, partition, key, state)
        written = of_topic(await box.send(), table.changelog)
        # The local table follows Kafka: never ahead of the changelog (streams.local_tables).
        for (key, (partition, st)), state in zip(self.states.items(), values, strict=True):
            if st is None or state is None:
                table.delete(key, partition)
                j.decoded.pop(key, None)
                j.timers.set(partition, key.decode(), None)
            else:
                table.put(key, partition, state)
                j.decoded[key] = st
                j.decoded.move_to_end(key)
                j.timers.set(partition, st.case_id, j.wake_at(st))
        table.written(written)
        while len(j.decoded) > j.conf.state_cache:
            j.decoded.popitem(last=False)
