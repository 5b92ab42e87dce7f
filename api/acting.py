"""What every action route needs: who may act, what they act on (looked up in their scope), and publishing it.

The API is the gate for roles and scopes: a supervisor acts on what its scope
covers, an agency key answers for its own subtree only.  What the action does to
an order or appeal is judged again by the worker against the case's own state
(``rules.workflow``), which has the last word; the checks here answer the caller
at once and in Chinese with what to do instead.

(No ``from __future__ import annotations``: FastAPI reads these signatures.)
"""

import asyncio
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, Field, model_validator

from api.auth import Caller
from api.deps import Services, caller, services
from api.problems import ProblemModel
from rules.actions import MAX_LINKS, MAX_NOTE, Action
from rules.agency import in_subtree
from rules.errors import BadInput, Forbidden, NotFound, Unavailable
from rules.timeutil import format_instant


def _acting(role: str, what: str) -> Any:
    async def dep(who: Annotated[Caller, Depends(caller)], s: Annotated[Services, Depends(services)]) -> Caller:
        if who.role != role:
            raise Forbidden(f"角色 {who.role!r} 不能{what}：请使用{ROLE_NAMES[role]}密钥 (role {role!r} only)")
        if s.actions is None:
            raise Unavailable("办理督办与申诉需要 Kafka：请设置 KAFKA_BOOTSTRAP_SERVERS (actions need Kafka)")
        return who

    return dep


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemModel} for code in (403, 404, 409, 422, 503)
}  # what an action route may answer besides 202
ROLE_NAMES = {"supervisor": "监察员 (supervisor)", "agency": "部门 (agency)"}
Supervisor = Annotated[Caller, Depends(_acting("supervisor", "下达督办、审核回告、复核申诉或标记已处理"))]
AgencyKey = Annotated[Caller, Depends(_acting("agency", "回告督办或提出申诉"))]


class Due(BaseModel):
    """A due time in working hours or working days on the case's item calendar."""

    due_hours: float | None = Field(None, gt=0, le=8760, description="工作小时 (working hours)")
    due_days: int | None = Field(None, ge=1, le=366, description="工作日 (working days, to close of business)")

    def check_due(self) -> None:
        if (self.due_hours is None) == (self.due_days is None):
            raise BadInput("请给出 due_hours（工作小时）或 due_days（工作日）其中之一 (exactly one of the two)")


class Note(BaseModel):
    note: str = Field("", max_length=MAX_NOTE)


class ActionAccepted(BaseModel):
    """Kafka has the action; the worker judges it in the case's order and the result shows in the lists."""

    id: str
    case_id: str
    type: str
    at: str
    due: str | None = None
    partition: int
    offset: int


class AppealLinks(BaseModel):
    evidence: list[str] = Field(default_factory=list, max_length=MAX_LINKS)

    @model_validator(mode="after")
    def _links(self) -> "AppealLinks":
        for link in self.evidence:
            if not link.startswith(("https://", "http://")) or len(link) > 2000:
                raise ValueError(f"证据链接 {link[:80]!r} 须为 http(s) 地址 (evidence must be http(s) links)")
        return self


def visible(who: Caller, agency_id: str, what: str) -> None:
    """Outside the caller's scope, as everywhere: "not found" (a scoped key cannot learn what exists elsewhere)."""
    if not in_subtree(agency_id, who.scope):
        raise NotFound(f"没有此密钥可见的{what} (no {what} this key may see)")


async def record_for(s: Services, who: Caller, record_id: str) -> dict[str, Any]:
    r = await s.store.get_record(record_id)
    if r is None:
        raise NotFound(f"没有记录 {record_id!r} (no record {record_id!r}; it may not be indexed yet)")
    visible(who, r["agency_id"], f"记录 {record_id!r}")
    return r


async def work_for(s: Services, who: Caller, work_id: str, type_: str) -> dict[str, Any]:
    doc = await s.store.get_work(work_id)
    name = "督办" if type_ == "supervision" else "申诉"
    if doc is None or doc["type"] != type_:
        raise NotFound(f"没有{name} {work_id!r} (not found; a new one shows within seconds)")
    visible(who, doc["agency_id"], f"{name} {work_id!r}")
    return doc


def new_action(who: Caller, type_: str, case_id: str, **fields: Any) -> Action:
    return Action(uuid.uuid4().hex, type_, case_id, int(time.time()), who.name, who.role, **fields)


async def publish(s: Services, action: Action, due: str | None = None) -> ActionAccepted:
    partition, offset = await asyncio.to_thread(s.actions.publish, action)
    return ActionAccepted(
        id=action.action_id, case_id=action.case_id, type=action.type, at=format_instant(action.at), due=due,
        partition=partition, offset=offset,
    )  # fmt: skip
