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


# 全国年节及纪念日放假办法 (2024 revision), art. 2: the statutory days off, without 调休.
_QINGMING_C = 4.81  # 清明 in the 21st century: floor(Y × 0.2422 + C) − floor((Y − 1) / 4), Y the year's last two digits


def _qingming(year: int) -> date:
    y = year % 100
    return date(year, 4, int(y * 0.2422 + _QINGMING_C) - (y - 1) // 4)


def statutory_days(year: int) -> list[tuple[date, str]]:
    """Every statutory holiday of ``year`` by the national rules, from the lunar calendar (``lunardate``)."""
    from lunardate import LunarDate

    spring = LunarDate(year, 1, 1).to_solar_date()
    days = [(date(year, 1, 1), "元旦")]
    days += [(spring + timedelta(days=i), "春节") for i in range(-1, 3)]  # 除夕 to 初三
    days += [(_qingming(year), "清明节"), (date(year, 5, 1), "劳动节"), (date(year, 5, 2), "劳动节")]
    days += [(LunarDate(year, 5, 5).to_solar_date(), "端午节"), (LunarDate(year, 8, 15).to_solar_date(), "中秋节")]
    days += [(date(year, 10, d), "国庆节") for d in (1, 2, 3)]
    return sorted(days)


def provisional_holidays(years: list[int]) -> list[tuple[date, str]]:
    """The statutory days off that fall on weekdays: a provisional list for a year the State Council has not
    yet published, without 调休 (make-up days and bridged weekends are only known from its notice)."""
    return [(d, name) for y in sorted(set(years)) for d, name in statutory_days(y) if d.weekday() < 5]
