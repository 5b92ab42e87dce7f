"""The record trail as a hash chain: what each entry's hash covers, and how a stored trail is checked.

Records are evidence, so the trail must show any edit, deletion, insertion or
reordering made in the store after the fact (in the manner of a verifiable log,
RFC 6962).  Each partition of the records topic is one chain, in the order its
records were first written: entry ``n`` carries ``hash = SHA-256(hash(n-1) "\\n"
canonical(record))``, from a genesis of 64 zeros.  The canonical form is the
record as raised (sorted keys, compact JSON), without what stores derive from it
(the chain fields themselves, revocation marks, epoch copies), so every backend
reproduces it.  The chains' heads are anchored outside the store (the anchors
topic and the logs); a store rewritten consistently from some entry on still
disagrees with the anchors taken before.

Pure: the sink links, ``approval-monitor verify`` checks, both through here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64
DERIVED = frozenset({"chain", "revoked_by", "at_epoch"})  # what stores add to a record; not part of the evidence


def canonical(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in record.items() if k not in DERIVED}, option=orjson.OPT_SORT_KEYS)


def link(prev: str, record: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + b"\n" + canonical(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored chain entry: its position, the hash stored with it and the record as stored."""

    n: int
    hash: str
    record: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Anchor:
    partition: int
    n: int
    hash: str
    at: str


@dataclass(frozen=True, slots=True)
class Finding:
    """The first thing wrong with a chain; ``kind`` is edited, deleted, inserted, reordered or truncated."""

    kind: str
    partition: int
    n: int | None
    record_id: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "partition": self.partition, "n": self.n, "record_id": self.record_id,
                "detail": self.detail}  # fmt: skip


@dataclass(slots=True)
class ChainReport:
    partition: int
    entries: int = 0
    head: str = GENESIS
    anchors_checked: int = 0
    last_anchor: Anchor | None = None
    finding: Finding | None = None


def verify_chain(partition: int, entries: Iterable[Entry], anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Recompute one chain from its stored entries (in ``n`` order) and check it against its anchors."""
    report = ChainReport(partition)
    pinned = {a.n: a for a in anchors if a.partition == partition}
    stored: list[Entry] = list(entries)
    by_hash = {e.hash for e in stored}
    prev, expected_n = GENESIS, 1
    for e in stored:
        rid = str(e.record.get("id"))
        if e.n < expected_n:
            report.finding = Finding("inserted", partition, e.n, rid, f"a second entry at position {e.n}")
            return report
        if e.n > expected_n:
            missing = f"{expected_n}" if e.n == expected_n + 1 else f"{expected_n}..{e.n - 1}"
            report.finding = Finding("deleted", partition, expected_n, None, f"entries {missing} are missing")
            return report
        own = link(prev, e.record)
        if own != e.hash:
            # The entry's content still matches a hash stored elsewhere in the chain: moved, not edited.
            moved = any(link(other, e.record) == e.hash for other in by_hash | {GENESIS} if other != prev)
            kind = "reordered" if moved else "edited"
            why = "it was linked after another entry" if moved else "its content no longer matches its hash"
            report.finding = Finding(kind, partition, e.n, rid, f"entry {e.n} ({rid}): {why}")
            return report
        anchor = pinned.get(e.n)
        if anchor is not None:
            if anchor.hash != own:
                why = f"entries up to {e.n} were rewritten after the anchor of {anchor.at}"
                report.finding = Finding("edited", partition, e.n, rid, why)
                return report
            report.anchors_checked += 1
            report.last_anchor = anchor
        prev, expected_n = own, expected_n + 1
        report.entries += 1
    report.head = prev
    beyond = [a for a in pinned.values() if a.n >= expected_n]
    if beyond:
        last = max(beyond, key=lambda a: a.n)
        report.finding = Finding("truncated", partition, expected_n, None,
                                 f"the store ends at entry {expected_n - 1}, but the anchor of {last.at} "
                                 f"names entry {last.n}")  # fmt: skip
    return report
