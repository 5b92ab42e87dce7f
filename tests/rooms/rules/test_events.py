"""The door: every malformed input is rejected with a reason naming the field."""

from __future__ import annotations

import pytest

from rules.events import Event, Rejection, decode, parse_line
from rules.timeutil import TimestampError, format_instant, parse_instant

OK = {
    "event_id": "e1",
    "case_id": "C1",
    "type": "fee_charged",
    "fee_yuan": 12.5,
    "occurred_at": "2026-11-20T09:00:00.999+08:00",
}


def test_a_valid_event_is_decoded_exactly() -> None:
    ev = decode({**OK, "handler_id": "h1", "extra": [1]}, 7)
    assert isinstance(ev, Event)
    assert ev.t == parse_instant("2026-11-20T01:00:00Z")  # fraction truncated
    assert str(ev.fee) == "12.5" and ev.handler_id == "h1" and ev.seq == 7


@pytest.mark.parametrize(
    ("change", "code", "needle"),
    [
        ({"event_id": None}, "missing_field", "event_id"),
        ({"case_id": ""}, "missing_field", "case_id"),
        ({"type": "teleported"}, "unknown_type", "teleported"),
        ({"occurred_at": "2026-11-20T09:00:00"}, "bad_timestamp", "no UTC offset"),
        ({"occurred_at": "2026-11-20 09:00"}, "bad_timestamp", "no UTC offset"),
        ({"occurred_at": "yesterday"}, "bad_timestamp", "not RFC 3339"),
        ({"occurred_at": "2026-02-30T09:00:00Z"}, "bad_timestamp", "day 30"),
        ({"occurred_at": "2026-11-20T24:00:00Z"}, "bad_timestamp", "24:00:00"),
        ({"occurred_at": 1763600000}, "bad_timestamp", "int"),
        ({"fee_yuan": "12"}, "bad_fee", "'12'"),
        ({"fee_yuan": True}, "bad_fee", "True"),
        ({"fee_yuan": -5}, "bad_fee", "negative"),
        ({"fee_yuan": None}, "missing_field", "fee_yuan"),
        ({"type": "case_submitted"}, "missing_field", "item_code"),
        ({"type": "step_started"}, "missing_field", "step"),
    ],
)
def test_rejections(change: dict, code: str, needle: str) -> None:
    got = decode({k: v for k, v in {**OK, **change}.items() if v is not None or k == "fee_yuan"}, 3)
    assert isinstance(got, Rejection)
    assert got.code == code
    assert needle in got.reason, got.reason


def test_missing_type_and_non_objects() -> None:
    got = decode({k: v for k, v in OK.items() if k != "type"}, 1)
    assert isinstance(got, Rejection) and got.code == "missing_field" and "`type`" in got.reason
    assert isinstance(decode([1], 1), Rejection)
    bad = parse_line(b'{"event_id": "x"', 4)
    assert isinstance(bad, Rejection) and bad.code == "bad_json" and bad.raw == b'{"event_id": "x"'


def test_numeric_ids_are_read_as_text() -> None:
    got = decode({**OK, "event_id": 17, "case_id": 42}, 1)
    assert isinstance(got, Event) and got.event_id == "17" and got.case_id == "42"


def test_instants_round_trip_across_offsets() -> None:
    t = parse_instant("2026-03-08T02:30:00-05:00")
    assert format_instant(t) == "2026-03-08T07:30:00Z"
    assert parse_instant("2026-03-08T07:30:00z") == t
    assert parse_instant("1969-12-31T23:59:59Z") == -1
    with pytest.raises(TimestampError):
        parse_instant("2026-11-20T09:00:00+25:00")
