"""The production store: Elasticsearch 8 through the official async client, standard APIs only.

Layout, and why:

* ``{prefix}-records-YYYY.MM`` — records in monthly indices chosen from the
  record's own ``at`` (``{prefix}-records-v2-YYYY.MM``: the layout version of
  ``elastic_mappings``), behind the read alias ``{prefix}-records`` that the index
  template adds to every new month.  A record's index is a function of the
  record, so a write retried after a crash lands where the first one did and
  its ``_id`` stays unique (a data stream would not promise that across a
  rollover).
* ``{prefix}-cases`` — one document per case, replaced whole.
* ``{prefix}-clocks`` — one flat document per started step and per case with
  its deadline, so "overdue now" is one range query sorted by deadline and
  paged with ``search_after``; no nested queries.
* ``{prefix}-deliveries`` — the webhook delivery log, one document per
  subscription and record, replaced by a later outcome.
* ``{prefix}-work`` — one document per 督办 and per appeal, replaced whole.
* ``{prefix}-revoked`` — one document per revoked record (``_id``) naming its
  revocation; the revoked record itself carries the same mark as ``revoked_by``.

Explicit mappings (``dynamic: false``): keywords for ids and agency paths,
dates as epoch seconds beside their ISO text, numbers as numbers, names as
text; anything else rides along in ``_source`` unindexed.  Pages use
``search_after`` on a total sort order, never ``from``; the cursor carries the
sort values (integers and ids), checked for their types before any query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, TransportError
from elasticsearch.helpers import async_bulk

from rules.errors import Unavailable
from rules.records import WITHDRAWING_KINDS
from rules.timeutil import parse_instant
from store.base import Batch, step_ratio
from store.elastic_mappings import (
    CASE_MAPPING,
    CLOCK_MAPPING,
    DELIVERY_MAPPING,
    INTEGRITY_MAPPING,
    LAYOUT,
    RECORD_MAPPING,
    REVOKED_MAPPING,
)
from store.elastic_migrate import outdated_indices
from store.elastic_queries import ElasticQueries
from store.elastic_stats import ElasticStats
from store.elastic_trail import ElasticTrail
from store.elastic_work import WORK_MAPPING, ElasticWork


def _epoch(text: str | None) -> int | None:
    return None if text is None else parse_instant(text)


class ElasticStore(ElasticQueries, ElasticStats, ElasticTrail, ElasticWork):
    def __init__(self, url: str, prefix: str = "approval", *, shards: int = 1, replicas: int = 0) -> None:
        self.es = AsyncElasticsearch(url, request_timeout=30, retry_on_timeout=True, max_retries=3)
        self.prefix = prefix
        self.shards = shards
        self.replicas = replicas
        # Read aliases; the indices behind them carry the layout version in their names.
        self.records = f"{prefix}-records"
        self.cases = f"{prefix}-cases"
        self.clocks = f"{prefix}-clocks"
        self.deliveries = f"{prefix}-deliveries"
        self.revoked = f"{prefix}-revoked"
        self.integrity = f"{prefix}-integrity"
        self.work = f"{prefix}-work"
        self._set_up = False
        self._setup_lock: asyncio.Lock | None = None

    def _settings(self) -> dict[str, Any]:
        return {"number_of_shards": self.shards, "number_of_replicas": self.replicas}

    def _index(self, alias: str) -> str:
        return f"{alias}-v{LAYOUT}"

    def singles(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The aliases backed by one index each, with their mappings."""
        return (
            (self.cases, CASE_MAPPING),
            (self.clocks, CLOCK_MAPPING),
            (self.deliveries, DELIVERY_MAPPING),
            (self.revoked, REVOKED_MAPPING),
            (self.integrity, INTEGRITY_MAPPING),
            (self.work, WORK_MAPPING),
        )

    async def _ready(self) -> None:
        """Every write waits for the layout: an index a bulk write created on its own would take the
        server's dynamic mapping and a replica a single node can never place."""
        if not self._set_up:
            await self.setup()

    async def setup(self) -> None:
        """Creates what is missing; refuses to run on indices of an older layout (see ``elastic_migrate``).
        One at a time within a process (a sink's setup task and its first write may both ask)."""
        if self._setup_lock is None:
            self._setup_lock = asyncio.Lock()
        async with self._setup_lock:
            outdated = await outdated_indices(self)
            if outdated:
                raise Unavailable(
                    f"Elasticsearch indices {', '.join(sorted(outdated))} have an older layout (epoch fields mapped "
                    "as dates, which Elasticsearch compares in milliseconds, and no revocation marks): run "
                    "`approval-monitor store migrate` once to copy them into the current layout, then start again"
                )
            await self.setup_layout()

    async def setup_layout(self) -> None:
        """The current layout's template and indices, beside any older ones (which ``migrate`` retires)."""
        if await self.es.indices.exists_index_template(name=self.records):  # layout 1's, matching ours
            await self.es.indices.delete_index_template(name=self.records)
        await self.es.indices.put_index_template(
            name=self._index(self.records),
            index_patterns=[f"{self._index(self.records)}-*"],
            template={"settings": self._settings(), "mappings": RECORD_MAPPING, "aliases": {self.records: {}}},
            priority=200,
        )
        for alias, mapping in self.singles():
            if await self.es.indices.exists(index=self._index(alias)):
                # Fields added since the index was made (``handled`` on clocks): new fields only, so this is safe.
                await self.es.indices.put_mapping(index=self._index(alias), properties=mapping["properties"])
            else:
                aliases: dict[str, Any] = {} if await self.es.indices.exists_alias(name=alias) else {alias: {}}
                try:
                    await self.es.indices.create(
                        index=self._index(alias), settings=self._settings(), mappings=mapping, aliases=aliases
                    )
                except BadRequestError as e:  # another process (an API, a second sink) made it meanwhile
                    if e.error != "resource_already_exists_exception":
                        raise
        self._set_up = True

    def _record_index(self, at: str) -> str:
        return f"{self._index(self.records)}-{at[0:4]}.{at[5:7]}"

    async def put_batch(self, batch: Batch) -> None:
        """Each kind in turn (no transactions across documents); the records stored already are asked in real time."""
        if batch.records:
            await self.put_records(batch.link(await self.stored_ids(batch.records)))
        if batch.cases:
            await self.put_cases(batch.cases)
        if batch.work:
            await self.put_work(batch.work)
        if batch.deliveries:
            await self.put_deliveries(batch.deliveries)

    async def put_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Records are created, never replaced (a repeat is a conflict, and a conflict is success).

        A revocation also marks the record it names (``revoked_by``) so that counts can leave it out
        with a filter; the mark is kept by id in the ``revoked`` index too, read in real time, so a
        record written after its revocation (a repeat after a crash) is created already marked."""
        await self._ready()
        revokers = {r["revokes"]: r["id"] for r in records if r["kind"] in WITHDRAWING_KINDS and r.get("revokes")}
        # The marks first: a search that sees a revocation then sees its mark too (a refresh makes
        # every earlier write visible); a target not written yet is created marked, below.
        marks: list[dict[str, Any]] = []
        for r in records:
            if r["kind"] in WITHDRAWING_KINDS and r.get("revokes"):
                marks.append(
                    {"_index": self._index(self.revoked), "_id": r["revokes"], "_source": {"revoker": r["id"]}}
                )
                if r.get("revoked_at"):
                    marks.append({"_op_type": "update", "_index": self._record_index(r["revoked_at"]),
                                  "_id": r["revokes"], "doc": {"revoked_by": r["id"]}})  # fmt: skip
        await self._bulk(marks, missing_ok=True)
        ids = [r["id"] for r in records if r["id"] not in revokers]
        if ids:
            got = await self.es.mget(index=self.revoked, ids=ids)
            revokers |= {d["_id"]: d["_source"]["revoker"] for d in got["docs"] if d.get("found")}
        actions = []
        for r in records:
            doc = {**r, "at_epoch": parse_instant(r["at"])}
            if r["id"] in revokers:
                doc["revoked_by"] = revokers[r["id"]]
            actions.append(
                {"_op_type": "create", "_index": self._record_index(r["at"]), "_id": r["id"], "_source": doc}
            )
        await self._bulk(actions, conflicts_ok=True)

    async def put_cases(self, cases: Sequence[dict[str, Any]]) -> None:
        await self._ready()
        actions: list[dict[str, Any]] = []
        for c in cases:
            epochs = {
                "submitted_epoch": _epoch(c["submitted_at"]),
                "completed_epoch": _epoch(c.get("completed_at")),
                "deadline_epoch": _epoch(c.get("deadline")),
            }
            actions.append({"_index": self._index(self.cases), "_id": c["case_id"], "_source": {**c, **epochs}})
            common = {"case_id": c["case_id"], "agency_id": c["agency_id"], "item_code": c["item_code"]}
            actions.append(
                {
                    "_index": self._index(self.clocks),
                    "_id": f"{c['case_id']}\x1f",
                    "_source": {**common, "kind": "case", "step": "", "handler_id": c.get("handler_id"),
                                "open": c.get("completed_at") is None, "deadline_epoch": _epoch(c.get("deadline")),
                                "limit_seconds": c.get("limit_seconds"), "handled": bool(c.get("handled_by")),
                                "paused": bool(c.get("suspended_since"))},
                }
            )  # fmt: skip
            for s in c["steps"]:
                actions.append(
                    {
                        "_index": self._index(self.clocks),
                        "_id": f"{c['case_id']}\x1f{s['step']}",
                        "_source": {**common, "kind": "step", "step": s["step"], "handler_id": s.get("handler_id"),
                                    "open": s.get("completed_at") is None, "deadline_epoch": _epoch(s.get("deadline")),
                                    "completed_epoch": _epoch(s.get("completed_at")),
                                    "on_time": s.get("completed_at") is not None and s["status"] == "on_time",
                                    "limit_seconds": s["limit_seconds"], "handled": bool(s.get("handled_by")),
                                    "ratio": step_ratio(s), "paused": bool(c.get("suspended_since"))},
                    }
                )  # fmt: skip
        await self._bulk(actions)

    async def put_deliveries(self, deliveries: Sequence[dict[str, Any]]) -> None:
        await self._ready()
        actions = [
            {
                "_index": self._index(self.deliveries),
                "_id": d["id"],
                "_source": {**d, "at_epoch": parse_instant(d["at"])},
            }
            for d in deliveries
        ]
        await self._bulk(actions)

    async def _bulk(self, actions: list[dict[str, Any]], conflicts_ok: bool = False, missing_ok: bool = False) -> None:
        if not actions:
            return
        _, errors = await async_bulk(self.es, actions, raise_on_error=False, max_retries=3)
        assert isinstance(errors, list)  # raise_on_error=False: the refused items, listed
        fine = {409} if conflicts_ok else set()
        fine |= {404} if missing_ok else set()
        bad = [e for e in errors if next(iter(e.values())).get("status") not in fine]
        if bad:
            raise RuntimeError(f"Elasticsearch refused {len(bad)} of {len(actions)} writes; first: {bad[0]}")

    async def refresh(self) -> None:
        await self.es.indices.refresh(
            index=f"{self.records},{self.cases},{self.clocks},{self.deliveries},{self.work}", ignore_unavailable=True
        )

    async def count(self) -> tuple[int, int]:
        await self.refresh()
        records = await self.es.count(index=self.records, ignore_unavailable=True)
        cases = await self.es.count(index=self.cases, ignore_unavailable=True)
        return int(records["count"]), int(cases["count"])

    # A node down or unreachable, or answering that it cannot now: an index whose shards are still starting
    # (the sink has just created it), a full queue, a timeout.
    client_errors: tuple[type[Exception], ...] = (ApiError, TransportError)

    def unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, ApiError):
            return exc.meta.status in (429, 503, 504)
        return isinstance(exc, TransportError)

    async def ping(self) -> bool:
        return bool(await self.es.ping())

    async def close(self) -> None:
        await self.es.close()
