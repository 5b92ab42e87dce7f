"""Instants as whole epoch seconds.

Everything inside the engine is an ``int`` of UTC seconds: comparisons and
arithmetic on ints are exact and an order of magnitude cheaper than on
``datetime`` objects, which matters at 100k events per second.  Parsing is a
hand-rolled RFC 3339 reader for the same reason; it is strict about the offset
because the contract rejects local times without one.
"""

from __future__ import annotations

import re
import time
from typing import NoReturn

from rules.errors import BadInput

# ASCII digits only: ``\d`` alone also matches fullwidth and other scripts' digits, which ``int`` reads too,
# so "２０２６-…" would pass as a time.  No groups: the reader slices fixed positions, cheaper than groups.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)\Z", re.ASCII)
_NO_OFFSET = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?\Z", re.ASCII)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class TimestampError(BadInput):
    """An instant that cannot be read; the message says how to write it."""


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _epoch_day(text: str) -> int:
    y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if not 1 <= mo <= 12:
        raise TimestampError(f"{text!r} has month {mo}; months run 01-12")
    dim = 29 if mo == 2 and _is_leap(y) else _DAYS_IN_MONTH[mo]
    if not 1 <= d <= dim:
        raise TimestampError(f"{text!r} has day {d}; that month has {dim} days")
    return days_from_civil(y, mo, d)


def _offset(text: str, suffix: str) -> int:
    oh, om = int(suffix[1:3]), int(suffix[4:6])
    if oh > 23 or om > 59:
        raise TimestampError(f"{text!r} has offset {suffix}; out of range")
    return (oh * 3600 + om * 60) * (1 if suffix[0] == "+" else -1)


def parse_instant(text: object) -> int:
    """Epoch seconds of an RFC 3339 timestamp with an offset; fractions are truncated.

    Events of one hour share their date, hour and offset, so the instant of each
    hour (validated once) is cached and only minutes and seconds are read per
    call; the regular expression alone guards the shape.  The cache is cleared
    when full, so it stays small on any history.
    """
    if type(text) is not str:
        raise TimestampError(f"must be an RFC 3339 string such as 2026-11-20T09:00:00+08:00, got {type(text).__name__}")
    if _RFC3339.match(text) is None:
        if _NO_OFFSET.match(text):
            raise TimestampError(f"{text!r} has no UTC offset; add one, e.g. {text}+08:00 or {text}Z")
        raise TimestampError(f"{text!r} is not RFC 3339; write it as 2026-11-20T09:00:00+08:00")
    # The last six characters hold the offset, or end in Z: with the first thirteen they fix the hour's instant.
    key = text[:13] + text[-6:]
    hour = _hour_cache.get(key)
    if hour is None:
        hour = _hour(text)
        if len(_hour_cache) >= _CACHED:
            _hour_cache.clear()
        _hour_cache[key] = hour
    mi, ss = _SIXTY.get(text[14:16]), _SIXTY.get(text[17:19])
    if mi is None or ss is None:  # 60-99: the shape's check lets any two digits through
        _bad_time(text)
    return hour + mi * 60 + ss


# Histories run roughly in time order, so a few months of recent hours (and days of minutes) is all a cache
# needs; 100,000 minutes of text held 13 MiB more at a replay's peak.
_CACHED = 4096
_hour_cache: dict[str, int] = {}
_SIXTY = {f"{n:02}": n for n in range(60)}


def _hour(text: str) -> int:
    """The instant of ``text``'s hour (its minutes and seconds left out), every part checked."""
    day = _epoch_day(text)
    hh = int(text[11:13])
    if hh > 23:
        _bad_time(text)
    offset = 0 if text[-1] in "Zz" else _offset(text, text[-6:])
    return day * 86400 + hh * 3600 - offset


def _bad_time(text: str) -> NoReturn:
    raise TimestampError(f"{text!r} has time {text[11:19]}; use 00:00:00-23:59:59 (no leap seconds)")


_minute_text: dict[int, str] = {}
_SECONDS = tuple(f"{s:02}Z" for s in range(60))


def format_instant(t: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the one output form the contract allows; each minute's text is made once."""
    minute, sec = divmod(t, 60)
    text = _minute_text.get(minute)
    if text is None:
        text = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        if len(_minute_text) >= _CACHED:
            _minute_text.clear()
        _minute_text[minute] = text
    return text + _SECONDS[sec]
