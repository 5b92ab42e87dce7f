"""The replay's external sort: runs merged in order whatever their overlap, batch sizes or lengths."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from support.fields import distinct_values

from approval_monitor.event_sort import EventSort, merge_runs
from rules.events import Event


def _batches(rows: list[tuple[int, int]], sizes: list[int]) -> list[list[tuple[int, int]]]:
    out, i = [], 0
    for size in sizes:
        out.append(rows[i : i + size])  # an empty batch among them is skipped, not taken for the end
        i += size
    out.append(rows[i:])
    return out


@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(st.lists(st.integers(0, 50), max_size=60), max_size=6),
    sizes=st.lists(st.integers(0, 7), max_size=12),
)
def test_merged_runs_come_out_as_one_sort(runs: list[list[int]], sizes: list[int]) -> None:
    seq = iter(range(10**6))
    rows = [sorted((t, next(seq)) for t in run) for run in runs]
    merged = list(merge_runs([iter(_batches(r, sizes)) for r in rows]))
    assert merged == sorted(row for r in rows for row in r)


def test_runs_cut_from_a_nearly_ordered_file_merge_in_order() -> None:
    """The common case the bisection is for: consecutive runs overlap only at their edges."""
    rng = random.Random(5)
    times = [i + rng.randint(-30, 30) for i in range(20_000)]
    rows = [(t, i) for i, t in enumerate(times)]
    runs = [sorted(rows[k : k + 3000]) for k in range(0, len(rows), 3000)]
    merged = list(merge_runs([iter([r[i : i + 512] for i in range(0, len(r), 512)]) for r in runs]))
    assert merged == sorted(rows)


def test_spilled_and_kept_events_come_back_in_event_order_ties_in_arrival_order(tmp_path: object) -> None:
    rng = random.Random(7)
    events = [Event(rng.randint(0, 400), seq, "case_resumed", f"e{seq}", f"C{seq % 9}") for seq in range(2_500)]
    sort = EventSort(str(tmp_path), chunk_events=300)
    for ev in events:
        sort.add(ev)
    assert len(sort.runs) == 8
    assert list(sort.ordered()) == sorted(events, key=lambda e: (e.t, e.seq))


def test_every_field_of_an_event_survives_a_spill(tmp_path: object) -> None:
    """The spill spells out the event's fields (cheaper compiled): each must come back, Decimals as Decimals."""
    values = distinct_values(Event)
    events = [Event(**{**values, "t": t, "seq": t}) for t in (3, 1, 2)]  # type: ignore[arg-type]
    sort = EventSort(str(tmp_path), chunk_events=2)  # one run spilled, one kept
    for ev in events:
        sort.add(ev)
    back = list(sort.ordered())
    assert sort.runs and [e.t for e in back] == [1, 2, 3]
    for e in back:
        assert dataclasses.asdict(e) == {**values, "t": e.t, "seq": e.t}
        assert type(e.fee) is Decimal and type(e.extend_hours) is Decimal
