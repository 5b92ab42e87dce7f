"""What a rule pack may say: the YAML reader (floats as exact decimals) and the strict pydantic models.

Compiling a valid spec into the engine's plain structures is ``rules.pack``.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.calendar import BusinessCalendar

Kind = Literal["reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension", "late_report"]
WEEKDAY_NAMES = {
    name: i
    for i, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?-(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def hours_to_seconds(hours: Decimal) -> int:
    """``hours × 3600`` rounded to the nearest second, halves up — the contract's rule."""
    return int((hours * 3600).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def level_seconds(fraction: Decimal, limit: int) -> int:
    return int((fraction * limit).to_integral_value(rounding=ROUND_CEILING))


# --------------------------------------------------------------------------- YAML
class ExactLoader(yaml.SafeLoader):
    """Safe YAML, but floats become Decimals built from their literal text."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal | float:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    low = text.lower()
    if low in (".inf", "+.inf", "-.inf", ".nan"):
        return float(low.replace(".", ""))
    return Decimal(text)


ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)


# --------------------------------------------------------------------------- models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_window(text: str) -> tuple[int, int]:
    m = _WINDOW.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a window; write it as HH:MM-HH:MM, e.g. 09:00-12:00")
    h1, m1, s1, h2, m2, s2 = (int(g) if g else 0 for g in m.groups())
    start, end = h1 * 3600 + m1 * 60 + s1, h2 * 3600 + m2 * 60 + s2
    if m1 > 59 or m2 > 59 or s1 > 59 or s2 > 59 or start >= 86400 or end > 86400:
        raise ValueError(f"{text!r} is not a time of day; use 00:00 to 24:00")
    if start >= end:
        raise ValueError(f"{text!r} ends before it starts; a window lies within one day (split one crossing midnight)")
    return start, end


class CalendarSpec(_Strict):
    timezone: str
    work_windows: list[str] = Field(min_length=1)
    weekdays: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone; use a name such as Asia/Shanghai") from None
        return v

    @field_validator("work_windows")
    @classmethod
    def _windows(cls, v: list[str]) -> list[str]:
        spans = sorted(_parse_window(w) for w in v)
        for (_s1, e1), (s2, _e2) in itertools.pairwise(spans):
            if s2 < e1:
                raise ValueError(f"windows {v} overlap; list each working period once")
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if not isinstance(d, str) or d.lower() not in WEEKDAY_NAMES]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use mon, tue, wed, thu, fri, sat, sun")
        return v

    def build(self) -> BusinessCalendar:
        return BusinessCalendar(
            self.timezone,
            [_parse_window(w) for w in self.work_windows],
            [WEEKDAY_NAMES[d.lower()] for d in self.weekdays],
            self.holidays,
            self.workdays,
        )


def _positive_hours(v: Decimal) -> Decimal:
    if not v.is_finite() or v <= 0:
        raise ValueError("must be a positive number of hours, e.g. 8 or 0.5")
    if hours_to_seconds(v) <= 0:
        raise ValueError("rounds to 0 seconds; a limit must be at least half a second")
    return v


class StepSpec(_Strict):
    name: str = Field(min_length=1)
    limit_hours: Decimal
    optional: bool = False
    after: list[str] | None = None  # contract §7.2: prerequisites; None: every earlier non-optional step

    _limit = field_validator("limit_hours")(_positive_hours)


class ItemSpec(_Strict):
    code: str = Field(min_length=1)
    name: str | None = None
    calendar: str | None = None
    limit_hours: Decimal | None = None
    reminder_at: Decimal | None = None
    warning_at: Decimal | None = None
    fee_yuan: Decimal | None = None
    max_suspension_hours: Decimal | None = None
    max_report_delay_hours: Decimal | None = None  # contract §7.8: later reports raise late_report
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("limit_hours")
    @classmethod
    def _case_limit(cls, v: Decimal | None) -> Decimal | None:
        return None if v is None else _positive_hours(v)

    @field_validator("reminder_at", "warning_at")
    @classmethod
    def _fraction(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or not 0 < v <= 1):
            raise ValueError("must be a fraction of the step's limit above 0 and at most 1, e.g. 0.8")
        return v

    @field_validator("fee_yuan", "max_suspension_hours", "max_report_delay_hours")
    @classmethod
    def _non_negative(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or v < 0):
            raise ValueError("must be a number that is zero or more")
        return v


class SuspensionKindSpec(_Strict):
    capped: bool = True  # counts toward max_suspension_hours (contract §7.5)


class RulePackSpec(_Strict):
    version: Literal[1, 2]
    suspension_kinds: dict[str, SuspensionKindSpec] = Field(default_factory=dict)
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    penalties: dict[Kind, Decimal] = Field(default_factory=dict)
    future_tolerance_seconds: int = Field(300, ge=0)  # contract §7.8
    items: list[ItemSpec] = Field(min_length=1)

    @field_validator("penalties")
    @classmethod
    def _points(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        bad = {k: str(p) for k, p in v.items() if not p.is_finite() or p < 0}
        if bad:
            raise ValueError(f"penalty points must be zero or more, got {bad}")
        return v


# --------------------------------------------------------------------------- compiled
