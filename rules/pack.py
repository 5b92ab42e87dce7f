"""Rule packs: the YAML an agency's rules are written in, checked once, compiled for speed.

A pack is validated in full at load time so that a supervisor fixing one learns
every problem in one go, each naming the field, the value and the fix — a bad
limit must never surface as a strange record weeks later.  The validated pack
is then compiled into plain slotted objects (limits in whole seconds, levels
precomputed, calendars built) that the engine reads without any checks.

Numbers are exact: YAML floats are read as ``Decimal`` from their text, so
``limit_hours: 58.61`` is 58.61 and not 58.6099999…
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

import yaml
from pydantic import ValidationError

from rules.calendar import ALWAYS, BusinessCalendar, Calendar
from rules.errors import BadInput
from rules.pack_checks import cross_checks, describe_error
from rules.pack_spec import (
    ExactLoader,
    ItemSpec,
    RulePackSpec,
    hours_to_seconds,
    level_seconds,
)
from rules.records import PENALTY_KINDS


class PackError(BadInput):
    """Every problem found in a rule pack, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"rule pack {source} has {len(problems)} problem(s):\n{lines}")


@dataclass(slots=True, frozen=True)
class Step:
    name: str
    index: int
    limit: int | None  # counted seconds of an hour limit; None for a day limit, computed per clock (§7.1)
    reminder: int | None
    warning: int | None
    optional: bool
    levels: tuple[tuple[int, str], ...] = ()  # (counted seconds, kind), ascending
    required_before: tuple[str, ...] = ()  # earlier steps that are not optional
    limit_days: int | None = None
    title: str | None = None  # the step's name in Chinese, for people (not part of any judgement)
    counts: tuple[int, ...] = ()  # the levels' counted seconds alone, as planning asks the calendar for them


@dataclass(slots=True, frozen=True)
class Item:
    code: str
    name: str | None
    calendar_name: str | None
    calendar: Calendar
    limit: int | None
    fee_limit: Decimal | None
    max_suspension: int | None
    steps: tuple[Step, ...]
    step_index: dict[str, Step]
    reminder_at: Decimal | None = None
    warning_at: Decimal | None = None
    max_report_delay: int | None = None  # seconds between occurred_at and received_at before late_report
    limit_days: int | None = None  # the case clock's limit in days (contract §7.1)
    natural_days: bool = False  # day_count: natural
    max_extensions: int = 1  # per clock (contract §7.6)
    effective_from: int | None = None  # in force from this instant (contract §7.7); None: from the beginning
    version: str = ""  # what the version judges, hashed: a case binds it for its whole life

    @property
    def has_case_clock(self) -> bool:
        return self.limit is not None or self.limit_days is not None


@dataclass(slots=True)
class RulePack:
    items: dict[str, Item]  # per code, its newest version
    calendars: dict[str, BusinessCalendar]
    points: dict[str, int | float]
    source: str = "<memory>"
    future_tolerance: int = 300  # seconds an event may be stamped after its receipt
    appeal_days: int = 5  # working days after a record in which it may be appealed (rules.workflow)
    suspension_kinds: dict[str, bool] = field(default_factory=dict)  # kind -> capped (contract §7.5)
    digest: str = ""
    spec: RulePackSpec | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # legal but probably unintended
    versions: dict[str, tuple[Item, ...]] = field(default_factory=dict)  # per code, by effective_from

    def item_at(self, code: str, t: int) -> Item | None:
        """The version of ``code`` in force at ``t``: the latest effective_from at or before it (§7.7)."""
        found = None
        for item in self.versions.get(code, ()):
            if item.effective_from is not None and item.effective_from > t:
                break
            found = item
        return found

    def bound(self, code: str, version: str) -> Item | None:
        """The version a running case bound at its submission, if this pack still has it."""
        return next((i for i in self.versions.get(code, ()) if i.version == version), None)


def _points_value(p: Decimal) -> int | float:
    return int(p) if p == p.to_integral_value() else float(p)


def _version_hash(item: Item) -> str:
    """What judges a case under this version, as compiled (seconds, exact fractions), not as written: the display
    name, the calendar's contents and the YAML's spelling of a number (7 or 7.0) are not part of it."""

    def d(x: Decimal | None) -> str | None:
        return None if x is None else str(x.normalize())

    steps = [(s.name, s.limit, s.limit_days, s.optional, s.required_before) for s in item.steps]
    judged = (item.code, item.calendar_name, item.limit, item.limit_days, item.natural_days, d(item.fee_limit),
              item.max_suspension, d(item.reminder_at), d(item.warning_at), item.max_report_delay,
              item.max_extensions, item.effective_from, steps)  # fmt: skip
    return hashlib.sha256(repr(judged).encode()).hexdigest()[:16]


def _compile_item(it: ItemSpec, calendars: dict[str, BusinessCalendar]) -> Item:
    steps = []
    for i, st in enumerate(it.steps):
        limit = None if st.limit_hours is None else hours_to_seconds(st.limit_hours)
        reminder = warning = None
        levels: tuple[tuple[int, str], ...] = ()
        if limit is not None:
            reminder = None if it.reminder_at is None else level_seconds(it.reminder_at, limit)
            warning = None if it.warning_at is None else level_seconds(it.warning_at, limit)
            levels = tuple(
                sorted(
                    (n, kind)
                    for kind, n in (("reminder", reminder), ("warning", warning), ("overdue", limit))
                    if n is not None
                )
            )
        required = tuple(s.name for s in it.steps[:i] if not s.optional) if st.after is None else tuple(st.after)
        counts = tuple(n for n, _ in levels)
        steps.append(
            Step(st.name, i, limit, reminder, warning, st.optional, levels, required, st.limit_days, st.title, counts)
        )
    item = Item(
        code=it.code,
        name=it.name,
        calendar_name=it.calendar,
        calendar=ALWAYS if it.calendar is None else calendars[it.calendar],
        limit=None if it.limit_hours is None else hours_to_seconds(it.limit_hours),
        fee_limit=it.fee_yuan,
        max_suspension=None if it.max_suspension_hours is None else hours_to_seconds(it.max_suspension_hours),
        steps=tuple(steps),
        step_index={s.name: s for s in steps},
        reminder_at=it.reminder_at,
        warning_at=it.warning_at,
        max_report_delay=None if it.max_report_delay_hours is None else hours_to_seconds(it.max_report_delay_hours),
        limit_days=it.limit_days,
        natural_days=it.day_count == "natural",
        max_extensions=it.max_extensions,
        effective_from=it.starts,
    )
    return dataclasses.replace(item, version=_version_hash(item))


def _notes(spec: RulePackSpec) -> list[str]:
    notes = []
    for it in spec.items:
        if it.reminder_at is not None and it.warning_at is not None and it.reminder_at > it.warning_at:
            notes.append(f"item {it.code}: reminder_at {it.reminder_at} comes after warning_at {it.warning_at}")
        for st in it.steps:
            longer = (
                it.limit_hours is not None and st.limit_hours is not None and st.limit_hours > it.limit_hours
            ) or (it.limit_days is not None and st.limit_days is not None and st.limit_days > it.limit_days)
            if longer:
                notes.append(
                    f"item {it.code}: step {st.name}'s limit is longer than the case's; shorten the step or "
                    "lengthen the case limit, or the step can never be the one that is late"
                )
    return notes


def compile_pack(spec: RulePackSpec, source: str = "<memory>", digest: str = "") -> RulePack:
    calendars = {name: c.build() for name, c in spec.calendars.items()}
    versions: dict[str, list[Item]] = {}
    for it in spec.items:
        versions.setdefault(it.code, []).append(_compile_item(it, calendars))
    ordered = {
        code: tuple(sorted(vs, key=lambda i: -(2**62) if i.effective_from is None else i.effective_from))
        for code, vs in versions.items()
    }
    items = {code: vs[-1] for code, vs in ordered.items()}
    points = {k: _points_value(spec.penalties.get(k, Decimal(0))) for k in PENALTY_KINDS}  # type: ignore[call-overload]
    pack = RulePack(items, calendars, points, source, digest=digest, spec=spec, notes=_notes(spec), versions=ordered)
    pack.future_tolerance = spec.future_tolerance_seconds
    pack.appeal_days = spec.appeal_days
    pack.suspension_kinds = {name: k.capped for name, k in spec.suspension_kinds.items()}
    return pack


def parse_pack(text: str, source: str = "<memory>") -> RulePack:
    try:
        raw = yaml.load(text, Loader=ExactLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise PackError(source, [f"not valid YAML: {e}"]) from None
    if not isinstance(raw, dict):
        raise PackError(source, ["the pack must be a YAML mapping with version, calendars, penalties and items"])
    problems: list[str] = []
    spec: RulePackSpec | None = None
    try:
        spec = RulePackSpec.model_validate(raw)
    except ValidationError as e:
        problems.extend(describe_error(err) for err in e.errors())
    problems.extend(cross_checks(raw))
    if problems or spec is None:
        raise PackError(source, problems)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return compile_pack(spec, source, digest)
