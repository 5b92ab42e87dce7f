"""Records: what the engine raises for supervisors.

A record's id is a hash of what makes it that record (case, kind, step, the
instant, and for fees the charge), so recomputing it after a crash or on
another worker yields the same id; every store and subscriber deduplicates on
it.  Records are immutable: a record later shown wrong is answered by a
``revocation`` record naming it, never by an edit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rules.timeutil import format_instant

# Kinds a rule pack gives penalty points to; a revocation carries none.
PENALTY_KINDS = (
    "reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension", "late_report", "escalation"
)  # fmt: skip
REVOCATION = "revocation"
LATE_REPORT = "late_report"
ESCALATION = "escalation"  # a 督办 unanswered past its due time (rules.workflow)
ADJUSTMENT = "adjustment"  # an appeal upheld: withdraws the appealed record like a revocation
INDEX_ALARM = "index_alarm"  # an agency's five-colour index turned yellow, orange or red this month
# What each supervisors' or agencies' action raises (rules.workflow): evidence, never points.
ACTION_RECORD_KINDS = {
    "supervise": "supervision", "reply": "reply", "review": "review", "appeal": "appeal", "decide": "decision",
    "ack": "ack",
}  # fmt: skip
# A record of these kinds withdraws the one its ``revokes`` names: neither counts in any total.
WITHDRAWING_KINDS = (REVOCATION, ADJUSTMENT)
# Kinds no scorecard, chart or index counts.
UNCOUNTED_KINDS = (*WITHDRAWING_KINDS, *ACTION_RECORD_KINDS.values(), INDEX_ALARM)
RECORD_KINDS = (*PENALTY_KINDS, *UNCOUNTED_KINDS)
# Cards: red for an alarm past a limit (or an order past its due time), yellow for a warning near one.
RED_CARD_KINDS = ("overdue", "case_overdue", "escalation")
YELLOW_CARD_KINDS = ("warning",)
# What supervisors call each kind, on the page and in every export.
KIND_TITLES = {
    "reminder": "催办提醒",
    "warning": "临界预警（黄牌）",
    "overdue": "超时（红牌）",
    "case_overdue": "办件超期（红牌）",
    "procedure": "程序违规",
    "fee": "收费违规",
    "suspension": "暂停超时",
    "late_report": "迟报",
    "escalation": "督办逾期（红牌）",
    "revocation": "撤销",
    "adjustment": "申诉核销",
    "supervision": "督办",
    "reply": "回告",
    "review": "审核回告",
    "appeal": "申诉",
    "decision": "复核决定",
    "ack": "已处理",
    "index_alarm": "指数预警",
}
CASE_KINDS = frozenset({"case_overdue", "fee", "suspension"})


def record_id(case_id: str, kind: str, step: str | None, at: int, extra: str = "") -> str:
    key = "\x1f".join((case_id, kind, step or "", str(at), extra)).encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


@dataclass(slots=True, init=False)
class Record:
    """Treated as immutable; not ``frozen`` only because frozen construction is 3x slower.

    The initializer is written out, as ``Event``'s is, for the compiled core; ``test_events`` holds it to the fields.
    """

    id: str
    kind: str
    case_id: str
    step: str | None
    at: int
    item_code: str
    agency_id: str
    handler_id: str | None
    points: int | float
    started_at: int | None = None  # when the judged clock (or suspension) started
    level_seconds: int | None = None  # counted seconds at which it was judged
    limit_seconds: int | None = None
    detail: dict[str, Any] | None = None
    cycle: int = 1  # the step's cycle (contract §7.4); written only from 2 on

    def __init__(
        self, id: str, kind: str, case_id: str, step: str | None, at: int, item_code: str, agency_id: str,
        handler_id: str | None, points: int | float, started_at: int | None = None, level_seconds: int | None = None,
        limit_seconds: int | None = None, detail: dict[str, Any] | None = None, cycle: int = 1,
    ) -> None:  # fmt: skip
        self.id, self.kind, self.case_id, self.step, self.at = id, kind, case_id, step, at
        self.item_code, self.agency_id, self.handler_id, self.points = item_code, agency_id, handler_id, points
        self.started_at, self.level_seconds, self.limit_seconds = started_at, level_seconds, limit_seconds
        self.detail, self.cycle = detail, cycle

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "case_id": self.case_id,
            "step": self.step,
            "at": format_instant(self.at),
            "item_code": self.item_code,
            "agency_id": self.agency_id,
            "handler_id": self.handler_id,
            "points": self.points,
        }
        if self.started_at is not None:
            out["started_at"] = format_instant(self.started_at)
            out["level_seconds"] = self.level_seconds
            out["limit_seconds"] = self.limit_seconds
        if self.cycle != 1:
            out["cycle"] = self.cycle
        if self.detail:
            out.update(self.detail)
        return out
