"""API keys: stored as SHA-256 hashes in configuration, each with a role and an agency scope.

A key for ``city/land`` sees ``city/land`` and ``city/land/...`` on every
endpoint and nothing else: a filter outside its scope is refused (403), a
missing filter becomes its scope, and a case outside it is "not found" — a
scoped key cannot even learn that such a case exists.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from rules.agency import narrow as narrow_scope

Role = Literal["supervisor", "agency", "ingest", "admin"]
READ_ROLES: frozenset[str] = frozenset({"supervisor", "agency", "admin"})


class ApiKey(BaseModel):
    """One configured key; ``sha256`` is the hex digest of the key, never the key itself."""

    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    scope: str | None = None  # agency subtree; None: every agency


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: str
    scope: str | None


class Keyring:
    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    def find(self, presented: str | None) -> Caller | None:
        if not presented:
            return None
        return self.find_digest(hash_key(presented))

    def find_digest(self, digest: str) -> Caller | None:
        """The caller whose key has this SHA-256 (a session names its key so)."""
        for k in self.keys:
            if hmac.compare_digest(k.sha256, digest):
                return Caller(k.name, k.role, k.scope.rstrip("/") if k.scope else None)
        return None


def narrow(caller: Caller, requested: str | None) -> str | None:
    """The agency subtree a query by ``caller`` may cover; raises ``OutOfScope`` outside the caller's scope."""
    return narrow_scope(caller.scope, requested)
