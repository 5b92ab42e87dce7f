"""The Elasticsearch store's index mappings, sort orders and the agency-subtree query they share."""

from __future__ import annotations

from typing import Any

KEYWORD: dict[str, Any] = {"type": "keyword"}
EPOCH: dict[str, Any] = {"type": "date", "format": "epoch_second"}

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
    },
}
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
        "deadline_epoch": {"type": "long"},
        "completed_epoch": {"type": "long"},
        "on_time": {"type": "boolean"},
        "limit_seconds": {"type": "long"},
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
