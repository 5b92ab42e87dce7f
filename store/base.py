"""The one small interface every store implements: records, case documents, and the questions supervisors ask.

Two backends implement it — SQLite as the embedded default, Elasticsearch in
production — and one suite of contract tests runs against both, so query
results, filters, pagination and scorecards cannot drift apart.

Conventions shared by every backend:

* records are immutable and idempotent by ``id`` (a repeated write is a no-op);
  case documents are replaced whole by ``case_id``;
* ``agency`` filters select a subtree: ``city/land`` matches ``city/land`` and
  ``city/land/...``, never ``city/landmark``;
* pages are cursor-based: the cursor is opaque, stable under concurrent writes
  of other records, and never an offset.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rules.chain import Entry
from rules.errors import BadCursor


@dataclass(frozen=True, slots=True)
class RecordQuery:
    kinds: tuple[str, ...] = ()
    agency: str | None = None  # subtree
    item_code: str | None = None
    handler_id: str | None = None
    case_id: str | None = None
    since: int | None = None  # at >= since
    until: int | None = None  # at < until
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OverdueQuery:
    kinds: tuple[str, ...] = ()  # "step", "case"; empty: both
    agency: str | None = None
    item_code: str | None = None
    handler_id: str | None = None
    limit: int = 100
    cursor: str | None = None
    due_from: int | None = None  # only clocks whose deadline is at or after this (e.g. past a calendar's cover)
    handled: bool | None = None  # only alarms marked handled (True) or not yet (False); both if None
    upcoming: bool = False  # the clocks not yet overdue instead, soonest deadline first ("at risk")


@dataclass(frozen=True, slots=True)
class WorkQuery:
    """督办 orders (``type="supervision"``) or appeals (``"appeal"``), newest first."""

    type: str
    status: str | None = None
    agency: str | None = None  # subtree
    case_id: str | None = None
    record_id: str | None = None
    overdue_at: int | None = None  # only orders awaiting a reply whose due time is before this instant
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    subscription_id: str
    status: str | None = None  # "delivered" or "dead"
    record_id: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


# The sort values a page's cursor carries, per list: (at, id) and (deadline, case_id, step).
NEWEST_FIRST = (int, str)
OVERDUE_ORDER = (int, str, str)


def decode_cursor(cursor: str, shape: tuple[type, ...] | None = None) -> list[Any]:
    """The values a cursor carries; ``shape``, when given, is the types the query's order needs, so a
    crafted cursor is refused here instead of reaching a query (integers within 64 bits)."""
    foreign = BadCursor(f"`cursor` {cursor[:80]!r} is not one this service issued for this list; start without it")
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise foreign from None
    if not isinstance(values, list):
        raise foreign
    if shape is not None:
        if len(values) != len(shape):
            raise foreign
        for v, t in zip(values, shape, strict=True):
            if type(v) is not t or (isinstance(v, int) and not -(2**63) <= v < 2**63):
                raise foreign
    return values


class RecordPages(Protocol):
    async def search_records(self, query: RecordQuery) -> Page: ...


async def paged_export(store: RecordPages, q: RecordQuery, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """An export as consecutive cursor pages: exact for immutable records sorted by (at, id)."""
    cursor = q.cursor
    while True:
        got = await store.search_records(dataclasses.replace(q, limit=page, cursor=cursor))
        for r in got.items:
            yield r
        if got.next_cursor is None:
            return
        cursor = got.next_cursor


def step_ratio(step: dict[str, Any]) -> float | None:
    """How much of its limit a completed step used (counted seconds over the limit in force); None while it runs
    or when it has no limit.  Both stores keep it for the indicators' early-completion rate and durations."""
    limit = step.get("limit_seconds")
    if step.get("completed_at") is None or not limit:
        return None
    return round(float(step["counted_seconds"]) / float(limit), 6)


def empty_card(key: str) -> dict[str, Any]:
    """A scorecard before anything is counted; every backend fills this shape."""
    return {"key": key, "points": 0.0, "counts": {}, "steps_completed": 0, "steps_on_time": 0}


@dataclass(frozen=True, slots=True)
class Period:
    since: int  # inclusive
    until: int  # exclusive
    agency: str | None = None  # subtree the caller may see


def day_of(t: int, utc_offset: int) -> str:
    """The calendar day of ``t`` at a fixed UTC offset (seconds), as YYYY-MM-DD."""
    from rules.timeutil import format_instant

    return format_instant(t + utc_offset)[:10]


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one fetch of the sink brings the store, to be written together.

    ``link`` is given the ids of ``records`` stored already and returns the records to store, each with its trail
    entry (``streams.trail``): the store calls it at the moment it knows what is stored, inside its write where it
    has one, so that a repeat is never chained twice.  It answers the same on every call (a retried write stores
    the very same entries)."""

    records: Sequence[dict[str, Any]]
    link: Callable[[set[str]], list[dict[str, Any]]]
    cases: Sequence[dict[str, Any]] = ()
    work: Sequence[dict[str, Any]] = ()
    deliveries: Sequence[dict[str, Any]] = ()


class Store(Protocol):
    async def setup(self) -> None:
        """Create tables, templates and aliases if missing; idempotent."""

    async def put_batch(self, batch: Batch) -> None:
        """The sink's one write per fetch: records, then case, 督办 and appeal, and delivery documents — in one
        transaction where the backend has them (SQLite), else each kind in turn (Elasticsearch: every write is
        idempotent, so a retry after a partial failure completes it)."""
        ...

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None: ...

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None: ...

    async def put_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        """The webhook delivery log; an entry replaces an earlier one of the same ``id`` (subscription and
        record: a redelivery after a crash reports its own, latest outcome)."""
        ...

    async def search_deliveries(self, query: DeliveryQuery) -> Page:
        """One subscription's delivery log, newest outcome first (``at`` descending, then ``id``)."""
        ...

    async def put_work(self, docs: Sequence[dict[str, Any]]) -> None:
        """督办 and appeal documents (``rules.work_views``), each replacing the one of its ``id``."""
        ...

    async def search_work(self, query: WorkQuery) -> Page:
        """Newest first (``at`` descending, then ``id``)."""
        ...

    async def get_work(self, work_id: str) -> dict[str, Any] | None: ...

    async def refresh(self) -> None:
        """Make everything written so far visible to searches (Elasticsearch is near-real-time)."""

    async def get_case(self, case_id: str) -> dict[str, Any] | None: ...

    async def get_record(self, record_id: str) -> dict[str, Any] | None:
        """One record, with ``revoked_by`` when a revocation or adjustment withdrew it."""
        ...

    async def search_records(self, query: RecordQuery) -> Page:
        """Newest first (``at`` descending, then ``id``)."""
        ...

    def export_records(self, query: RecordQuery, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every record matching ``query`` (after ``query.cursor``), in ``search_records`` order, for
        exports of any size; Elasticsearch reads one point in time."""
        ...

    async def overdue(self, query: OverdueQuery, now: int) -> Page:
        """Open steps and cases whose deadline lies before ``now`` (and at or after ``query.due_from``), longest
        overdue first."""
        ...

    async def scorecard(self, by: str, period: Period) -> list[dict[str, Any]]:
        """Per agency (``by="agency"``) or official (``"handler"``): points and record counts by kind
        for records in the period, and steps completed in it with how many on time; sorted by key."""
        ...

    async def step_ratios(self, by: str, period: Period) -> dict[str, list[float]]:
        """Per agency (``by="agency"``) or official: the share of its limit each step completed in the period used
        (``step_ratio``), for early-completion rates and durations against the limit."""
        ...

    async def daily(self, period: Period, utc_offset: int) -> list[dict[str, Any]]:
        """Records per local day (at a fixed UTC offset) and kind, for charts; sorted by day, kind."""
        ...

    async def count(self) -> tuple[int, int]:
        """How many records and case documents are searchable now: progress and readiness figures."""
        ...

    # -- the record trail (rules.chain) --------------------------------------------------------------
    async def chain_heads(self) -> dict[int, tuple[int, str]]:
        """Per chain (records-topic partition), the last stored entry's position and hash."""
        ...

    async def chain_partitions(self) -> list[int]: ...

    def chain_entries(self, partition: int, page: int = 5000) -> AsyncIterator[Entry]:
        """One chain's stored entries by position, as stored (content edits show)."""
        ...

    async def unchained(self) -> tuple[int, str | None]:
        """How many stored records carry no chain entry, and one of them."""
        ...

    async def check_rollups(self) -> list[str]:
        """Where stored aggregates disagree with the rows they count (none for stores without any)."""
        ...

    async def put_integrity(self, report: dict[str, Any]) -> None: ...

    async def get_integrity(self) -> dict[str, Any] | None: ...

    async def ping(self) -> bool: ...

    # The backend's client errors, and which of them mean "not answering now" (down, starting, overloaded):
    # the API answers those as 503 problems to retry, and every other as the bug it is.
    client_errors: tuple[type[Exception], ...]

    def unavailable(self, exc: BaseException) -> bool: ...

    async def close(self) -> None: ...
