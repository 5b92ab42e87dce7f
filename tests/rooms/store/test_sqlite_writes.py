"""The embedded store's writes: batches (``store.sqlite_bulk``) row for row and byte for byte, and the roll-ups
the triggers keep checked at the offset they were built for."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.data import CASES, RECORDS, REVOKED, counted, filled_sqlite

from store.sqlite import SqliteStore
from store.sqlite_bulk import from_json, rows_param

AWKWARD = 'quote " backslash \\ slash / newline \n tab \t nul \x00 中文 办件 emoji 🟥 \u2028 end'


def _record(i: int, **extra: Any) -> dict[str, Any]:
    return {**RECORDS[0], "id": f"bulk-{i}", **extra}


def test_a_document_is_stored_byte_for_byte_whatever_its_text(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    rec = _record(1, detail=AWKWARD, handler_id="处长-1", points=2.5)
    asyncio.run(store.put_records([rec, _record(2, points=0)]))
    asyncio.run(store.put_cases([{**CASES[0], "item_name": AWKWARD}]))
    db = sqlite3.connect(tmp_path / "m.db")
    doc, kind, points, handler = db.execute(
        "SELECT doc, typeof(doc), points, handler_id FROM records WHERE id = 'bulk-1'"
    ).fetchone()
    assert (doc, kind, points, handler) == (orjson.dumps(rec), "blob", 2.5, "处长-1")
    assert db.execute("SELECT points, typeof(at) FROM records WHERE id = 'bulk-2'").fetchone() == (0.0, "integer")
    case_doc = db.execute("SELECT doc FROM cases WHERE case_id = ?", (CASES[0]["case_id"],)).fetchone()[0]
    assert orjson.loads(case_doc)["item_name"] == AWKWARD
    assert asyncio.run(store.get_record("bulk-1")) == rec


def test_a_batch_keeps_the_first_of_a_repeated_record_and_the_last_of_a_repeated_case(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    asyncio.run(store.put_records([_record(1, points=1), _record(1, points=9)]))
    first, second = {**CASES[0], "status": "open"}, {**CASES[0], "status": "completed"}
    asyncio.run(store.put_cases([first, second]))
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("SELECT points FROM records WHERE id = 'bulk-1'").fetchall() == [(1.0,)]
    assert db.execute("SELECT status FROM cases").fetchall() == [("completed",)]
    steps = db.execute("SELECT count(*) FROM steps WHERE case_id = ?", (CASES[0]["case_id"],)).fetchone()[0]
    assert steps == len(CASES[0]["steps"])  # the case's steps once, not once per document in the batch


def test_rows_come_out_in_order_with_their_types(tmp_path: Path) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)")
    rows = [(1, 1.5, "a", "x\u00e9", None), (-(2**62), 0.0, "", "", "n")]
    db.execute(from_json("INSERT INTO t (i, r, s, b, n)", 5, blobs=(3,)), rows_param(rows))
    got = db.execute("SELECT i, r, s, b, n, typeof(b) FROM t ORDER BY rowid").fetchall()
    assert got == [(1, 1.5, "a", "x\u00e9".encode(), None, "blob"), (-(2**62), 0.0, "", b"", "n", "blob")]


def test_roll_ups_are_checked_at_the_offset_they_were_last_built_for(tmp_path: Path) -> None:
    """Another process opening the file with another day offset rebuilds the roll-ups for it; a check made
    with the first offset must not then report every record near midnight as tampered with — and must still
    find a record deleted behind the triggers' back."""
    db = tmp_path / "m.db"
    utc = filled_sqlite(db, day_offset=0)
    assert asyncio.run(utc.check_rollups()) == []
    asyncio.run(SqliteStore(db, day_offset=8 * 3600).setup())  # rebuilt for UTC+8 days
    assert asyncio.run(utc.check_rollups()) == []
    victim = next(r for r in RECORDS if counted(r, REVOKED))
    with contextlib.closing(sqlite3.connect(db)) as c, c:
        c.execute("DELETE FROM records WHERE id = ?", (victim["id"],))
    assert len(asyncio.run(utc.check_rollups())) == 1


def test_a_file_locked_by_another_connection_is_unavailable_and_other_errors_are_not(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    asyncio.run(store.put_records([_record(1)]))
    holder = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(tmp_path / "m.db", timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as missing:
            other.execute("SELECT * FROM no_such_table")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        other.close()
    assert store.unavailable(locked.value)
    assert not store.unavailable(missing.value)
    assert not store.unavailable(ValueError("database is locked"))  # the wording alone is not SQLite's answer


def test_a_batch_that_fails_part_way_stores_nothing_of_it(tmp_path: Path) -> None:
    """Records, roll-ups, cases and steps in one transaction: a step row refused after the records went in
    leaves no record, no count and no half-replaced case behind (retried whole, it must not find half of it)."""
    from store.base import Batch

    store = SqliteStore(tmp_path / "m.db")
    asyncio.run(store.put_cases([CASES[0]]))
    broken = {**CASES[0], "status": "completed", "steps": [{**CASES[0]["steps"][0], "started_at": None}]}
    records = [_record(1, points=3), _record(2, points=1)]
    batch = Batch(records, lambda stored: records, [broken])
    with pytest.raises(sqlite3.IntegrityError):
        asyncio.run(store.put_batch(batch))
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("SELECT count(*) FROM records").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM agency_days").fetchone() == (0,)
    assert db.execute("SELECT status FROM cases").fetchall() == [(CASES[0]["status"],)]
    assert db.execute("SELECT count(*) FROM steps").fetchone() == (len(CASES[0]["steps"]),)
    asyncio.run(store.put_batch(Batch(records, lambda stored: records, [CASES[0]])))  # the retry stores it whole
    assert asyncio.run(store.count()) == (2, 1)
    assert db.execute("SELECT sum(n), sum(points) FROM agency_days").fetchone() == (2, 4.0)


def test_a_case_document_refused_leaves_the_case_as_it_was(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "m.db")
    asyncio.run(store.put_cases([CASES[0]]))
    broken = {**CASES[0], "status": "completed", "steps": [{**CASES[0]["steps"][0], "started_at": None}]}
    with pytest.raises(sqlite3.IntegrityError):
        asyncio.run(store.put_cases([broken]))
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("SELECT status FROM cases").fetchall() == [(CASES[0]["status"],)]
    assert db.execute("SELECT count(*) FROM steps").fetchone() == (len(CASES[0]["steps"]),)
