"""Batch writes as one statement fed by one JSON array: SQLite walks the rows in C with the GIL released.

``executemany`` takes the GIL back for every row it binds.  The store writes in
its own thread while the event loop's thread decodes the next fetch, and each
time the loop holds the GIL the writing thread waits up to the interpreter's
switch interval (5 ms) for it: measured, a row cost 90 µs alone and 1.9 ms
beside a busy thread (``bench/sink_vs_worker.py`` showed the sink at half a
worker's output).  Bound as one JSON parameter and unpacked by ``json_each``,
the batch costs 75 µs a row alone and 134 µs beside the busy thread: the
statement runs to its end without asking for the GIL.

Rows are lists of JSON values; a BLOB column (a document's exact bytes) travels
as a string and is cast back, byte for byte: JSON escapes and SQLite unescapes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson


def from_json(head: str, width: int, blobs: Iterable[int] = ()) -> str:
    """``head`` (``INSERT ... INTO t (columns)``) fed by the rows of one bound JSON array of ``width``-long rows."""
    as_blob = set(blobs)
    columns = ", ".join(f"CAST(value->>{i} AS BLOB)" if i in as_blob else f"value->>{i}" for i in range(width))
    return f"{head} SELECT {columns} FROM json_each(?)"


def rows_param(rows: Sequence[Sequence[Any]]) -> tuple[bytes]:
    """The one parameter of a ``from_json`` statement; BLOB values must be given as ``str``."""
    return (orjson.dumps(rows),)


def doc_text(doc: dict[str, Any]) -> str:
    """A document's JSON as the string a BLOB column travels as (``from_json``)."""
    return orjson.dumps(doc).decode()


# Statements with their parameters, built in the caller's thread and run in the writer's.
Writes = list[tuple[str, tuple[Any, ...]]]


def apply(db: sqlite3.Connection, writes: Writes) -> None:
    for sql, params in writes:
        db.execute(sql, params)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """All or nothing.  ``with db:`` is not enough: on a connection in autocommit mode (``isolation_level=None``,
    as the store opens it) it begins nothing, and each statement commits on its own."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:  # some errors (a full disk) have rolled it back already
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
