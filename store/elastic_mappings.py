"""The Elasticsearch store's index layout: mappings, versions, sort orders and the queries they share.

Instants are kept twice: as epoch seconds in ``long`` fields, which every query, sort
and cursor compares as plain integers, and (for records) as ISO text in a ``date``
field for calendar histograms.  Version 1 mapped the epoch fields as ``date`` with
``epoch_second``: a real cluster reads a JSON number in a range query on such a field
as epoch *milliseconds* and sorts them in milliseconds too, so every range was wrong.
Indices carry their layout version in their names; a store refuses to start on an
older one and ``approval-monitor store migrate`` copies it forward.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from rules.records import UNCOUNTED_KINDS

LAYOUT = 2  # the version in this layout's index names
KEYWORD: dict[str, Any] = {"type": "keyword"}
EPOCH: dict[str, Any] = {"type": "long"}  # epoch seconds

RECORD_MAPPING = {
    "dynamic": False,
    "properties": {
        "id": KEYWORD,
        "kind": KEYWORD,
        "case_id": KEYWORD,
        "step": KEYWORD,
        "at_epoch": EPOCH,
        "at": {"type": "date"},  # ISO text: what date histograms bucket on
        "agency_id": KEYWORD,
        "item_code": KEYWORD,
        "handler_id": KEYWORD,
        "points": {"type": "float"},
        "revokes": KEYWORD,
        "revoked_by": KEYWORD,  # set when a revocation names this record
        "chain": {"properties": {"p": {"type": "integer"}, "n": {"type": "long"}, "hash": KEYWORD}},  # rules.chain
    },
}
INTEGRITY_MAPPING: dict[str, Any] = {"dynamic": False, "properties": {}}  # the last verification, kept whole
REVOKED_MAPPING = {"dynamic": False, "properties": {"revoker": KEYWORD}}  # _id: the revoked record's id
CASE_MAPPING = {
    "dynamic": False,
    "properties": {
        "case_id": KEYWORD,
        "item_code": KEYWORD,
        "item_name": {"type": "text"},
        "agency_id": KEYWORD,
        "handler_id": KEYWORD,
        "status": KEYWORD,
        "submitted_epoch": EPOCH,
        "completed_epoch": EPOCH,
        "deadline_epoch": EPOCH,
    },
}
CLOCK_MAPPING = {
    "dynamic": False,
    "properties": {
        "kind": KEYWORD,
        "case_id": KEYWORD,
        "step": KEYWORD,
        "agency_id": KEYWORD,
        "item_code": KEYWORD,
        "handler_id": KEYWORD,
        "open": {"type": "boolean"},
        "deadline_epoch": EPOCH,
        "completed_epoch": EPOCH,
        "on_time": {"type": "boolean"},
        "limit_seconds": {"type": "long"},
        "handled": {"type": "boolean"},  # an alarm of the clock was marked handled (added with 督办)
        "ratio": {"type": "float"},
        "paused": {
            "type": "boolean"
        },  # the case is suspended (补正, expert review …): its clocks stand still  # of a completed step: the share of its limit it used (store.base.step_ratio)
    },
}
DELIVERY_MAPPING = {
    "dynamic": False,
    "properties": {
        "id": KEYWORD,
        "subscription_id": KEYWORD,
        "record_id": KEYWORD,
        "status": KEYWORD,
        "kind": KEYWORD,
        "case_id": KEYWORD,
        "agency_id": KEYWORD,
        "attempts": {"type": "integer"},
        "http_status": {"type": "integer"},
        "latency_ms": {"type": "float"},
        "at_epoch": EPOCH,
    },
}
DELIVERY_SORT = [{"at_epoch": "desc"}, {"id": "asc"}]


def subtree_query(scope: str) -> dict[str, Any]:
    root = scope.rstrip("/")
    return {
        "bool": {
            "should": [{"term": {"agency_id": root}}, {"prefix": {"agency_id": root + "/"}}],
            "minimum_should_match": 1,
        }
    }


# A revocation or adjustment counts for nothing, nor does the record it withdraws, nor an action's record.
NOT_COUNTED: list[dict[str, Any]] = [{"exists": {"field": "revoked_by"}}, {"terms": {"kind": list(UNCOUNTED_KINDS)}}]


async def point_in_time(
    es: AsyncElasticsearch, index: str, query: dict[str, Any], sort: list[Any], page: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every hit of ``query`` as of one moment (a point in time, paged with ``search_after``: ``from``
    stops at 10,000), closed however the reader stops; nothing when ``index`` does not exist yet."""
    try:
        pit = await es.open_point_in_time(index=index, keep_alive="2m")
    except NotFoundError:
        return
    pit_id = pit["id"]
    try:
        after = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "sort": sort,
                "size": page,
                "pit": {"id": pit_id, "keep_alive": "2m"},
            }
            if after is not None:
                body["search_after"] = after
            res = await es.search(**body)
            pit_id = res.get("pit_id", pit_id)
            hits = res["hits"]["hits"]
            for h in hits:
                yield h
            if len(hits) < page:
                return
            after = hits[-1]["sort"]
    finally:
        await es.close_point_in_time(id=pit_id)
