"""What the API answers and accepts, as documented in its OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class PageModel(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class Scorecard(BaseModel):
    key: str
    points: float
    counts: dict[str, int]
    steps_completed: int
    steps_on_time: int
    on_time_rate: float | None
    colour: Literal["green", "blue", "yellow", "orange", "red"]


class SubscriptionIn(BaseModel):
    """A webhook: matching records are POSTed to ``url``, signed with ``secret``."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="http(s) URL that receives each matching record as a JSON POST")
    agency: str | None = Field(None, min_length=1, description="agency subtree; omitted: the key's scope")
    kinds: list[str] = Field(default_factory=list, description="record kinds; empty: every kind")
    items: list[str] = Field(default_factory=list, description="item codes; empty: every item")
    max_attempts: int | None = Field(None, ge=1, le=100, description="attempts before a record is dead-lettered")
    description: str = Field("", max_length=500)
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="HMAC-SHA256 key for the signature; omitted: one is made"
    )


class SubscriptionOut(BaseModel):
    id: str
    url: str
    agency: str | None
    kinds: list[str]
    items: list[str]
    max_attempts: int | None
    description: str
    created_at: str
    created_by: str


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="shown once: keep it to verify signatures")
