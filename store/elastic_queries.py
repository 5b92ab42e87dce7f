"""The read side of ``ElasticStore``: record pages, exports, timelines, "overdue now", the delivery log.

Pages use ``search_after`` on the integer sort values a query's order gives, never
``from``; an export reads one point in time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from rules.timeutil import format_instant
from store.base import (
    NEWEST_FIRST,
    OVERDUE_ORDER,
    DeliveryQuery,
    OverdueQuery,
    Page,
    RecordQuery,
    decode_cursor,
    encode_cursor,
)
from store.elastic_mappings import DELIVERY_SORT, point_in_time, subtree_query


class ElasticQueries:
    """Mixed into ``ElasticStore``."""

    es: AsyncElasticsearch
    records: str
    cases: str
    clocks: str
    deliveries: str

    async def search_deliveries(self, q: DeliveryQuery) -> Page:
        filters: list[dict[str, Any]] = [{"term": {"subscription_id": q.subscription_id}}]
        for field, value in (("status", q.status), ("record_id", q.record_id)):
            if value is not None:
                filters.append({"term": {field: value}})
        body: dict[str, Any] = {"query": {"bool": {"filter": filters}}, "sort": DELIVERY_SORT, "size": q.limit + 1}
        if q.cursor:
            body["search_after"] = decode_cursor(q.cursor, NEWEST_FIRST)
        res = await self.es.search(index=self.deliveries, **body)
        hits, cursor = _page(res, q.limit)
        return Page([_record(h["_source"]) for h in hits], cursor)

    async def get_record(self, record_id: str) -> dict[str, Any] | None:
        try:
            res = await self.es.search(index=self.records, query={"ids": {"values": [record_id]}}, size=1)
        except NotFoundError:
            return None
        hits = res["hits"]["hits"]
        return _record(hits[0]["_source"]) if hits else None

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        try:
            hit = await self.es.get(index=self.cases, id=case_id)
        except NotFoundError:
            return None
        doc: dict[str, Any] = {k: v for k, v in hit["_source"].items() if not k.endswith("_epoch")}
        res = await self.es.search(
            index=self.records,
            query={"term": {"case_id": case_id}},
            sort=[{"at_epoch": "asc"}, {"id": "asc"}],
            size=10_000,
            ignore_unavailable=True,
        )
        doc["records"] = [_record(h["_source"]) for h in res["hits"]["hits"]]
        return doc

    def _records_query(self, q: RecordQuery) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if q.kinds:
            filters.append({"terms": {"kind": list(q.kinds)}})
        if q.agency:
            filters.append(subtree_query(q.agency))
        for field, value in (("item_code", q.item_code), ("handler_id", q.handler_id), ("case_id", q.case_id)):
            if value is not None:
                filters.append({"term": {field: value}})
        span: dict[str, int] = {}
        if q.since is not None:
            span["gte"] = q.since
        if q.until is not None:
            span["lt"] = q.until
        if span:
            filters.append({"range": {"at_epoch": span}})
        return {"bool": {"filter": filters}}

    async def search_records(self, q: RecordQuery) -> Page:
        body: dict[str, Any] = {"query": self._records_query(q), "sort": RECORD_SORT, "size": q.limit + 1}
        if q.cursor:
            body["search_after"] = decode_cursor(q.cursor, NEWEST_FIRST)
        try:
            res = await self.es.search(index=self.records, **body)
        except NotFoundError:  # no record written yet, so no index behind the alias
            return Page([])
        hits, cursor = _page(res, q.limit)
        return Page([_record(h["_source"]) for h in hits], cursor)

    async def export_records(self, q: RecordQuery, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every matching record as of the moment the export starts (one point in time)."""
        query = self._records_query(q)
        if q.cursor:  # resume after a page the caller has: (at, id) strictly later in the sort order
            at, rid = decode_cursor(q.cursor, NEWEST_FIRST)
            later = [{"range": {"at_epoch": {"lt": at}}},
                     {"bool": {"filter": [{"term": {"at_epoch": at}}, {"range": {"id": {"gt": rid}}}]}}]  # fmt: skip
            query["bool"]["filter"].append({"bool": {"should": later, "minimum_should_match": 1}})
        async for hit in point_in_time(self.es, self.records, query, RECORD_SORT, page):
            yield _record(hit["_source"])

    async def overdue(self, q: OverdueQuery, now: int) -> Page:
        due: dict[str, int] = {"lt": now} if q.due_from is None else {"lt": now, "gte": q.due_from}
        if q.upcoming:
            due = {"gte": now}
        filters: list[dict[str, Any]] = [{"term": {"open": True}}, {"range": {"deadline_epoch": due}}]
        if q.kinds:
            filters.append({"terms": {"kind": list(q.kinds)}})
        if q.agency:
            filters.append(subtree_query(q.agency))
        if q.handled is True:
            filters.append({"term": {"handled": True}})
        elif q.handled is False:  # clocks written before the field existed count as not handled
            filters.append({"bool": {"must_not": {"term": {"handled": True}}}})
        for field, value in (("item_code", q.item_code), ("handler_id", q.handler_id)):
            if value is not None:
                filters.append({"term": {field: value}})
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters}},
            "sort": [{"deadline_epoch": "asc"}, {"case_id": "asc"}, {"step": "asc"}],
            "size": q.limit + 1,
        }
        if q.cursor:
            body["search_after"] = decode_cursor(q.cursor, OVERDUE_ORDER)
        res = await self.es.search(index=self.clocks, **body)
        hits, cursor = _page(res, q.limit)
        items = []
        for h in hits:
            s = h["_source"]
            items.append(
                {"kind": s["kind"], "case_id": s["case_id"], "step": s["step"] or None, "agency_id": s["agency_id"],
                 "item_code": s["item_code"], "handler_id": s.get("handler_id"),
                 "deadline": format_instant(s["deadline_epoch"]), "limit_seconds": s.get("limit_seconds"),
                 "overdue_seconds": now - s["deadline_epoch"], "handled": bool(s.get("handled")),
                 "paused": bool(s.get("paused"))}
            )  # fmt: skip
        return Page(items, cursor)


RECORD_SORT = [{"at_epoch": "desc"}, {"id": "asc"}]


def _record(source: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in source.items() if k != "at_epoch"}


def _page(res: Any, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A search for ``limit + 1`` hits as a page: its hits, and a cursor when there is more."""
    hits = res["hits"]["hits"]
    more = len(hits) > limit
    hits = hits[:limit]
    return hits, (encode_cursor(hits[-1]["sort"]) if more and hits else None)
