"""The door: every malformed input is rejected with a reason naming the field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fields import distinct_values

from rules.events import Event, Rejection, decode, parse_line
from rules.pack import RulePack
from rules.records import Record
from rules.state import CaseState, StepClock
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


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("２０２６-11-20T09:00:00+08:00", "not RFC 3339"),  # fullwidth digits: int() reads them, the contract does not
        ("2026-11-20T09:00:٠٠+08:00", "not RFC 3339"),  # Arabic-Indic digits
        ("2026-11-20T09:00:60+08:00", "09:00:60"),
        ("2026-11-20T09:60:00+08:00", "09:60:00"),
        ("2026-13-01T09:00:00+08:00", "month 13"),
        ("2026-11-20T09:00:00+08:60", "offset"),
    ],
)
def test_timestamps_the_contract_does_not_allow(text: str, needle: str) -> None:
    with pytest.raises(TimestampError) as err:
        parse_instant(text)
    assert needle in str(err.value)


def test_an_hour_read_once_is_not_confused_with_another_offset_or_a_fraction() -> None:
    """parse_instant caches each hour's instant by its date, hour and offset: every part counts."""
    base = parse_instant("2026-11-20T09:00:00+08:00")
    assert parse_instant("2026-11-20T09:00:59+08:00") == base + 59
    assert parse_instant("2026-11-20T09:00:59+09:00") == base + 59 - 3600
    assert parse_instant("2026-11-20T09:00:59-08:00") == base + 59 + 16 * 3600
    assert parse_instant("2026-11-20T09:00:59Z") == base + 59 + 8 * 3600
    assert parse_instant("2026-11-20T09:00:59.123456Z") == base + 59 + 8 * 3600
    assert parse_instant("2026-11-20T09:00:59.5+08:00") == base + 59
    assert parse_instant("2026-11-20 09:00:07+08:00") == base + 7


@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)),
    minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    fraction=st.sampled_from(["", ".5", ".000001", ".999999999"]),
    zulu=st.sampled_from(["Z", "z", None]),
)
def test_parse_and_format_agree_with_datetime(moment: datetime, minutes: int, fraction: str, zulu: str | None) -> None:
    offset = UTC if zulu else timezone(timedelta(minutes=minutes))
    local = moment.replace(microsecond=0, tzinfo=offset)
    sign, m = ("+" if minutes >= 0 else "-"), abs(minutes)
    suffix = zulu or f"{sign}{m // 60:02}:{m % 60:02}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + suffix
    t = parse_instant(text)
    assert t == int(local.timestamp())
    assert format_instant(t) == local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": ["case_submitted"]}, "unknown_type"),  # unhashable: a set lookup would raise TypeError
        ({"type": {"a": 1}}, "unknown_type"),
        ({"type": 7}, "unknown_type"),
        ({"type": "case_completed", "outcome": ["approved"]}, "bad_outcome"),
        ({"type": "case_submitted", "item_code": ["x"], "agency_id": "a"}, "missing_field"),
        ({"type": "step_started", "step": {"a": 1}}, "missing_field"),
        ({"occurred_at": ["2026-11-20T09:00:00Z"]}, "bad_timestamp"),
        ({"received_at": {"t": 1}}, "bad_timestamp"),
    ],
)
def test_any_json_value_in_any_field_is_refused_not_raised(change: dict, code: str) -> None:
    got = decode({**OK, **change}, 3)
    assert isinstance(got, Rejection) and got.code == code, got


def test_other_fields_of_other_json_types_are_read_or_left_out() -> None:
    got = decode({**OK, "handler_id": ["h"], "reason": {"r": 1}}, 3)
    assert isinstance(got, Event) and got.handler_id is None and got.reason is None
    kind = decode({**OK, "type": "case_suspended", "kind": ["补正"]}, 3)
    assert isinstance(kind, Event) and kind.suspension_kind == '["补正"]'  # an unknown kind: refused when applied


def test_the_caches_stay_right_when_they_are_cleared() -> None:
    """More distinct hours and minutes than the caches hold: each is cleared on the way, nothing read is stale."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(0, 6000 * 3600, 3599):  # a new hour (and minute) almost every time, 6,000 hours on
        moment = start + timedelta(seconds=k)
        text = moment.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        assert parse_instant(text) == int(moment.timestamp())
        assert format_instant(int(moment.timestamp())) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("cls", [Event, Record, StepClock, CaseState])
def test_a_written_out_initializer_takes_every_field_in_order_with_its_default(
    cls: type, sample_pack: RulePack
) -> None:
    """The hot classes' initializers are written out (for the compiled core): each field, in order, defaults and
    fresh collections as the fields declare them."""
    fields = dataclasses.fields(cls)
    values = list(distinct_values(cls, sample_pack).values())
    by_position = cls(*values)
    by_name = cls(**{f.name: v for f, v in zip(fields, values, strict=True)})
    assert [getattr(by_position, f.name) for f in fields] == values
    assert [getattr(by_name, f.name) for f in fields] == values
    required = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    bare, other = cls(*values[: len(required)]), cls(*values[: len(required)])
    for f in fields[len(required) :]:
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(bare, f.name) == f.default_factory() and getattr(bare, f.name) is not getattr(other, f.name)
        else:
            assert getattr(bare, f.name) == f.default, f.name
