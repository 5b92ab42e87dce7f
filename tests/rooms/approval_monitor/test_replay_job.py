"""The file replay: external sort, streaming, and what it keeps of bad input."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

from support import SAMPLE_PACK

from approval_monitor.packs import load_pack
from approval_monitor.replay_job import replay_file
from approval_monitor.simulate import Scenario, simulate_lines
from rules.timeutil import parse_instant

UNTIL = parse_instant("2026-04-15T00:00:00+08:00")


def _sample(cases: int = 600, seed: int = 3, noise: float = 0.03) -> bytes:
    pack = load_pack(SAMPLE_PACK)
    return b"".join(
        line + b"\n" for line in simulate_lines(pack, Scenario(cases=cases, seed=seed, noise=noise, per_hour=30))
    )


def _run(data: bytes, **kw: int) -> tuple[list[dict], list[dict], object]:
    out, rej = io.BytesIO(), io.BytesIO()
    summary = replay_file(load_pack(SAMPLE_PACK), io.BytesIO(data), UNTIL, out, rej, **kw)
    return (
        [json.loads(x) for x in out.getvalue().splitlines()],
        [json.loads(x) for x in rej.getvalue().splitlines()],
        summary,
    )


def test_spilled_external_sort_gives_the_same_records_as_memory() -> None:
    data = _sample()
    mem_records, mem_rejects, mem = _run(data)
    disk_records, disk_rejects, disk = _run(data, chunk_events=1000)
    assert mem.spilled_runs == 0 and disk.spilled_runs >= 5
    assert disk_records == mem_records  # same records in the same order
    assert sorted(r["line"] for r in disk_rejects) == sorted(r["line"] for r in mem_rejects)


def test_records_come_out_in_at_order_and_cover_every_kind() -> None:
    records, rejects, summary = _run(_sample())
    ats = [r["at"] for r in records]
    assert ats == sorted(ats)
    kinds = Counter(r["kind"] for r in records)
    assert set(kinds) == {"reminder", "warning", "overdue", "case_overdue", "procedure", "fee", "suspension"}
    assert len({r["id"] for r in records}) == len(records)
    assert summary.duplicates > 0  # the simulator's duplicates were skipped silently
    codes = Counter(r["code"] for r in rejects)
    assert {"bad_json", "bad_timestamp", "unknown_type", "not_an_object"} <= set(codes)


def test_every_line_is_accounted_for() -> None:
    data = _sample(noise=0.05)
    _, rejects, s = _run(data)
    assert s.lines == data.count(b"\n")
    assert s.rejected == len(rejects)
    assert s.applied + s.rejected + s.after_until == s.lines


def test_blank_and_crlf_lines() -> None:
    data = (
        b'{"event_id":"1","case_id":"A","type":"case_submitted","item_code":"business-licence","agency_id":"city/m","occurred_at":"2026-04-01T09:00:00+08:00"}\r\n'
        b"\n"
        b'{"event_id":"2","case_id":"A","type":"step_started","step":"accept","occurred_at":"2026-04-01T09:00:00+08:00"}\n'
    )
    records, rejects, _ = _run(data)
    assert [(r["line"], r["code"]) for r in rejects] == [(2, "empty")]
    assert {r["kind"] for r in records} >= {"overdue", "case_overdue"}


def test_simulator_is_deterministic() -> None:
    assert _sample(cases=50, seed=9) == _sample(cases=50, seed=9)
    assert _sample(cases=50, seed=9) != _sample(cases=50, seed=10)


def test_a_spilled_event_keeps_every_field(tmp_path: Path) -> None:
    """The external sort writes events to disk and back: nothing an event carries may be lost there, and the
    run comes back in event order, ties in input order."""
    import dataclasses
    from decimal import Decimal

    from approval_monitor.event_sort import _event, _read_run, _spill
    from rules.events import Event

    values = {"fee": Decimal("12.50"), "extend_hours": Decimal("0.1"), "extend_days": 3, "t": 5, "seq": 7,
              "received": 9, "raw": b"\xff{raw"}  # fmt: skip
    full = Event(**{f.name: values.get(f.name, f"v-{f.name}") for f in dataclasses.fields(Event)})
    plain = Event(t=5, seq=3, type="case_submitted", event_id="e", case_id="c")
    later = dataclasses.replace(plain, t=4, seq=9, fee=Decimal("1E+2"))
    with open(_spill([full, plain, later], str(tmp_path), 0), "rb") as f:
        again = [_event(row) for batch in _read_run(f) for row in batch]
    assert again == [later, plain, full]
    assert [dataclasses.asdict(e) for e in again] == [dataclasses.asdict(e) for e in (later, plain, full)]
    assert type(again[2].fee) is Decimal and again[0].fee == Decimal("1E+2")


def test_a_byte_order_mark_at_the_start_of_the_file_is_not_part_of_the_first_event() -> None:
    """Files saved as "UTF-8 with BOM" by Windows tools: the same records and rejects as without the mark."""
    data = _sample(cases=40, noise=0.0)
    plain_records, plain_rejects, _ = _run(data)
    marked_records, marked_rejects, _ = _run(b"\xef\xbb\xbf" + data)
    assert marked_records == plain_records and marked_rejects == plain_rejects
    assert plain_records
