"""Business calendars: how many working seconds lie between two instants.

A second is working when its local wall-clock time, in the calendar's zone,
falls on a working day inside one of the day's windows.  That per-second
definition is the contract; counting seconds one by one would be far too slow,
so each calendar keeps a table of its working intervals in UTC (built a year at
a time, lazily) with running totals.  ``work`` is then two binary searches and
``after`` one, whatever the distance — days, years — between the instants.

Daylight saving is handled where it bites: the local timeline is cut into
pieces of constant UTC offset and each window is mapped through them, so a
window inside a repeated hour counts twice and one inside a skipped hour not
at all, exactly as the per-second definition says.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from rules.timeutil import days_from_civil

_DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_HORIZON_YEARS = 100


class Calendar(Protocol):
    """What the engine needs of a calendar."""

    def work(self, a: int, b: int) -> int:
        """Counted seconds in ``[a, b)``."""
        ...

    def after(self, a: int, n: int) -> int:
        """Earliest instant ``t >= a`` with ``work(a, t) == n``."""
        ...

    def after_many(self, a: int, ns: Sequence[int]) -> list[int]:
        """``after`` for several ascending ``ns`` at once."""
        ...


class AlwaysCalendar:
    """Items without a calendar: every second counts."""

    __slots__ = ()

    def work(self, a: int, b: int) -> int:
        return b - a if b > a else 0

    def after(self, a: int, n: int) -> int:
        return a + n

    def after_many(self, a: int, ns: Sequence[int]) -> list[int]:
        return [a + n for n in ns]


ALWAYS = AlwaysCalendar()


def epoch_day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


class BusinessCalendar:
    """Working windows on working days in one zone, with holidays and make-up days (调休)."""

    def __init__(
        self,
        timezone: str,
        windows: Iterable[tuple[int, int]],
        weekdays: Iterable[int] = (0, 1, 2, 3, 4),
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        covered_year: int | None = None,
        provisional: frozenset[int] = frozenset(),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        # The last year whose holidays are listed (None: not declared), and the years listed only provisionally.
        self.covered_year = covered_year
        self.provisional = provisional
        self.covered_end: int | None = None  # the first instant after the last covered day, local midnight
        if covered_year is not None:
            self.covered_end = int(datetime(covered_year + 1, 1, 1, tzinfo=self.zone).timestamp())
        self.timezone = timezone
        self.windows = tuple(sorted(windows))
        self.weekdays = frozenset(weekdays)
        self.holidays = frozenset(epoch_day(d) for d in holidays)
        self.workdays = frozenset(epoch_day(d) for d in workdays)
        if not self.windows or not (self.weekdays or self.workdays):
            raise ValueError("a calendar needs at least one work window and one working day")
        # Coverage: UTC instants [_lo, _hi) are classified by the table.
        self._y0 = 0
        self._y1 = -1
        self._lo = 0
        self._hi = 0
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._cum: list[int] = []  # working seconds before interval i
        self._cum_end: list[int] = []  # working seconds up to the end of interval i

    @property
    def last_covered_day(self) -> date | None:
        """The last day the calendar lists holidays and make-up days for (``rules.coverage``)."""
        return None if self.covered_year is None else date(self.covered_year, 12, 31)

    # -- day classification -------------------------------------------------
    def is_working_day(self, day: int) -> bool:
        """``day`` counts days since 1970-01-01 (a local date)."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return (day + 3) % 7 in self.weekdays  # 1970-01-01 was a Thursday

    # -- the table ------------------------------------------------------------
    def _offset(self, t: int) -> int:
        off = datetime.fromtimestamp(t, UTC).astimezone(self.zone).utcoffset()
        assert off is not None
        return int(off.total_seconds())

    def _segments(self, u0: int, u1: int) -> list[tuple[int, int, int]]:
        """Pieces ``(start, end, offset)`` of constant UTC offset covering ``[u0, u1)``."""
        step = 6 * 3600
        out: list[tuple[int, int, int]] = []
        seg_start, cur = u0, self._offset(u0)
        t = u0
        while t < u1:
            nxt = min(t + step, u1)
            off = self._offset(nxt) if nxt < u1 else cur
            if off != cur:
                lo, hi = t, nxt  # offset(lo) == cur, offset(hi) != cur
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._offset(mid) == cur:
                        lo = mid
                    else:
                        hi = mid
                out.append((seg_start, hi, cur))
                seg_start, cur = hi, self._offset(hi)
                t = hi
                continue
            t = nxt
        out.append((seg_start, u1, cur))
        return out

    def _build(self, y0: int, y1: int) -> None:
        n0 = days_from_civil(y0, 1, 1) * _DAY
        n1 = days_from_civil(y1 + 1, 1, 1) * _DAY
        # Naive local working intervals, two days wider than needed on each side.
        naive: list[list[int]] = []
        for day in range(n0 // _DAY - 2, n1 // _DAY + 2):
            if not self.is_working_day(day):
                continue
            base = day * _DAY
            for ws, we in self.windows:
                s, e = base + ws, base + we
                if naive and naive[-1][1] >= s:
                    naive[-1][1] = max(naive[-1][1], e)
                else:
                    naive.append([s, e])
        nstarts = [iv[0] for iv in naive]
        starts: list[int] = []
        ends: list[int] = []
        for p, q, o in self._segments(n0 - 2 * _DAY, n1 + 2 * _DAY):
            lo_n, hi_n = p + o, q + o
            i = max(bisect.bisect_right(nstarts, lo_n) - 1, 0)
            while i < len(naive) and naive[i][0] < hi_n:
                s = max(naive[i][0], lo_n) - o
                e = min(naive[i][1], hi_n) - o
                s, e = max(s, n0), min(e, n1)
                if s < e:
                    if ends and ends[-1] >= s:
                        ends[-1] = max(ends[-1], e)
                    else:
                        starts.append(s)
                        ends.append(e)
                i += 1
        cum: list[int] = []
        cum_end: list[int] = []
        total = 0
        for s, e in zip(starts, ends, strict=True):
            cum.append(total)
            total += e - s
            cum_end.append(total)
        self._y0, self._y1, self._lo, self._hi = y0, y1, n0, n1
        self._starts, self._ends, self._cum, self._cum_end = starts, ends, cum, cum_end

    def _cover(self, t: int) -> None:
        if self._lo <= t < self._hi:
            return
        y = datetime.fromtimestamp(t, UTC).year
        if self._y1 < self._y0:
            self._build(y - 1, y + 1)
        else:
            self._build(min(self._y0, y - 1), max(self._y1, y + 1))

    def _cumulative(self, t: int) -> int:
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0
        e = self._ends[i]
        return self._cum[i] + (t if t < e else e) - self._starts[i]

    # -- the two questions --------------------------------------------------------
    def work(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        if not (self._lo <= a and b < self._hi):
            self._cover(a)
            self._cover(b)
        return self._cumulative(b) - self._cumulative(a)

    def after(self, a: int, n: int) -> int:
        if n <= 0:
            return a
        if not self._lo <= a < self._hi:
            self._cover(a)
        while True:
            target = self._cumulative(a) + n
            if self._cum_end and target <= self._cum_end[-1]:
                break
            # Grow forward by roughly the span still missing (working time is at
            # least a few percent of the calendar), at least a year at a time.
            missing = target - (self._cum_end[-1] if self._cum_end else 0)
            years = max(1, missing // (200 * 3600) + 1)
            if self._y1 + years > datetime.fromtimestamp(a, UTC).year + _HORIZON_YEARS:
                raise ValueError(
                    f"calendar {self.timezone!r} has fewer than {n} working seconds in the"
                    f" {_HORIZON_YEARS} years after {a}; add weekdays or work windows"
                )
            self._build(self._y0, self._y1 + years)
        j = bisect.bisect_left(self._cum_end, target)
        return self._starts[j] + (target - self._cum[j])

    def after_many(self, a: int, ns: Sequence[int]) -> list[int]:
        if not self._lo <= a < self._hi:
            self._cover(a)
        base = self._cumulative(a)
        if not self._cum_end or base + ns[-1] > self._cum_end[-1]:
            return [self.after(a, n) for n in ns]
        cum_end, cum, starts = self._cum_end, self._cum, self._starts
        out = []
        for n in ns:
            if n <= 0:
                out.append(a)
                continue
            target = base + n
            j = bisect.bisect_left(cum_end, target)
            out.append(starts[j] + (target - cum[j]))
        return out

    # -- for people -----------------------------------------------------------
    def weekly_hours(self) -> float:
        per_day = sum(e - s for s, e in self.windows)
        return per_day * len(self.weekdays) / 3600

    def intervals(self, a: int, b: int) -> list[tuple[int, int]]:
        """Working intervals inside ``[a, b)``, for displays and tests."""
        self._cover(a)
        self._cover(b)
        out = []
        i = max(bisect.bisect_right(self._starts, a) - 1, 0)
        while i < len(self._starts) and self._starts[i] < b:
            s, e = max(self._starts[i], a), min(self._ends[i], b)
            if s < e:
                out.append((s, e))
            i += 1
        return out
