"""The record trail on Elasticsearch: chain entries by position, and what ``verify`` reads.

Chain fields ride in each record's ``_source`` (``chain.p``, ``chain.n``, ``chain.hash``).
Which ids are already stored is asked by id (``mget``: real time), never by search, so a
record the sink wrote a moment ago is never chained twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from rules.chain import Entry
from store.elastic_mappings import point_in_time


class ElasticTrail:
    """The trail side of ``ElasticStore``, which mixes it in."""

    es: AsyncElasticsearch
    records: str
    integrity: str

    def _record_index(self, at: str) -> str:  # provided by ElasticStore
        raise NotImplementedError

    def _index(self, alias: str) -> str:  # provided by ElasticStore
        raise NotImplementedError

    async def chain_heads(self) -> dict[int, tuple[int, str]]:
        await self.es.indices.refresh(index=self.records, ignore_unavailable=True)
        try:
            res = await self.es.search(
                index=self.records,
                size=0,
                aggs={"p": {"terms": {"field": "chain.p", "size": 10_000},
                            "aggs": {"last": {"top_hits": {"size": 1, "sort": [{"chain.n": "desc"}],
                                                           "_source": ["chain"]}}}}},
            )  # fmt: skip
        except NotFoundError:
            return {}
        heads = {}
        for b in res["aggregations"]["p"]["buckets"]:
            chain = b["last"]["hits"]["hits"][0]["_source"]["chain"]
            heads[int(b["key"])] = (int(chain["n"]), str(chain["hash"]))
        return heads

    async def stored_ids(self, records: Sequence[dict[str, Any]]) -> set[str]:
        """Which of these records are stored already (real time: a repeat must never be chained twice)."""
        if not records:
            return set()
        docs = [{"_index": self._record_index(r["at"]), "_id": r["id"]} for r in records]
        res = await self.es.mget(docs=docs, source=False)
        return {d["_id"] for d in res["docs"] if d.get("found")}

    async def chain_partitions(self) -> list[int]:
        try:
            res = await self.es.search(index=self.records, size=0,
                                       aggs={"p": {"terms": {"field": "chain.p", "size": 10_000}}})  # fmt: skip
        except NotFoundError:
            return []
        return sorted(int(b["key"]) for b in res["aggregations"]["p"]["buckets"])

    async def chain_entries(self, partition: int, page: int = 5000) -> AsyncIterator[Entry]:
        query = {"term": {"chain.p": partition}}
        async for hit in point_in_time(self.es, self.records, query, [{"chain.n": "asc"}, "_shard_doc"], page):
            source = hit["_source"]
            chain = source.get("chain") or {}
            yield Entry(int(chain.get("n", 0)), str(chain.get("hash", "")), source)

    async def unchained(self) -> tuple[int, str | None]:
        query = {"bool": {"must_not": [{"exists": {"field": "chain.p"}}]}}
        try:
            res = await self.es.search(index=self.records, query=query, size=1, track_total_hits=True,
                                       source_includes=["id"])  # fmt: skip
        except NotFoundError:
            return 0, None
        hits = res["hits"]["hits"]
        return int(res["hits"]["total"]["value"]), (hits[0]["_source"].get("id") if hits else None)

    async def check_rollups(self) -> list[str]:
        """Elasticsearch keeps no roll-ups: every count is made from the records themselves."""
        return []

    async def put_integrity(self, report: dict[str, Any]) -> None:
        await self.es.index(index=self._index(self.integrity), id="last", document=report, refresh=True)

    async def get_integrity(self) -> dict[str, Any] | None:
        try:
            hit = await self.es.get(index=self.integrity, id="last")
        except NotFoundError:
            return None
        return dict(hit["_source"])
