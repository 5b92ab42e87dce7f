"""Events from agency systems, checked at the door.

``decode`` turns one parsed JSON value into an ``Event`` or a ``Rejection`` that
says which field is wrong, what it held and how to write it.  It is the single
gate for every source — a .jsonl line, a Kafka message, an HTTP batch — so the
three cannot disagree about what is valid.  It is plain code, not a pydantic
model, because it runs once per event on the hot path.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from rules.timeutil import TimestampError, format_instant, parse_instant

CASE_SUBMITTED = "case_submitted"
STEP_STARTED = "step_started"
STEP_COMPLETED = "step_completed"
CASE_SUSPENDED = "case_suspended"
CASE_RESUMED = "case_resumed"
FEE_CHARGED = "fee_charged"
CASE_COMPLETED = "case_completed"
LIMIT_EXTENDED = "limit_extended"

EVENT_TYPES = (
    CASE_SUBMITTED,
    STEP_STARTED,
    STEP_COMPLETED,
    CASE_SUSPENDED,
    CASE_RESUMED,
    FEE_CHARGED,
    CASE_COMPLETED,
    LIMIT_EXTENDED,
)
_TYPE_LIST = ", ".join(EVENT_TYPES)
OUTCOMES = ("approved", "refused", "withdrawn")  # contract §7.3: only approved cases owe every required step


@dataclass(slots=True, init=False)
class Event:
    """A valid event; ``seq`` is its arrival position (line number, offset, …).

    The initializer is written out because the one ``dataclasses`` generates is interpreted
    even in the compiled core (approval_monitor.compiled_core), several times slower there, and
    this runs twice per event in a replay; ``test_events`` holds it to the fields below.
    """

    t: int
    seq: int
    type: str
    event_id: str
    case_id: str
    step: str | None = None
    item_code: str | None = None
    agency_id: str | None = None
    handler_id: str | None = None
    fee: Decimal | None = None
    reason: str | None = None
    raw: bytes | None = None
    received: int | None = None  # when the report reached the monitor (contract §7.8)
    outcome: str | None = None  # case_completed: approved (default), refused or withdrawn (contract §7.3)
    suspension_kind: str | None = None  # case_suspended: a kind the pack declares (contract §7.5)
    extend_days: int | None = None  # limit_extended (contract §7.6): for a day clock
    extend_hours: Decimal | None = None  # limit_extended: for an hour clock

    def __init__(
        self, t: int, seq: int, type: str, event_id: str, case_id: str, step: str | None = None,
        item_code: str | None = None, agency_id: str | None = None, handler_id: str | None = None,
        fee: Decimal | None = None, reason: str | None = None, raw: bytes | None = None, received: int | None = None,
        outcome: str | None = None, suspension_kind: str | None = None, extend_days: int | None = None,
        extend_hours: Decimal | None = None,
    ) -> None:  # fmt: skip
        self.t, self.seq, self.type, self.event_id, self.case_id, self.step = t, seq, type, event_id, case_id, step
        self.item_code, self.agency_id, self.handler_id, self.fee = item_code, agency_id, handler_id, fee
        self.reason, self.raw, self.received, self.outcome = reason, raw, received, outcome
        self.suspension_kind, self.extend_days, self.extend_hours = suspension_kind, extend_days, extend_hours


@dataclass(slots=True)
class Rejection:
    """An input kept with the reason it was not applied; ``code`` is for machines."""

    seq: int
    event_id: str | None
    case_id: str | None
    code: str
    reason: str
    raw: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.seq,
            "event_id": self.event_id,
            "case_id": self.case_id,
            "code": self.code,
            "reason": self.reason,
            **raw_fields(self.raw),
        }


def raw_fields(raw: bytes | None) -> dict[str, Any]:
    """The input exactly as it came, as JSON fields: its text, or base64 when it is not UTF-8.

    A rejection is evidence of what an agency sent, so it must give back the very
    bytes: decoding with replacement characters would alter them.  Text that JSON
    would escape six-fold (control characters) goes as base64 as well, so a kept
    input is never more than a third larger than it came.
    """
    if raw is None:
        return {"raw": None}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"raw": base64.b64encode(raw).decode("ascii"), "raw_encoding": "base64"}
    if sum(1 for c in raw if c < 0x20 and c not in (0x09, 0x0A, 0x0D)) * 16 > len(raw):
        return {"raw": base64.b64encode(raw).decode("ascii"), "raw_encoding": "base64"}
    return {"raw": text}


def raw_bytes(fields: dict[str, Any]) -> bytes | None:
    """The inverse of ``raw_fields``: the input's bytes from a kept rejection."""
    raw = fields.get("raw")
    if raw is None:
        return None
    if fields.get("raw_encoding") == "base64":
        return base64.b64decode(raw)
    return str(raw).encode("utf-8")


def _ident(obj: dict[str, Any], name: str) -> str | None:
    v = obj.get(name)
    if isinstance(v, str):
        return v if v else None
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def decode(obj: Any, seq: int, raw: bytes | None = None) -> Event | Rejection:
    """Validate one parsed JSON value.

    Checks run in a fixed order, so an input with several faults is always
    refused for the same one; the event is built once, at the end.  Any JSON
    value may stand where a field is expected (a list, an object, a huge
    number): each check tests the type before it uses the value.
    """
    if not isinstance(obj, dict):
        return Rejection(
            seq, None, None, "not_an_object", f"an event must be a JSON object, got {type(obj).__name__}", raw
        )
    get = obj.get
    event_id = _ident(obj, "event_id")
    case_id = _ident(obj, "case_id")
    if event_id is None or case_id is None:
        name = "event_id" if event_id is None else "case_id"
        how = "is missing" if name not in obj else f"must be a non-empty string, got {obj[name]!r}"
        return Rejection(
            seq,
            event_id,
            case_id,
            "missing_field",
            f"`{name}` {how}; every event needs event_id, case_id, type and occurred_at",
            raw,
        )
    etype = get("type")
    if type(etype) is not str or etype not in _KNOWN_TYPES:  # a list or an object cannot be looked up in a set
        if "type" not in obj:
            return Rejection(
                seq, event_id, case_id, "missing_field", f"`type` is missing; use one of {_TYPE_LIST}", raw
            )
        return Rejection(
            seq, event_id, case_id, "unknown_type", f"`type` {etype!r} is not known; use one of {_TYPE_LIST}", raw
        )
    occurred = get("occurred_at", _ABSENT)
    if occurred is _ABSENT:
        return Rejection(
            seq,
            event_id,
            case_id,
            "missing_field",
            "`occurred_at` is missing; give an RFC 3339 time with offset, e.g. 2026-11-20T09:00:00+08:00",
            raw,
        )
    try:
        t = parse_instant(occurred)
    except TimestampError as e:
        return Rejection(seq, event_id, case_id, "bad_timestamp", f"`occurred_at` {e}", raw)
    received = get("received_at", _ABSENT)
    if received is not _ABSENT:
        try:
            received = parse_instant(received)
        except TimestampError as e:
            return Rejection(seq, event_id, case_id, "bad_timestamp", f"`received_at` {e}", raw)
    else:
        received = None
    step = item_code = agency_id = fee = None
    if etype in (STEP_STARTED, STEP_COMPLETED):
        step = get("step")
        if type(step) is not str or not step:
            return _needs(obj, "step", etype, seq, event_id, case_id, raw)
    elif etype == CASE_SUBMITTED:
        item_code = get("item_code")
        if type(item_code) is not str or not item_code:
            return _needs(obj, "item_code", etype, seq, event_id, case_id, raw)
        agency_id = get("agency_id")
        if type(agency_id) is not str or not agency_id:
            return _needs(obj, "agency_id", etype, seq, event_id, case_id, raw)
    elif etype == FEE_CHARGED:
        charged = _fee(get("fee_yuan"), etype)
        if isinstance(charged, tuple):
            code, why = charged
            return Rejection(seq, event_id, case_id, code, why, raw)
        fee = charged
    handler = get("handler_id")
    if type(handler) is not str or not handler:
        handler = str(handler) if isinstance(handler, int) and not isinstance(handler, bool) else None
    reason = get("reason")
    if type(reason) is not str:
        reason = None
    ev = Event(t, seq, etype, event_id, case_id, step, item_code, agency_id, handler, fee, reason, raw, received)
    if etype == CASE_COMPLETED and "outcome" in obj:
        outcome = obj["outcome"]
        if type(outcome) is not str or outcome not in OUTCOMES:
            return Rejection(seq, event_id, case_id, "bad_outcome",
                             f"`outcome` {outcome!r} is not one of {', '.join(OUTCOMES)}; leave it out for approved",
                             raw)  # fmt: skip
        ev.outcome = outcome
    if etype == CASE_SUSPENDED and "kind" in obj:
        kind = obj["kind"]
        if kind is None:
            why = "`kind` is null; name a suspension kind of the rule pack, or leave the field out"
            return Rejection(seq, event_id, case_id, "bad_kind", why, raw)
        ev.suspension_kind = kind if isinstance(kind, str) else orjson.dumps(kind).decode()
    if etype == LIMIT_EXTENDED:
        problem = _extension(obj, ev)
        if problem is not None:
            return Rejection(seq, event_id, case_id, "bad_extension", problem, raw)
    return ev


_ABSENT = object()
# Bounds no lawful extension comes near (行政许可法 §42 grants ten working days): beyond them the deadline
# would lie past what a calendar can count, and counting day by day towards it would stall the engine.
MAX_EXTEND_DAYS = 3660
MAX_EXTEND_HOURS = 87_840
_KNOWN_TYPES = frozenset(EVENT_TYPES)


def _needs(
    obj: dict[str, Any], name: str, etype: str, seq: int, event_id: str, case_id: str, raw: bytes | None
) -> Rejection:
    value = obj.get(name)
    how = "is missing" if value is None else f"must be a non-empty string, got {value!r}"
    return Rejection(seq, event_id, case_id, "missing_field", f"`{name}` {how}; {etype} needs it", raw)


def _fee(fee: Any, etype: str) -> Decimal | tuple[str, str]:
    """The charge in yuan, exactly as written, or the code and reason of its rejection."""
    if fee is None:
        return "missing_field", f"`fee_yuan` is required for {etype}; give the amount in yuan as a number"
    if isinstance(fee, bool) or not isinstance(fee, int | float) or (isinstance(fee, float) and not math.isfinite(fee)):
        return "bad_fee", f"`fee_yuan` must be a JSON number such as 12.5, got {fee!r}"
    if fee < 0:
        return (
            "bad_fee",
            f"`fee_yuan` must not be negative, got {fee!r}; send refunds to the agency system, not as fees",
        )
    return Decimal(fee) if isinstance(fee, int) else Decimal(repr(fee))


def _extension(obj: dict[str, Any], ev: Event) -> str | None:
    """The line-alone checks of a limit_extended (contract §7.9); the clock's checks come when it applies."""
    if "step" in obj:
        step = obj["step"]
        if not isinstance(step, str) or not step:
            return f"`step` must be a non-empty string naming the step whose limit is extended, got {step!r}; " \
                "leave it out to extend the case's limit"  # fmt: skip
        ev.step = step
    has_days, has_hours = "extend_days" in obj, "extend_hours" in obj
    if has_days == has_hours:
        which = "both" if has_days else "neither"
        return f"{which} of `extend_days` and `extend_hours` given; give extend_days (whole working or natural days) " \
            "for a limit in days, or extend_hours for a limit in hours"  # fmt: skip
    if has_days:
        days = obj["extend_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            return f"`extend_days` must be a whole number of at least 1, such as 5, got {days!r}"
        if days > MAX_EXTEND_DAYS:
            return f"`extend_days` {days} is more than {MAX_EXTEND_DAYS} (ten years): no calendar can time it; " \
                "send the extension the decision grants"  # fmt: skip
        ev.extend_days = days
        return None
    hours = obj["extend_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
        return f"`extend_hours` must be a positive number such as 8 or 0.5, got {hours!r}"
    if hours > MAX_EXTEND_HOURS:
        return f"`extend_hours` {hours!r} is more than {MAX_EXTEND_HOURS} (ten years of hours): no calendar can " \
            "time it; send the extension the decision grants"  # fmt: skip
    ev.extend_hours = Decimal(hours) if isinstance(hours, int) else Decimal(repr(hours))
    return None


def future_stamped(ev: Event, tolerance: int) -> Rejection | None:
    """An event stamped more than ``tolerance`` seconds after it was received: nobody reports what has not
    happened yet (contract §7.8; judged on the line alone, so its event_id stays unused)."""
    if ev.received is None or ev.t - ev.received <= tolerance:
        return None
    return Rejection(
        ev.seq,
        ev.event_id,
        ev.case_id,
        "future_timestamp",
        f"`occurred_at` {format_instant(ev.t)} is {ev.t - ev.received} s after the report reached the monitor "
        f"({format_instant(ev.received)}; the rule pack tolerates {tolerance} s of clock skew): send events when "
        "they have happened, stamped with the agency system's synchronised clock",
        ev.raw,
    )


def parse_line(raw: bytes, seq: int) -> Event | Rejection:
    """One line of a .jsonl file or one Kafka message value."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return Rejection(seq, None, None, "bad_json", f"not valid JSON: {e}", raw)
    return decode(obj, seq, raw)
