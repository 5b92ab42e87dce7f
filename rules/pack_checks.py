"""What a rule pack's problems say: pydantic's errors and the cross-checks, each naming field, value and fix.

Kept apart from ``rules.pack`` (which compiles a valid pack) so that each stays small.
"""

from __future__ import annotations

import difflib
from typing import Any

from rules.pack_spec import CalendarSpec, ItemSpec, RulePackSpec, StepSpec
from rules.timeutil import TimestampError, parse_instant

_FIXES = {
    "limit_hours": "give it in hours as a positive number, e.g. 8 or 0.5",
    "version": "write `version: 1` (or 2, contract §7) at the top of the pack",
    "timezone": "use an IANA zone name such as Asia/Shanghai",
    "work_windows": 'list windows like ["09:00-12:00", "13:30-17:30"]',
    "holidays": "list dates as YYYY-MM-DD",
    "workdays": "list dates as YYYY-MM-DD",
    "steps": "list the item's steps in the order they must be done",
    "items": "list at least one item with a code and steps",
}
_FIELDS = {
    "pack": set(RulePackSpec.model_fields),
    "calendar": set(CalendarSpec.model_fields),
    "item": set(ItemSpec.model_fields),
    "step": set(StepSpec.model_fields),
}


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe_error(err: Any) -> str:
    loc = tuple(err["loc"])
    where = _loc(loc)
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if err["type"] == "extra_forbidden":
        scope = "step" if "steps" in loc else "item" if "items" in loc else "calendar" if "calendars" in loc else "pack"
        near = difflib.get_close_matches(str(last), sorted(_FIELDS[scope]), n=1)
        hint = f"; did you mean `{near[0]}`?" if near else f"; known fields: {', '.join(sorted(_FIELDS[scope]))}"
        return f"{where}: unknown field{hint}"
    if err["type"] == "missing":
        return f"{where}: required field is missing; {_FIXES.get(str(last), 'add it')}"
    shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
    fix = _FIXES.get(str(last))
    return f"{where}: {msg}{shown}" + (f"; {fix}" if fix and fix not in msg else "")


def _instant_or_none(v: Any) -> int | bool | None:
    """The instant of an effective_from; False when it cannot be read (a field error says so)."""
    try:
        return None if v is None else parse_instant(v)
    except TimestampError:
        return False


def cross_checks(raw: Any) -> list[str]:
    """References and uniqueness, checked on the raw data so they are reported beside field errors."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return problems
    cals = raw.get("calendars") or {}
    cal_names = set(cals) if isinstance(cals, dict) else set()
    for name, cal in cals.items() if isinstance(cals, dict) else ():
        if isinstance(cal, dict):
            both = {str(d) for d in cal.get("holidays") or []} & {str(d) for d in cal.get("workdays") or []}
            if both:
                problems.append(
                    f"calendars.{name}: {sorted(both)} listed as both holidays and workdays; keep each date in one list"
                )
    items = raw.get("items")
    if not isinstance(items, list):
        return problems
    seen_codes: dict[tuple[str, int | None], int] = {}
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            continue
        code, starts = it.get("code"), _instant_or_none(it.get("effective_from"))
        if isinstance(code, str) and starts is not False:
            key = (code, None if starts is True else starts)
            if key in seen_codes:
                when = "without effective_from" if key[1] is None else f"with effective_from {it['effective_from']}"
                problems.append(
                    f"items[{i}]: {code!r} {when} repeats items[{seen_codes[key]}]; give each version of an item "
                    "its own effective_from, and at most one version none (contract §7.7)"
                )
            seen_codes.setdefault(key, i)
        cal = it.get("calendar")
        if cal is not None and cal not in cal_names:
            known = ", ".join(sorted(cal_names)) or "none are defined"
            problems.append(f"items[{i}].calendar: {cal!r} is not defined under calendars ({known})")
        steps = it.get("steps")
        names: dict[str, int] = {}
        for j, st in enumerate(steps if isinstance(steps, list) else []):
            n = st.get("name") if isinstance(st, dict) else None
            if isinstance(n, str):
                if n in names:
                    problems.append(
                        f"items[{i}].steps[{j}].name: {n!r} repeats steps[{names[n]}]; step names must be unique"
                    )
                names.setdefault(n, j)
            after = st.get("after") if isinstance(st, dict) else None
            for a in after if isinstance(after, list) else []:
                if a not in names or names[a] >= j:
                    problems.append(
                        f"items[{i}].steps[{j}].after: {a!r} is not a step listed before {n!r}; name only earlier "
                        "steps of the item (contract §7.2)"
                    )
    return problems
