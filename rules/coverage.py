"""Calendars that never run out silently: how far each lists its holidays, and the warnings that follow.

A calendar's holidays are published a year at a time.  Past the last year it
lists, every weekday counts as working, so a deadline there may be days early —
a wrong red card.  Each calendar says which years it covers (``covers``) and
which of them are only provisional; the rule check, the worker, its metrics
and the page warn ``WARN_DAYS`` before the cover ends, and records timed past it
carry ``beyond_calendar`` (``rules.firing``).  Pure: the caller passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rules.calendar import BusinessCalendar
from rules.pack import RulePack

WARN_DAYS = 60


@dataclass(frozen=True, slots=True)
class Coverage:
    calendar: str
    last_day: date | None  # None: the calendar does not declare its cover
    days_left: int | None  # from now to the last covered day, inclusive of neither; negative once past
    provisional: tuple[int, ...]

    @property
    def warning(self) -> str | None:
        if self.last_day is None:
            return (
                f"calendar {self.calendar} does not say which years its holidays cover; add `covers: [YEAR, …]` "
                "so that the monitor can warn before they run out"
            )
        if self.days_left is not None and self.days_left <= WARN_DAYS:
            when = f"{self.days_left} days from now" if self.days_left >= 0 else f"{-self.days_left} days ago"
            nxt = self.last_day.year + 1
            return (
                f"calendar {self.calendar} lists holidays up to {self.last_day} ({when}): add {nxt}'s "
                f"(`approval-monitor rules cn-holidays {nxt}`) and extend `covers`; deadlines past it count every "
                "weekday as working"
            )
        if self.provisional:
            years = ", ".join(map(str, self.provisional))
            return (
                f"calendar {self.calendar} lists {years} provisionally (from the national holiday rules, without "
                "调休): replace them with the State Council's notice when it is published"
            )
        return None


def coverage(pack: RulePack, now: int) -> list[Coverage]:
    """Every calendar of the pack, and how long its holiday lists last as of ``now``."""
    out = []
    for name, cal in pack.calendars.items():
        assert isinstance(cal, BusinessCalendar)
        last = cal.last_covered_day
        if last is None:
            out.append(Coverage(name, None, None, ()))
            continue
        today = datetime.fromtimestamp(now, UTC).astimezone(cal.zone).date()
        out.append(Coverage(name, last, (last - today) // timedelta(days=1), tuple(sorted(cal.provisional))))
    return out


def warnings(pack: RulePack, now: int) -> list[str]:
    return [w for c in coverage(pack, now) if (w := c.warning) is not None]
