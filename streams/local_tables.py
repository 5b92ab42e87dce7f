"""The worker's tables as it uses them: values addressed by key *and partition*, written once Kafka has them.

Faust's table API finds a key's partition from the event being processed, and
its RocksDB store keeps one database per partition.  The worker writes a whole
batch's states, of many partitions, at once, and reads states for timers and
direct reads where no event is current: through Faust's API, a RocksDB table
would put a case in the wrong partition's database and miss it when read.  So
the worker addresses Faust's store by partition itself, here, for either store:

- ``memory`` (the default, ``streams.memory_store``): a dict per partition; a
  restarted worker reads the changelog in bulk.
- ``rocksdb`` (``rocksdict``, from PyPI): one database per partition on local
  disk, with the changelog offset it holds; a restarted worker reads only the
  changelog written since, and case states live on disk, not in memory.

Values are written after the changelog acknowledged them, so the local copy is
never ahead of Kafka; the offset each store says it holds follows each write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from faust.types import TP

# RocksDB per partition database: small memtables and block cache, so that memory stays bounded by the
# partitions owned, not by Faust's defaults (three 64 MiB memtables and a 2 GiB cache per partition).
ROCKSDB_OPTIONS: dict[str, Any] = {
    "driver": "rocksdict",
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 1024 * 1024,
    "block_cache_compressed_size": 0,
}


class LocalTable:
    """A Faust table's local store, by partition (see the module's docstring).

    Both stores answer ``partition(p)`` with a mapping of that partition's keys
    (``rocksdict.Rdict`` or ``dict``): get, put and delete are that mapping's own.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.changelog: str = table.changelog_topic.get_topic_name()
        store = table.data
        self._rocks = hasattr(store, "_db_for_partition")
        self._store = store
        self._partition = store._db_for_partition if self._rocks else store.partition

    def get(self, key: bytes, partition: int) -> bytes | None:
        value: bytes | None = self._partition(partition).get(key)
        return value

    def put(self, key: bytes, partition: int, value: bytes) -> None:
        self._partition(partition)[key] = value

    def delete(self, key: bytes, partition: int) -> None:
        values = self._partition(partition)
        if self._rocks:
            values.delete(key)
        else:
            values.pop(key, None)

    def values(self, partitions: Iterable[int]) -> Iterator[bytes]:
        """Every value of ``partitions``."""
        offset_key = self._store.offset_key if self._rocks else None
        for p in sorted(partitions):
            if self._rocks:
                for key, value in self._partition(p).items():
                    if key != offset_key:
                        yield value
            else:
                yield from list(self._partition(p).values())

    def written(self, offsets: dict[int, int]) -> None:
        """The changelog acknowledged writes up to these offsets (per partition): the store holds them, so a
        rebalance or restart reads only what came after."""
        for p, offset in offsets.items():
            self._store.set_persisted_offset(TP(self.changelog, p), offset)
