"""Indicators that compare units fairly: rates per 100 completed steps, rolled up over agency subtrees, ranked.

Raw points punish a busy hall for its caseload: a unit that finished 2,000 steps
with 10 red cards is better than one that finished 20 with 2.  So every unit is
judged on rates — red and yellow cards, points and late reports per 100
completed steps, the on-time rate — as the regional 效能 reports do (红牌发生率,
黄牌发生率), for an agency on its own and over its whole subtree.  Pure: the
scorecards come in, the report's rows go out (``api.routes.reports``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from rules.errors import BadInput
from rules.records import INDEX_ALARM, LATE_REPORT, RED_CARD_KINDS, YELLOW_CARD_KINDS, Record, record_id
from rules.timeutil import days_from_civil

COLOURS = ("green", "blue", "yellow", "orange", "red")


def colour_for(value: float, bands: list[float]) -> str:
    """Green up to the first band, then blue, yellow, orange; red beyond the last."""
    for colour, limit in zip(COLOURS, bands, strict=False):
        if value <= limit:
            return colour
    return "red"


def _per_100(n: float, completed: int) -> float | None:
    return None if completed == 0 else round(100 * n / completed, 4)


EARLY = 0.5  # a step done within half its limit was completed early (提前办结)


def durations(ratios: list[float]) -> dict[str, float | None]:
    """From the share of its limit each completed step used: the early-completion rate, the mean and the 95th
    percentile (nearest rank) of that share."""
    if not ratios:
        return {"early_rate": None, "duration_avg": None, "duration_p95": None}
    ordered = sorted(ratios)
    p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
    return {"early_rate": round(sum(r <= EARLY for r in ordered) / len(ordered), 4),
            "duration_avg": round(sum(ordered) / len(ordered), 4), "duration_p95": round(p95, 4)}  # fmt: skip


def indicators(card: dict[str, Any], ratios: list[float] | None = None) -> dict[str, Any]:
    """One unit's figures from its scorecard (``Store.scorecard``) and its steps' shares of their limits."""
    counts, done = card["counts"], card["steps_completed"]
    red = sum(counts.get(k, 0) for k in RED_CARD_KINDS)
    yellow = sum(counts.get(k, 0) for k in YELLOW_CARD_KINDS)
    return {
        "key": card["key"],
        "points": card["points"],
        "steps_completed": done,
        "steps_on_time": card["steps_on_time"],
        "on_time_rate": None if done == 0 else round(card["steps_on_time"] / done, 4),
        "red_cards": red,
        "yellow_cards": yellow,
        "red_per_100": _per_100(red, done),
        "yellow_per_100": _per_100(yellow, done),
        "points_per_100": _per_100(card["points"], done),
        "late_reports_per_100": _per_100(counts.get(LATE_REPORT, 0), done),
        **durations(ratios or []),
    }


def rolled_up(cards: list[dict[str, Any]], ratios: dict[str, list[float]] | None = None) -> list[dict[str, Any]]:
    """Per agency: its own card and the sum over its subtree (itself and every agency under it)."""
    ratios = ratios or {}
    own = {c["key"]: c for c in cards}
    for key in ratios.keys() - own.keys():  # steps completed on time by an agency with no record
        own[key] = {"key": key, "points": 0.0, "counts": {}, "steps_completed": 0, "steps_on_time": 0}
    cards = list(own.values())
    total: dict[str, dict[str, Any]] = {}
    shares: dict[str, list[float]] = {}
    for c in cards:
        parts = c["key"].split("/")
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i])
            shares.setdefault(key, []).extend(ratios.get(c["key"], ()))
            t = total.setdefault(key, {"key": key, "points": 0.0, "counts": {}, "steps_completed": 0,
                                       "steps_on_time": 0})  # fmt: skip
            t["points"] += c["points"]
            t["steps_completed"] += c["steps_completed"]
            t["steps_on_time"] += c["steps_on_time"]
            for k, n in c["counts"].items():
                t["counts"][k] = t["counts"].get(k, 0) + n
    out = []
    for key in sorted(total):
        row = indicators(total[key], shares[key])
        row["own"] = indicators(own[key], ratios.get(key)) if key in own else None
        row["depth"] = key.count("/")
        out.append(row)
    return out


def _score(row: dict[str, Any]) -> tuple[float, float, str]:
    """Fewer points per 100 completed steps ranks higher; then the better on-time rate; units with nothing
    completed rank by raw points, after every unit that completed something."""
    per_100 = row["points_per_100"]
    return (row["points"] + 1e9 if per_100 is None else per_100, -(row["on_time_rate"] or 0), row["key"])


def ranked(rows: list[dict[str, Any]], previous: list[dict[str, Any]], bands: list[float]) -> list[dict[str, Any]]:
    """Rows in rank order with their colour (over points per 100 steps), rank and the change since ``previous``."""
    before = {r["key"]: (i, r) for i, r in enumerate(sorted(previous, key=_score), 1)}
    out = []
    for i, row in enumerate(sorted(rows, key=_score), 1):
        basis = row["points_per_100"] if row["points_per_100"] is not None else row["points"]
        prev = before.get(row["key"])
        out.append({
            **row,
            "rank": i,
            "colour": colour_for(basis, bands),
            "rank_change": None if prev is None else prev[0] - i,  # positive: moved up
            "points_per_100_change": None if prev is None or row["points_per_100"] is None
            or prev[1]["points_per_100"] is None else round(row["points_per_100"] - prev[1]["points_per_100"], 4),
        })  # fmt: skip
    return out


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def period_bounds(period: str, utc_offset: int) -> tuple[int, int, str]:
    """A month (``2026-11``) or quarter (``2026Q4``) in local time: its [since, until) and the previous period."""
    if m := _MONTH.match(period):
        y, mo = int(m[1]), int(m[2])
        first, months = (y, mo), 1
        prev = f"{y - 1}-12" if mo == 1 else f"{y}-{mo - 1:02}"
    elif m := _QUARTER.match(period):
        y, q = int(m[1]), int(m[2])
        first, months = (y, 3 * q - 2), 3
        prev = f"{y - 1}Q4" if q == 1 else f"{y}Q{q - 1}"
    else:
        raise BadInput(f"报告期 {period!r} 无效：月份写作 2026-11，季度写作 2026Q4 (a month or a quarter)")
    y, mo = first
    end_y, end_mo = y + (mo + months - 1) // 12, (mo + months - 1) % 12 + 1
    since = days_from_civil(y, mo, 1) * 86400 - utc_offset
    until = days_from_civil(end_y, end_mo, 1) * 86400 - utc_offset
    return since, until, prev


ALARM_COLOURS = ("yellow", "orange", "red")


def month_of(t: int, utc_offset: int) -> str:
    """The local month of instant ``t``, as a report period (``2026-11``)."""
    y, m = time.gmtime(t + utc_offset)[:2]
    return f"{y}-{m:02}"


def index_alarms(rows: list[dict[str, Any]], period: str, bands: list[float], min_steps: int, now: int) -> list[Record]:
    """An ``index_alarm`` for each agency whose index over the period is yellow, orange or red (over points per
    100 completed steps, once it completed ``min_steps``); one id per agency, period and colour, so each colour is
    raised once a period however often it is looked at."""
    out = []
    for row in rows:
        if row["steps_completed"] < min_steps or row["points_per_100"] is None:
            continue
        colour = colour_for(row["points_per_100"], bands)
        if colour not in ALARM_COLOURS:
            continue
        case_id = f"index:{row['key']}"
        rec = Record(record_id(case_id, INDEX_ALARM, None, 0, f"{period}/{colour}"), INDEX_ALARM, case_id, None, now,
                     "", row["key"], None, 0)  # fmt: skip
        rec.detail = {"period": period, "colour": colour, "points_per_100": row["points_per_100"],
                      "steps_completed": row["steps_completed"], "red_per_100": row["red_per_100"],
                      "on_time_rate": row["on_time_rate"]}  # fmt: skip
        out.append(rec)
    return out
