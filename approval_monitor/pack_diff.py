"""What a rule change changes: the supervisor's review before a new pack goes live (`rules check NEW --against OLD`).

Versions are matched by item code and ``effective_from``.  A version that is
gone, or whose rules changed in place, re-times nothing silently — the worker
refuses a pack that lacks a version running cases bound — but the review says
so first, so that the change is made the lawful way: a new version with a
later ``effective_from``, the old one kept until its cases close.
"""

from __future__ import annotations

from approval_monitor.describe import limit_text, version_text
from rules.pack import Item, RulePack

_Key = tuple[str, int | None]


def _by_key(pack: RulePack) -> dict[_Key, Item]:
    return {(i.code, i.effective_from): i for vs in pack.versions.values() for i in vs}


def _changes(old: Item, new: Item) -> list[str]:
    out = []
    case_old, case_new = limit_text(old, old.limit, old.limit_days), limit_text(new, new.limit, new.limit_days)
    if case_old != case_new:
        out.append(f"case limit {case_old} → {case_new}")
    for name, value in (("calendar", "calendar_name"), ("reminder_at", "reminder_at"), ("warning_at", "warning_at"),
                        ("fee_yuan", "fee_limit"), ("max_suspension", "max_suspension"),
                        ("max_extensions", "max_extensions"), ("max_report_delay", "max_report_delay"),
                        ("day_count", "natural_days")):  # fmt: skip
        a, b = getattr(old, value), getattr(new, value)
        if a != b:
            out.append(f"{name} {a} → {b}")
    olds, news = old.step_index, new.step_index
    for name in news.keys() - olds.keys():
        out.append(f"step {name} added ({limit_text(new, news[name].limit, news[name].limit_days)})")
    for name in olds.keys() - news.keys():
        out.append(f"step {name} removed")
    for name in olds.keys() & news.keys():
        a, b = olds[name], news[name]
        la, lb = limit_text(old, a.limit, a.limit_days), limit_text(new, b.limit, b.limit_days)
        if la != lb:
            out.append(f"step {name}: limit {la} → {lb}")
        if a.optional != b.optional:
            out.append(f"step {name}: {'optional' if b.optional else 'required'} now")
        if a.required_before != b.required_before:
            out.append(
                f"step {name}: after {', '.join(a.required_before) or '—'} → {', '.join(b.required_before) or '—'}"
            )
    if [s.name for s in old.steps] != [s.name for s in new.steps] and not out:
        out.append("steps reordered")
    return sorted(out)


def pack_changes(old: RulePack, new: RulePack) -> list[str]:
    """One line per change, the ones that re-time running cases flagged."""
    a, b = _by_key(old), _by_key(new)
    lines = []
    for key in sorted(b.keys() - a.keys(), key=str):
        lines.append(f"+ {key[0]} {version_text(b[key])}: new version")
    for key in sorted(a.keys() - b.keys(), key=str):
        lines.append(
            f"- {key[0]} {version_text(a[key])}: removed — running cases submitted under it stop the worker; "
            "keep it until they close"
        )
    for key in sorted(a.keys() & b.keys(), key=str):
        changes = _changes(a[key], b[key])
        if changes:
            lines.append(
                f"! {key[0]} {version_text(a[key])} changed in place (now {b[key].version}): " + "; ".join(changes)
                + " — running cases under it stop the worker; add a new version with a later effective_from instead"
            )  # fmt: skip
        elif a[key].name != b[key].name:
            lines.append(f"~ {key[0]}: name {a[key].name} → {b[key].name} (judges the same)")
    if set(old.calendars) != set(new.calendars):
        lines.append(f"~ calendars {sorted(old.calendars)} → {sorted(new.calendars)}")
    for name in set(old.calendars) & set(new.calendars):
        co, cn = old.calendars[name], new.calendars[name]
        added = sorted(cn.holidays - co.holidays)
        gone = sorted(co.holidays - cn.holidays)
        if added or gone or co.workdays != cn.workdays or co.windows != cn.windows:
            lines.append(
                f"~ calendar {name}: {len(added)} holiday(s) added, {len(gone)} removed, make-up days "
                f"{len(co.workdays)} → {len(cn.workdays)}, windows {'same' if co.windows == cn.windows else 'changed'}"
                " — deadlines of running cases move with it"
            )
    if old.points != new.points:
        lines.append(f"~ penalties {old.points} → {new.points}")
    return lines
