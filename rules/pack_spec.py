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
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.calendar import BusinessCalendar
from rules.timeutil import TimestampError, parse_instant

Kind = Literal[
    "reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension", "late_report", "escalation"
]  # fmt: skip
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

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: object) -> object:
        """In a rule pack a key set to null counts as absent (contract §7.9)."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


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
    covers: list[int] | None = None  # the years whose holidays and make-up days are listed
    provisional: list[int] = Field(default_factory=list)  # covered years listed from the rules, not the notice

    @model_validator(mode="after")
    def _coverage(self) -> CalendarSpec:
        if self.covers is not None:
            if not self.covers:
                raise ValueError("`covers` is empty; list the years whose holidays are given, e.g. [2026, 2027]")
            years = set(self.covers)
            outside = sorted(
                {d.year for d in (*self.holidays, *self.workdays) if d.year not in years}
                | (set(self.provisional) - years)
            )
            if outside:
                raise ValueError(
                    f"holidays, workdays or provisional years in {outside} lie outside `covers` {sorted(years)}; "
                    "add those years to covers, or remove the dates"
                )
        elif self.provisional:
            raise ValueError("`provisional` needs `covers`: list the years the calendar covers")
        return self

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
            None if self.covers is None else max(self.covers),
            frozenset(self.provisional),
        )


def _positive_hours(v: Decimal) -> Decimal:
    if not v.is_finite() or v <= 0:
        raise ValueError("must be a positive number of hours, e.g. 8 or 0.5")
    if hours_to_seconds(v) <= 0:
        raise ValueError("rounds to 0 seconds; a limit must be at least half a second")
    return v


def _whole(v: object, least: int) -> int:
    """A whole number of at least ``least``: 3 or 3.0, never true, "3" or 3.5."""
    if isinstance(v, bool) or not isinstance(v, int | Decimal) or (isinstance(v, Decimal) and not v.is_finite()):
        raise ValueError(f"must be a whole number of at least {least}, e.g. {max(least, 1) + 1}")
    if v != int(v) or int(v) < least:
        raise ValueError(f"must be a whole number of at least {least}, e.g. {max(least, 1) + 1}")
    return int(v)


def _one_limit(where: str, hours: Decimal | None, days: int | None) -> None:
    if hours is not None and days is not None:
        raise ValueError(f"{where} gives both limit_hours and limit_days; keep the one the law states")


class StepSpec(_Strict):
    name: str = Field(min_length=1)
    title: str | None = Field(None, min_length=1, max_length=60)  # what people call it: 受理, 审查 … (shown only)
    limit_hours: Decimal | None = None
    limit_days: int | None = None  # contract §7.1: counted as the law counts days
    optional: bool = False
    after: list[str] | None = None  # contract §7.2: prerequisites; None: every earlier non-optional step

    @field_validator("limit_hours")
    @classmethod
    def _hours(cls, v: Decimal | None) -> Decimal | None:
        return None if v is None else _positive_hours(v)

    @field_validator("limit_days", mode="before")
    @classmethod
    def _days(cls, v: object) -> int:
        return _whole(v, 1)

    @model_validator(mode="after")
    def _exactly_one(self) -> StepSpec:
        _one_limit("the step", self.limit_hours, self.limit_days)
        if self.limit_hours is None and self.limit_days is None:
            raise ValueError("the step has no limit; give limit_hours (e.g. 8) or limit_days (e.g. 5)")
        return self


class ItemSpec(_Strict):
    code: str = Field(min_length=1)
    name: str | None = None
    calendar: str | None = None
    limit_hours: Decimal | None = None
    limit_days: int | None = None  # contract §7.1
    day_count: Literal["working", "natural"] = "working"
    max_extensions: int = 1  # contract §7.6: per clock
    effective_from: str | None = None  # contract §7.7: RFC 3339 with offset, quoted
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

    @field_validator("limit_days", mode="before")
    @classmethod
    def _case_days(cls, v: object) -> int:
        return _whole(v, 1)

    @field_validator("max_extensions", mode="before")
    @classmethod
    def _extensions(cls, v: object) -> int:
        return _whole(v, 0)

    @field_validator("effective_from", mode="before")
    @classmethod
    def _from(cls, v: object) -> str:
        if not isinstance(v, str):
            raise ValueError("must be an RFC 3339 instant written as a quoted string, e.g. '2027-01-01T00:00:00+08:00'")
        try:
            parse_instant(v)
        except TimestampError as e:
            raise ValueError(f"{e}; write it quoted, e.g. '2027-01-01T00:00:00+08:00'") from None
        return v

    @model_validator(mode="after")
    def _days_need_a_calendar(self) -> ItemSpec:
        _one_limit("the item", self.limit_hours, self.limit_days)
        uses_days = self.limit_days is not None or any(s.limit_days is not None for s in self.steps)
        if uses_days and self.calendar is None:
            raise ValueError("limits in days need a calendar: name one under `calendar` (contract §7.1)")
        return self

    @property
    def starts(self) -> int | None:
        return None if self.effective_from is None else parse_instant(self.effective_from)

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
    appeal_days: int = Field(5, ge=1, le=60)  # working days after a record in which its agency may appeal it
    items: list[ItemSpec] = Field(min_length=1)

    @field_validator("penalties")
    @classmethod
    def _points(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        bad = {k: str(p) for k, p in v.items() if not p.is_finite() or p < 0}
        if bad:
            raise ValueError(f"penalty points must be zero or more, got {bad}")
        return v


# --------------------------------------------------------------------------- compiled
