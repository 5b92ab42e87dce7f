"""Supervisors' and agencies' actions, as the API publishes them on the actions topic and the worker reads them.

An action is what a person did — opened a 督办, replied to one (回告), reviewed a
reply, appealed a record (申诉), decided an appeal (复核), acknowledged an alarm
— stamped by the API with who did it, in which role and when.  The API judges
roles, scopes and what the store shows; the worker, the case's one writer, judges
the action against the case's own state (``rules.workflow``) and is the last
word.  ``parse_action`` is the one gate for the topic, plain code like
``rules.events.decode``: a malformed message is a rejection kept with its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from rules.events import Rejection

SUPERVISE, REPLY, REVIEW, APPEAL, DECIDE, ACK = "supervise", "reply", "review", "appeal", "decide", "ack"
ACTION_TYPES = (SUPERVISE, REPLY, REVIEW, APPEAL, DECIDE, ACK)
REVIEW_OUTCOMES = ("accept", "return")
DECISION_OUTCOMES = ("upheld", "rejected")
MAX_NOTE = 2000
MAX_LINKS = 20


@dataclass(slots=True)
class Action:
    """One validated action; ``target`` is the order or appeal it answers (reply, review, decide)."""

    action_id: str
    type: str
    case_id: str
    at: int
    by: str
    role: str
    seq: int = -1
    agency_id: str | None = None  # the agency a 督办 is addressed to, or the appealed record's
    item_code: str | None = None
    record: dict[str, Any] | None = None  # the record acted on, as the store showed it: id, kind, at, step, …
    target: str | None = None
    due_hours: float | None = None
    due_days: int | None = None
    outcome: str | None = None
    note: str = ""
    evidence: list[str] = field(default_factory=list)
    raw: bytes = b""


_TEXT = ("action_id", "type", "case_id", "by", "role")


def parse_action(raw: bytes, seq: int) -> Action | Rejection:
    """The message as an ``Action``, or a rejection naming the field, its value and the fix."""

    def bad(reason: str, action_id: str | None = None, case_id: str | None = None) -> Rejection:
        return Rejection(seq, action_id, case_id, "bad_action", reason, raw)

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return bad(f"an action must be one JSON object ({e})")
    if not isinstance(obj, dict):
        return bad(f"an action must be a JSON object, got a JSON {type(obj).__name__}")
    for name in _TEXT:
        if not isinstance(obj.get(name), str) or not obj[name]:
            return bad(f"`{name}` {obj.get(name)!r} must be a non-empty string")
    aid, case_id = obj["action_id"], obj["case_id"]
    if obj["type"] not in ACTION_TYPES:
        return bad(f"`type` {obj['type']!r} unknown; use one of {', '.join(ACTION_TYPES)}", aid, case_id)
    at = obj.get("at")
    if type(at) is not int or not 0 <= at < 2**41:
        return bad(f"`at` {at!r} must be whole seconds since the epoch", aid, case_id)
    note = obj.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        return bad(f"`note` must be text of at most {MAX_NOTE} characters", aid, case_id)
    evidence = obj.get("evidence", [])
    if not isinstance(evidence, list) or len(evidence) > MAX_LINKS or not all(isinstance(x, str) for x in evidence):
        return bad(f"`evidence` must be a list of at most {MAX_LINKS} links", aid, case_id)
    record = obj.get("record")
    if record is not None and (not isinstance(record, dict) or not isinstance(record.get("id"), str)):
        return bad("`record` must be the record acted on, with its `id`", aid, case_id)
    hours, days = obj.get("due_hours"), obj.get("due_days")
    if hours is not None and (type(hours) not in (int, float) or not 0 < hours <= 8760):
        return bad(f"`due_hours` {hours!r} must be a number of working hours above 0", aid, case_id)
    if days is not None and (type(days) is not int or not 0 < days <= 366):
        return bad(f"`due_days` {days!r} must be a whole number of working days, 1 to 366", aid, case_id)
    for name in ("agency_id", "item_code", "target", "outcome"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return bad(f"`{name}` {obj[name]!r} must be a string", aid, case_id)
    return Action(
        aid, obj["type"], case_id, at, obj["by"], obj["role"], seq, obj.get("agency_id"), obj.get("item_code"),
        record, obj.get("target"), hours, days, obj.get("outcome"), note, list(evidence), raw,
    )  # fmt: skip


def action_message(action: Action) -> bytes:
    """The action as the API publishes it (``parse_action`` reads it back)."""
    out: dict[str, Any] = {
        "action_id": action.action_id,
        "type": action.type,
        "case_id": action.case_id,
        "at": action.at,
        "by": action.by,
        "role": action.role,
    }
    for name in ("agency_id", "item_code", "record", "target", "due_hours", "due_days", "outcome"):
        value = getattr(action, name)
        if value is not None:
            out[name] = value
    if action.note:
        out["note"] = action.note
    if action.evidence:
        out["evidence"] = action.evidence
    return orjson.dumps(out)
