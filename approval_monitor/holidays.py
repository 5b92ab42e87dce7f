"""China's official holidays and make-up workdays (调休), from the maintained ``chinese-calendar`` package.

Only the days that change a default Monday-Friday week are listed: holidays
falling on weekdays and make-up workdays falling on weekends.
"""

from __future__ import annotations

from datetime import date, timedelta


def china_holidays(years: list[int]) -> tuple[list[date], list[date]]:
    try:
        import chinese_calendar
    except ImportError:  # pragma: no cover - an optional extra
        raise ValueError("install the holidays extra: pip install 'approval-monitor[holidays]'") from None
    holidays: list[date] = []
    workdays: list[date] = []
    for year in sorted(set(years)):
        d = date(year, 1, 1)
        while d.year == year:
            weekend = d.weekday() >= 5
            if not weekend and chinese_calendar.is_holiday(d):
                holidays.append(d)
            elif weekend and chinese_calendar.is_workday(d):
                workdays.append(d)
            d += timedelta(days=1)
    return holidays, workdays
