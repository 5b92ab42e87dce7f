"""Who is who: the names of agencies and officials, so people read 市市场监督管理局 and 张敏, not codes.

Records and events carry codes (``city/market/registration``, ``hall-2-3``): stable
identifiers the agencies' systems already use.  The directory maps them to names
for every view and export; it never changes what is judged.  A name missing from
the directory shows as its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rules.agency import in_subtree
from rules.errors import BadInput


class OfficialSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60)
    agency: str | None = None  # the agency the official works in: who may see the name


class DirectorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agencies: dict[str, str] = Field(default_factory=dict)  # agency id -> name
    officials: dict[str, OfficialSpec] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Directory:
    agencies: dict[str, str] = field(default_factory=dict)
    officials: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (name, agency)

    def agency(self, agency_id: str | None) -> str | None:
        return None if agency_id is None else self.agencies.get(agency_id)

    def official(self, official_id: str | None) -> str | None:
        found = None if official_id is None else self.officials.get(official_id)
        return None if found is None else found[0]

    def visible(self, scope: str | None) -> dict[str, dict[str, str]]:
        """The names a key of ``scope`` may see: agencies of its subtree (and the ones above it, whose names are
        on every letterhead), officials of its subtree."""
        agencies = {k: v for k, v in self.agencies.items()
                    if scope is None or in_subtree(k, scope) or in_subtree(scope, k)}  # fmt: skip
        officials = {k: name for k, (name, agency) in self.officials.items()
                     if scope is None or (agency is not None and in_subtree(agency, scope))}  # fmt: skip
        return {"agencies": agencies, "officials": officials}


def parse_directory(text: str, source: str = "<memory>") -> Directory:
    try:
        spec = DirectorySpec.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as e:
        raise BadInput(f"directory {source}: {e}; write `agencies: {{id: 名称}}` and "
                       "`officials: {id: {name: 姓名, agency: id}}`") from None  # fmt: skip
    return Directory(dict(spec.agencies), {k: (o.name, o.agency) for k, o in spec.officials.items()})
