"""Moving an Elasticsearch store from an older index layout to the current one, without plugins.

A real cluster's ``_reindex`` lives in a module a minimal node may lack, and it could not
recompute the fields an older layout lacks (revocation marks), so the copy is made by the
client: each older index is read at one point in time, its documents written into an index
of the current layout, and the alias moved from old to new in one atomic alias update that
also deletes the old index.  Interrupted, it is simply run again: documents are written by
id, and an old index is gone only once its copy is complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from elasticsearch import NotFoundError
from elasticsearch.helpers import async_bulk

from rules.records import WITHDRAWING_KINDS
from rules.timeutil import parse_instant
from store.elastic_mappings import point_in_time

if TYPE_CHECKING:
    from store.elastic import ElasticStore


async def _indices_behind(store: ElasticStore, alias: str) -> list[str]:
    try:
        return sorted(await store.es.indices.get_alias(name=alias))
    except NotFoundError:
        return []


def _current(store: ElasticStore, alias: str, index: str) -> bool:
    base = store._index(alias)
    return index == base or (alias == store.records and index.startswith(base + "-"))


async def outdated_indices(store: ElasticStore) -> list[str]:
    """Indices behind this store's aliases that an older layout made."""
    out = []
    for alias in (store.records, *(a for a, _ in store.singles())):
        out += [i for i in await _indices_behind(store, alias) if not _current(store, alias, i)]
    return out


async def _documents(store: ElasticStore, index: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    async for hit in point_in_time(store.es, index, {"match_all": {}}, ["_shard_doc"]):
        yield hit["_id"], hit["_source"]


async def _copy(store: ElasticStore, old: str, new: str, alias: str, fix: Callable[[dict[str, Any]], None]) -> int:
    if not await store.es.indices.exists(index=new):  # a month's records index: the template maps it
        await store.es.indices.create(index=new)
    actions = []
    async for doc_id, source in _documents(store, old):
        fix(source)
        actions.append({"_index": new, "_id": doc_id, "_source": source})
    if actions:
        _, errors = await async_bulk(store.es, actions, raise_on_error=False, max_retries=3, chunk_size=1000)
        assert isinstance(errors, list)  # raise_on_error=False: the refused items, listed
        if errors:
            raise RuntimeError(f"copying {old} into {new}: {len(errors)} documents refused; first: {errors[0]}")
    await store.es.indices.refresh(index=new)
    await store.es.indices.update_aliases(
        actions=[{"add": {"index": new, "alias": alias}}, {"remove_index": {"index": old}}]
    )
    return len(actions)


def _epochs(source: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    for epoch, text in pairs:
        value = source.get(text)
        source[epoch] = None if value is None else parse_instant(value)


async def migrate(store: ElasticStore) -> dict[str, int]:
    """Copies every older-layout index forward; returns documents copied per old index."""
    outdated = set(await outdated_indices(store))
    if not outdated:
        return {}
    await store.setup_layout()
    done: dict[str, int] = {}
    revokers: dict[str, str] = {}
    old_records = sorted(outdated & set(await _indices_behind(store, store.records)))
    for index in old_records:
        async for _, source in _documents(store, index):
            if source.get("kind") in WITHDRAWING_KINDS and source.get("revokes"):
                revokers[source["revokes"]] = source["id"]

    def record(source: dict[str, Any]) -> None:
        source["at_epoch"] = parse_instant(source["at"])
        if source["id"] in revokers:
            source["revoked_by"] = revokers[source["id"]]

    def epochs(*pairs: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
        return lambda source: _epochs(source, pairs)

    singles = {
        store.cases: epochs(("submitted_epoch", "submitted_at"), ("completed_epoch", "completed_at"),
                            ("deadline_epoch", "deadline")),
        store.deliveries: epochs(("at_epoch", "at")),
        store.clocks: epochs(),  # already plain numbers
    }  # fmt: skip
    behind = {alias: set(await _indices_behind(store, alias)) for alias in singles}
    for index in sorted(outdated):
        if index in old_records:
            month = index.rsplit("-", 1)[-1]
            done[index] = await _copy(store, index, f"{store._index(store.records)}-{month}", store.records, record)
            continue
        for alias, fix in singles.items():
            if index in behind[alias]:
                done[index] = await _copy(store, index, store._index(alias), alias, fix)
    marks = [{"_index": store._index(store.revoked), "_id": k, "_source": {"revoker": v}} for k, v in revokers.items()]
    if marks:
        await async_bulk(store.es, marks, max_retries=3)
    return done
