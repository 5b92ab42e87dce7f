"""Rule versions live (contract §7.7): running cases keep the version they bound, across a new pack.

A pack that edits that version in place (or drops it) is refused at start,
naming the cases; a pack that adds a new version beside it is taken, and the
running case is still judged by its own: its overdue comes at the old limit.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from support.live import Feed, Names, Worker, wait_for

pytestmark = pytest.mark.kafka

OLD = "version: 2\npenalties: {overdue: 2}\nitems:\n  - {code: x, steps: [{name: s, limit_hours: %s}]}\n"
NEW_VERSION = "  - {code: x, effective_from: '%s', steps: [{name: s, limit_hours: 0.001}]}\n"


def test_a_new_pack_never_re_times_a_running_case(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names(partitions=1)
    first, edited, added = tmp_path / "first.yaml", tmp_path / "edited.yaml", tmp_path / "added.yaml"
    first.write_text(OLD % "0.01")  # 36 s
    edited.write_text(OLD % "0.005")  # the same version, edited in place
    added.write_text(OLD % "0.01" + NEW_VERSION % "2026-01-01T00:00:00Z")  # a new version, in force for new cases
    log = tmp_path / "worker.log"
    worker = Worker(names.env(kafka_bootstrap, first), log).start()
    try:
        worker.wait_ready()
        feed = Feed(kafka_bootstrap, names.events)
        submitted = time.time()
        feed.send("V1", "case_submitted", at=submitted, item_code="x", agency_id="city/a")
        feed.send("V1", "step_started", at=submitted, step="s")
        time.sleep(3)
    finally:
        worker.kill(signal.SIGTERM)

    refused = Worker(names.env(kafka_bootstrap, edited), log).start()
    assert refused.proc is not None
    assert refused.proc.wait(timeout=90) == 78, refused.tail()
    text = log.read_text()
    assert "no longer has the item versions" in text and "V1 (x " in text and "--against" in text

    taken = Worker(names.env(kafka_bootstrap, added), log).start()
    try:
        taken.wait_ready(after=1)
        got = wait_for(kafka_bootstrap, names.records, lambda rs: any(r["kind"] == "overdue" for r in rs), timeout=90)
        (overdue,) = [r for r, _, _ in got if r["kind"] == "overdue"]
        assert overdue["limit_seconds"] == 36  # the bound version's limit, not the new one's 4 s
    finally:
        taken.kill()
