"""Rates per 100 completed steps, subtree roll-ups, rankings and report periods (``rules.indicators``)."""

from __future__ import annotations

import pytest

from rules.errors import BadInput
from rules.indicators import durations, indicators, period_bounds, ranked, rolled_up
from rules.timeutil import format_instant

BANDS = [0, 1, 3, 6]


def card(key: str, points: float, done: int, on_time: int, **counts: int) -> dict:
    return {"key": key, "points": points, "counts": counts, "steps_completed": done, "steps_on_time": on_time}


def test_a_busy_unit_with_more_cards_ranks_above_a_small_one_with_fewer() -> None:
    busy = card("city/hall-1", 20, 2000, 1990, overdue=10)
    small = card("city/hall-2", 4, 20, 18, overdue=2)
    rows = ranked([indicators(small), indicators(busy)], [], BANDS)
    assert [r["key"] for r in rows] == ["city/hall-1", "city/hall-2"]
    assert rows[0]["red_per_100"] == 0.5 and rows[1]["red_per_100"] == 10.0
    assert (rows[0]["colour"], rows[1]["colour"]) == ("blue", "red")  # 1 and 20 points per 100 steps
    assert rows[0]["on_time_rate"] == 0.995


def test_a_unit_that_completed_nothing_ranks_last_and_has_no_rates() -> None:
    idle = indicators(card("city/idle", 0, 0, 0))
    rows = ranked([idle, indicators(card("city/a", 30, 10, 5, warning=3))], [], BANDS)
    assert rows[-1]["key"] == "city/idle" and rows[-1]["points_per_100"] is None and rows[-1]["on_time_rate"] is None
    assert rows[0]["yellow_per_100"] == 30.0


def test_subtrees_add_up_and_keep_each_agencys_own_figures() -> None:
    rows = {r["key"]: r for r in rolled_up([
        card("city/land", 2, 10, 9, overdue=1), card("city/land/east", 3, 30, 29, escalation=1, late_report=3),
        card("city/market", 5, 50, 40, case_overdue=1),
    ])}  # fmt: skip
    assert rows["city"]["points"] == 10 and rows["city"]["steps_completed"] == 90 and rows["city"]["red_cards"] == 3
    assert rows["city/land"]["points"] == 5 and rows["city/land"]["own"]["points"] == 2
    assert rows["city"]["own"] is None and rows["city/land/east"]["late_reports_per_100"] == 10.0


def test_the_change_since_the_previous_period() -> None:
    before = [indicators(card("a", 1, 100, 100)), indicators(card("b", 5, 100, 90))]
    now = [indicators(card("a", 9, 100, 80)), indicators(card("b", 2, 100, 99)), indicators(card("c", 0, 1, 1))]
    rows = {r["key"]: r for r in ranked(now, before, BANDS)}
    assert (rows["b"]["rank"], rows["b"]["rank_change"]) == (2, 0)
    assert (rows["a"]["rank"], rows["a"]["rank_change"], rows["a"]["points_per_100_change"]) == (3, -2, 8.0)
    assert rows["c"]["rank_change"] is None


def test_periods_are_local_months_and_quarters() -> None:
    since, until, prev = period_bounds("2026-11", 8 * 3600)
    assert (format_instant(since), format_instant(until), prev) == ("2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z",
                                                                    "2026-10")  # fmt: skip
    since, until, prev = period_bounds("2026Q1", 0)
    assert (format_instant(since), format_instant(until), prev) == ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z",
                                                                    "2025Q4")  # fmt: skip
    assert (
        period_bounds("2026-01", 0)[2] == "2025-12" and period_bounds("2026Q4", 0)[1] == period_bounds("2027Q1", 0)[0]
    )
    for bad in ("2026-13", "2026-1", "2026Q5", "26Q1", "2026-11-01"):
        with pytest.raises(BadInput, match="报告期"):
            period_bounds(bad, 0)


def test_durations_against_the_limit_and_early_completion() -> None:
    got = durations([0.2, 0.5, 0.9, 1.3] + [0.4] * 16)  # 20 steps: the 95th percentile is the 19th smallest
    assert got["early_rate"] == 0.9 and got["duration_avg"] == round((0.2 + 0.5 + 0.9 + 1.3 + 6.4) / 20, 4)
    assert got["duration_p95"] == 0.9 and durations([])["duration_p95"] is None
    rows = {
        r["key"]: r for r in rolled_up([card("a/x", 0, 2, 2), card("a/y", 0, 1, 1)], {"a/x": [0.1, 0.7], "a/y": [1.2]})
    }
    assert (
        rows["a"]["early_rate"] == 0.3333
        and rows["a"]["duration_p95"] == 1.2
        and rows["a/x"]["own"]["early_rate"] == 0.5
    )
