"""Extensions (contract §7.6) and the checks of §7.9: on the line alone, and when the event applies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rules.engine import Engine
from rules.events import Event, Rejection, decode
from rules.pack import parse_pack

T = 1_800_000_000
BASE = {"event_id": "e", "case_id": "K", "type": "limit_extended", "occurred_at": "2027-01-15T08:00:00Z"}


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"extend_days": 1, "extend_hours": 2}, "both"),
        ({}, "neither"),
        ({"extend_days": "2"}, "whole number"),
        ({"extend_days": True}, "whole number"),
        ({"extend_days": 0}, "whole number"),
        ({"extend_days": 1.5}, "whole number"),
        ({"extend_hours": "2"}, "positive number"),
        ({"extend_hours": -1}, "positive number"),
        ({"extend_hours": None}, "positive number"),
        ({"extend_hours": 2, "step": ""}, "non-empty string"),
        ({"extend_hours": 2, "step": None}, "non-empty string"),
    ],
)
def test_a_bad_extension_is_refused_on_its_line(fields: dict[str, Any], needle: str) -> None:
    got = decode({**BASE, **fields}, 1)
    assert isinstance(got, Rejection) and got.code == "bad_extension" and needle in got.reason


PACK = """
version: 2
penalties: {overdue: 2, case_overdue: 3}
items:
  - code: x
    limit_hours: 10
    steps: [{name: a, limit_hours: 2}, {name: b, limit_hours: 1}]
"""


def _run(*events: tuple[int, str, dict[str, Any]]) -> list[Any]:
    engine, st, out = Engine(parse_pack(PACK)), None, []
    evs = [(0, "case_submitted", {"item_code": "x", "agency_id": "a"}), *events]
    for i, (dt, typ, kw) in enumerate(evs):
        ev = Event(T + dt, i, typ, f"e{i}", "K", **kw)
        if st is not None:
            out.extend(engine.fire(st, ev.t))
        st, applied = engine.apply(st, ev)
        out.extend(applied)
    assert st is not None
    return out + engine.fire(st, 2**40)


def _codes(out: list[Any]) -> list[str]:
    return [o.code for o in out if isinstance(o, Rejection)]


def test_an_extension_moves_the_deadline_and_a_second_one_is_refused() -> None:
    out = _run((0, "step_started", {"step": "a"}),
               (3600, "limit_extended", {"step": "a", "extend_hours": Decimal("1.5")}),
               (3700, "limit_extended", {"step": "a", "extend_hours": Decimal(1)}))  # fmt: skip
    (overdue,) = [o for o in out if getattr(o, "kind", "") == "overdue"]
    assert (overdue.at - T, overdue.limit_seconds) == (3.5 * 3600, 12600)
    assert _codes(out) == ["extensions_used"]


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ([(60, "limit_extended", {"step": "a", "extend_hours": Decimal(1)})], "clock_not_running"),  # not started
        ([(0, "step_started", {"step": "a"}), (60, "step_completed", {"step": "a"}),
          (120, "limit_extended", {"step": "a", "extend_hours": Decimal(1)})], "clock_not_running"),  # ended
        ([(0, "step_started", {"step": "a"}), (60, "limit_extended", {"step": "a", "extend_days": 1})],
         "wrong_extension_unit"),
        ([(0, "step_started", {"step": "a"}), (7200, "limit_extended", {"step": "a", "extend_hours": Decimal(1)})],
         "extension_too_late"),  # at the deadline: the limit has run out
        ([(0, "step_started", {"step": "a"}), (60, "limit_extended", {"step": "z", "extend_hours": Decimal(1)})],
         "unknown_step"),
    ],
)  # fmt: skip
def test_an_extension_of_a_clock_that_cannot_take_it_is_refused_when_applied(events: list, code: str) -> None:
    assert _codes(_run(*events)) == [code]


def test_the_case_clock_is_extended_when_no_step_is_named() -> None:
    out = _run((60, "limit_extended", {"extend_hours": Decimal(5)}))
    (late,) = [o for o in out if getattr(o, "kind", "") == "case_overdue"]
    assert (late.at - T, late.limit_seconds) == (15 * 3600, 15 * 3600)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"extend_days": 10**12}, "more than 3660"),  # counted day by day, it would stall the engine for days
        ({"extend_hours": 1e300}, "more than 87840"),  # past any calendar: the engine could not time it
        ({"extend_hours": 87_841}, "more than 87840"),
    ],
)
def test_an_extension_no_calendar_can_time_is_refused_on_its_line(fields: dict[str, Any], needle: str) -> None:
    got = decode({**BASE, **fields}, 1)
    assert isinstance(got, Rejection) and got.code == "bad_extension" and needle in got.reason, got


def test_the_largest_extensions_allowed_are_timed() -> None:
    for fields in ({"extend_days": 3660}, {"extend_hours": 87_840}):
        got = decode({**BASE, **fields}, 1)
        assert isinstance(got, Event), got
