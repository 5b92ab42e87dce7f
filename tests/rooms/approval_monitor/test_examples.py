"""CONTRACT.md's worked examples, copied from shared/examples: exact records and rejects."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support import EXAMPLES, read_jsonl

KEY = ("kind", "case_id", "step", "at", "points", "agency_id", "item_code")


def _multiset(rows: list[dict]) -> Counter:
    """Compared as the examples' README says: cycle absent means 1 (contract §7.4)."""
    return Counter((*(r[k] for k in KEY), r.get("cycle", 1)) for r in rows)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_replay_reproduces_example(example: Path, tmp_path: Path) -> None:
    until = (example / "until").read_text().strip()
    out, rej = tmp_path / "records.jsonl", tmp_path / "rejects.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "approval_monitor", "replay", "--rules", str(example / "rules.yaml"),
         "--events", str(example / "events.jsonl"), "--until", until, "--output", str(out), "--rejects", str(rej)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got, expected = _multiset(read_jsonl(out)), _multiset(read_jsonl(example / "expected.jsonl"))
    assert got - expected == Counter(), "records not expected"
    assert expected - got == Counter(), "expected records missing"
    rejects = read_jsonl(rej)
    wanted = set(json.loads((example / "expected-rejects.json").read_text())["rejected_lines"])
    assert {r["line"] for r in rejects} == wanted
    lines = (example / "events.jsonl").read_text().splitlines()
    for r in rejects:  # each reject keeps its line unchanged, with a reason
        assert r["raw"] == lines[r["line"] - 1]
        assert r["reason"] and r["code"]
