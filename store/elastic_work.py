"""督办 and appeal documents on Elasticsearch: ``{prefix}-work``, one document per order or appeal, replaced whole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from rules.timeutil import parse_instant
from store.base import NEWEST_FIRST, Page, WorkQuery, decode_cursor
from store.elastic_mappings import EPOCH, KEYWORD, subtree_query
from store.elastic_queries import _page

WORK_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": KEYWORD,
        "type": KEYWORD,
        "case_id": KEYWORD,
        "record_id": KEYWORD,
        "agency_id": KEYWORD,
        "status": KEYWORD,
        "at_epoch": EPOCH,
        "due_epoch": EPOCH,
    },
}
WORK_SORT = [{"at_epoch": "desc"}, {"id": "asc"}]


class ElasticWork:
    """Mixed into ``ElasticStore``."""

    es: AsyncElasticsearch
    work: str

    def _index(self, alias: str) -> str:  # provided by ElasticStore
        raise NotImplementedError

    async def _ready(self) -> None:  # provided by ElasticStore
        raise NotImplementedError

    async def _bulk(self, actions: list[dict[str, Any]], conflicts_ok: bool = False, missing_ok: bool = False) -> None:
        raise NotImplementedError  # provided by ElasticStore

    async def put_work(self, docs: Sequence[dict[str, Any]]) -> None:
        await self._ready()
        actions = []
        for d in docs:
            epochs = {
                "at_epoch": parse_instant(d["at"]),
                "due_epoch": None if not d.get("due") else parse_instant(d["due"]),
            }
            actions.append({"_index": self._index(self.work), "_id": d["id"], "_source": {**d, **epochs}})
        await self._bulk(actions)

    async def get_work(self, work_id: str) -> dict[str, Any] | None:
        try:
            hit = await self.es.get(index=self.work, id=work_id)
        except NotFoundError:
            return None
        return _doc(hit["_source"])

    async def search_work(self, q: WorkQuery) -> Page:
        filters: list[dict[str, Any]] = [{"term": {"type": q.type}}]
        for field, value in (("status", q.status), ("case_id", q.case_id), ("record_id", q.record_id)):
            if value is not None:
                filters.append({"term": {field: value}})
        if q.agency:
            filters.append(subtree_query(q.agency))
        if q.overdue_at is not None:
            filters += [{"term": {"status": "open"}}, {"range": {"due_epoch": {"lt": q.overdue_at}}}]
        body: dict[str, Any] = {"query": {"bool": {"filter": filters}}, "sort": WORK_SORT, "size": q.limit + 1}
        if q.cursor:
            body["search_after"] = decode_cursor(q.cursor, NEWEST_FIRST)
        try:
            res = await self.es.search(index=self.work, **body)
        except NotFoundError:
            return Page([])
        hits, cursor = _page(res, q.limit)
        return Page([_doc(h["_source"]) for h in hits], cursor)


def _doc(source: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in source.items() if not k.endswith("_epoch")}
