"""Limits in days, as the law counts them (contract §7.1): the last day, and its close of business.

The start day is not counted (民法典 §201); a working-day limit ends on the N-th
working day after it, a natural-day limit on the N-th calendar day after it,
moved to the next working day when that is not one (民法典 §203).  The limit
then becomes a number of counted seconds — the calendar's working time from the
clock's start to the close of business of the last day — so that everything
else (levels, suspensions, the live pipeline) treats day clocks like hour clocks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rules.calendar import BusinessCalendar, epoch_day

_EPOCH = date(1970, 1, 1)


def local_day(cal: BusinessCalendar, t: int) -> int:
    """The local date of instant ``t`` in the calendar's zone, as days since 1970-01-01."""
    return epoch_day(datetime.fromtimestamp(t, UTC).astimezone(cal.zone).date())


def advance_days(cal: BusinessCalendar, day: int, n: int, natural: bool) -> int:
    """The N-th working day after ``day``, or the N-th calendar day moved forward to a working day."""
    if natural:
        day += n
        while not cal.is_working_day(day):
            day += 1
        return day
    while n > 0:
        day += 1
        if cal.is_working_day(day):
            n -= 1
    return day


def close_of_business(cal: BusinessCalendar, day: int) -> int:
    """The end of the day's last work window, as an instant.

    A local time that does not exist or occurs twice around a daylight-saving
    change is read with the offset in force before the change (contract §7.9):
    ``fold=0`` does exactly that for both.
    """
    end = cal.windows[-1][1]
    local = datetime.combine(_EPOCH + timedelta(days=day), datetime.min.time()) + timedelta(seconds=end)
    return int(local.replace(tzinfo=cal.zone, fold=0).timestamp())


def day_deadline(cal: BusinessCalendar, start: int, last_day: int) -> tuple[int, int]:
    """``(D, L)``: the close of business of ``last_day`` and the working seconds from ``start`` to it."""
    deadline = close_of_business(cal, last_day)
    return deadline, cal.work(start, deadline)


def first_last_day(cal: BusinessCalendar, start: int, n: int, natural: bool) -> int:
    return advance_days(cal, local_day(cal, start), n, natural)
