"""All configuration, in one place, from environment variables (prefix ``APPROVAL_MONITOR_``).

Each setting is documented in the README's Configuration table; command-line
flags override these defaults for a single run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

import rules

SAMPLE_PACK = Path(rules.__file__).resolve().parent / "packs" / "cn-gov-2026.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_MONITOR_", extra="ignore")

    rules: Path = Field(SAMPLE_PACK, description="Rule pack YAML used by `run` and `simulate`.")
    retain_days: float = Field(7.0, ge=0, description="Days of event time a completed case is remembered.")
    chunk_events: int = Field(250_000, ge=1000, description="Events replay sorts in memory before spilling a run.")


def get_settings() -> Settings:
    return Settings()
