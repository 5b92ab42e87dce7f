"""Scorecards and daily counts on Elasticsearch: aggregations over the records and clocks indices."""

from __future__ import annotations

from typing import Any

from store.base import Period, empty_card
from store.elastic_mappings import NOT_COUNTED, point_in_time, subtree_query


class ElasticStats:
    """The aggregation side of ``ElasticStore``, which mixes it in."""

    es: Any
    records: str
    clocks: str

    async def scorecard(self, by: str, period: Period) -> list[dict[str, Any]]:
        field = {"agency": "agency_id", "handler": "handler_id"}[by]
        scope = [] if period.agency is None else [subtree_query(period.agency)]
        rec = await self.es.search(
            index=self.records,
            size=0,
            query={"bool": {"filter": [{"range": {"at_epoch": {"gte": period.since, "lt": period.until}}}, *scope],
                           "must_not": NOT_COUNTED}},
            aggs={"g": {"terms": {"field": field, "size": 10_000},
                        "aggs": {"points": {"sum": {"field": "points"}}, "kinds": {"terms": {"field": "kind", "size": 20}}}}},
            ignore_unavailable=True,
        )  # fmt: skip
        steps = await self.es.search(
            index=self.clocks,
            size=0,
            query={"bool": {"filter": [{"term": {"kind": "step"}},
                                       {"range": {"completed_epoch": {"gte": period.since, "lt": period.until}}}, *scope]}},
            aggs={"g": {"terms": {"field": field, "size": 10_000}, "aggs": {"on_time": {"filter": {"term": {"on_time": True}}}}}},
        )  # fmt: skip
        cards: dict[str, dict[str, Any]] = {}
        for b in rec.get("aggregations", {}).get("g", {}).get("buckets", []):
            card = cards.setdefault(b["key"], empty_card(b["key"]))
            card["points"] = float(b["points"]["value"] or 0)
            card["counts"] = {k["key"]: k["doc_count"] for k in b["kinds"]["buckets"]}
        for b in steps["aggregations"]["g"]["buckets"]:
            card = cards.setdefault(b["key"], empty_card(b["key"]))
            card["steps_completed"], card["steps_on_time"] = b["doc_count"], b["on_time"]["doc_count"]
        return [cards[k] for k in sorted(cards)]

    async def step_ratios(self, by: str, period: Period) -> dict[str, list[float]]:
        field = {"agency": "agency_id", "handler": "handler_id"}[by]
        scope = [] if period.agency is None else [subtree_query(period.agency)]
        query = {
            "bool": {
                "filter": [
                    {"term": {"kind": "step"}},
                    {"exists": {"field": "ratio"}},
                    {"exists": {"field": field}},
                    {"range": {"completed_epoch": {"gte": period.since, "lt": period.until}}},
                    *scope,
                ]
            }
        }
        out: dict[str, list[float]] = {}
        async for hit in point_in_time(self.es, self.clocks, query, [{"_shard_doc": "asc"}]):
            source = hit["_source"]
            out.setdefault(source[field], []).append(source["ratio"])
        return out

    async def daily(self, period: Period, utc_offset: int) -> list[dict[str, Any]]:
        scope = [] if period.agency is None else [subtree_query(period.agency)]
        sign = "+" if utc_offset >= 0 else "-"
        zone = f"{sign}{abs(utc_offset) // 3600:02}:{abs(utc_offset) % 3600 // 60:02}"
        res = await self.es.search(
            index=self.records,
            size=0,
            query={"bool": {"filter": [{"range": {"at_epoch": {"gte": period.since, "lt": period.until}}}, *scope],
                           "must_not": NOT_COUNTED}},
            aggs={"d": {"date_histogram": {"field": "at", "calendar_interval": "day", "time_zone": zone,
                                           "min_doc_count": 1, "format": "yyyy-MM-dd"},
                        "aggs": {"k": {"terms": {"field": "kind", "size": 20}}}}},
            ignore_unavailable=True,
        )  # fmt: skip
        out = []
        for b in res.get("aggregations", {}).get("d", {}).get("buckets", []):
            out += [{"day": b["key_as_string"], "kind": k["key"], "count": k["doc_count"]} for k in b["k"]["buckets"]]
        return sorted(out, key=lambda r: (r["day"], r["kind"]))
