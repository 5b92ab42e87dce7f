"""The embedded store's writes: each kind of document as the statements that store a batch of it.

Built in the caller's thread as plain statements and parameters (one JSON array
each, ``store.sqlite_bulk``), so that the writing thread only runs them: one
document kind never costs a statement per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rules.records import WITHDRAWING_KINDS
from rules.timeutil import parse_instant
from store.base import step_ratio
from store.sqlite_bulk import Writes, doc_text, rows_param
from store.sqlite_schema import CASE_INSERT, DELIVERY_INSERT, RECORD_INSERT, REVOKED_INSERT, STEP_INSERT, epoch_of
from store.sqlite_work import WORK_INSERT


def record_writes(records: Sequence[dict[str, Any]]) -> Writes:
    """Records are inserted once (a repeat is ignored) and the ones a revocation or adjustment withdraws noted."""
    if not records:
        return []
    rows = rows_param([
        (r["id"], r["kind"], r["case_id"], r.get("step"), parse_instant(r["at"]), r["agency_id"], r["item_code"],
         r.get("handler_id"), r.get("points", 0), doc_text(r),
         *((c["p"], c["n"], c["hash"]) if (c := r.get("chain")) else (None, None, None)))
        for r in records
    ])  # fmt: skip
    revoked = [(r["revokes"], r["id"]) for r in records if r["kind"] in WITHDRAWING_KINDS and r.get("revokes")]
    return [(RECORD_INSERT, rows)] + ([(REVOKED_INSERT, rows_param(revoked))] if revoked else [])


def case_writes(cases: Sequence[dict[str, Any]]) -> Writes:
    """A case document replaces the case's row and all its step rows."""
    if not cases:
        return []
    latest = list({c["case_id"]: c for c in cases}.values())  # a case twice in a batch: its last document
    case_rows = rows_param([
        (c["case_id"], c["agency_id"], c["item_code"], c.get("handler_id"), c["status"],
         epoch_of(c["submitted_at"]), epoch_of(c.get("completed_at")), epoch_of(c.get("deadline")),
         doc_text(c), 1 if c.get("handled_by") else 0, 1 if c.get("suspended_since") else 0)
        for c in latest
    ])  # fmt: skip
    step_rows = rows_param([
        (c["case_id"], s["step"], c["agency_id"], c["item_code"], s.get("handler_id"),
         epoch_of(s["started_at"]), epoch_of(s.get("completed_at")), epoch_of(s.get("deadline")),
         s["limit_seconds"], 1 if s.get("handled_by") else 0, step_ratio(s), 1 if c.get("suspended_since") else 0)
        for c in latest
        for s in c["steps"]
    ])  # fmt: skip
    case_ids = rows_param([c["case_id"] for c in latest])
    return [
        (CASE_INSERT, case_rows),
        ("DELETE FROM steps WHERE case_id IN (SELECT value FROM json_each(?))", case_ids),
        (STEP_INSERT, step_rows),
    ]


def work_writes(docs: Sequence[dict[str, Any]]) -> Writes:
    if not docs:
        return []
    rows = rows_param([
        (d["id"], d["type"], d["case_id"], d.get("record_id"), d["agency_id"], d["status"], parse_instant(d["at"]),
         None if d.get("due") is None else parse_instant(d["due"]), doc_text(d))
        for d in docs
    ])  # fmt: skip
    return [(WORK_INSERT, rows)]


def delivery_writes(deliveries: Sequence[dict[str, Any]]) -> Writes:
    if not deliveries:
        return []
    rows = rows_param(
        [(d["id"], d["subscription_id"], d["record_id"], d["status"], parse_instant(d["at"]), doc_text(d))
         for d in deliveries]
    )  # fmt: skip
    return [(DELIVERY_INSERT, rows)]
