"""The command line as a person uses it: exit codes and what it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import EXAMPLES, SAMPLE_PACK
from typer.testing import CliRunner

from approval_monitor.cli import app

runner = CliRunner()


def test_rules_check_summarises_the_sample_pack() -> None:
    res = runner.invoke(app, ["rules", "check", str(SAMPLE_PACK)])
    assert res.exit_code == 0, res.output
    for needle in ("ok", "Asia/Shanghai", "land-use-planning-permit", "accept", "natural time"):
        assert needle in res.output


def test_rules_check_states_day_limits_as_the_law_does_and_reviews_a_change(tmp_path: Path) -> None:
    example = next(e for e in EXAMPLES if e.name.startswith("04"))
    res = runner.invoke(app, ["rules", "check", str(example / "rules.yaml")])
    assert res.exit_code == 0, res.output
    assert "5 个工作日" in res.output and "3 日（自然日）" in res.output and "from the beginning" in res.output
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text("version: 2\nitems:\n  - {code: x, steps: [{name: s, limit_hours: 2}]}\n"
                   "  - {code: y, steps: [{name: s, limit_hours: 2}]}\n")  # fmt: skip
    later = "  - {code: y, effective_from: '2027-01-01T00:00:00+08:00', steps: [{name: s, limit_hours: 1}]}\n"
    new.write_text("version: 2\nitems:\n  - {code: x, steps: [{name: s, limit_hours: 1}]}\n"
                   "  - {code: y, steps: [{name: s, limit_hours: 2}]}\n" + later)  # fmt: skip
    res = runner.invoke(app, ["rules", "check", str(new), "--against", str(old)], terminal_width=400)
    assert res.exit_code == 0, res.output
    changes = res.output.split("changes from", 1)[1]
    assert "+ y version" in changes and "from 2026-12-31T16:00:00Z" in changes
    assert "! x version" in changes and "step s: limit 2 h → 1 h" in changes
    res = runner.invoke(app, ["rules", "check", str(old), "--against", str(old)])
    assert "changes from" in res.output and ": none" in res.output


def test_rules_check_lists_problems_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nitems: [{code: a, steps: [{name: s, limit_hours: -2}], calender: gov}]\n")
    res = runner.invoke(app, ["rules", "check", str(bad)])
    assert res.exit_code == 2
    assert "limit_hours" in res.output and "-2" in res.output and "did you mean `calendar`" in res.output


def test_replay_refuses_a_bad_until_and_a_bad_pack(tmp_path: Path) -> None:
    ex = EXAMPLES[0]
    common = ["--events", str(ex / "events.jsonl"), "--output", str(tmp_path / "o"), "--rejects", str(tmp_path / "r")]
    res = runner.invoke(app, ["replay", "--rules", str(ex / "rules.yaml"), "--until", "2026-11-25 04:00", *common])
    assert res.exit_code == 2 and "offset" in res.output
    res = runner.invoke(
        app, ["replay", "--rules", str(tmp_path / "none.yaml"), "--until", "2026-11-25T04:00:00Z", *common]
    )
    assert res.exit_code == 2 and "cannot read" in res.output
    missing = [
        "--events",
        str(tmp_path / "none.jsonl"),
        "--output",
        str(tmp_path / "o"),
        "--rejects",
        str(tmp_path / "r"),
    ]
    res = runner.invoke(app, ["replay", "--rules", str(ex / "rules.yaml"), "--until", "2026-11-25T04:00:00Z", *missing])
    assert res.exit_code == 2 and "none.jsonl" in res.output


def test_simulate_then_replay(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    res = runner.invoke(app, ["simulate", "--output", str(events), "--cases", "200", "--seed", "5"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "records.jsonl"
    res = runner.invoke(
        app,
        [
            "replay",
            "--rules",
            str(SAMPLE_PACK),
            "--events",
            str(events),
            "--until",
            "2026-05-01T00:00:00Z",
            "--output",
            str(out),
            "--rejects",
            str(tmp_path / "rej.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    kinds = {json.loads(line)["kind"] for line in out.read_text().splitlines()}
    assert {"overdue", "warning", "reminder"} <= kinds


def test_cn_holidays_prints_yaml_lists() -> None:
    res = runner.invoke(app, ["rules", "cn-holidays", "2026"])
    assert res.exit_code == 0, res.output
    assert '"2026-10-01"' in res.output and '"2026-10-10"' in res.output


def test_demo_replay_judges_the_bundled_sample(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo-replay", "--cases", "300", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "overdue" in res.output
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert records and all(r["agency_id"].startswith("city/") for r in records)


def test_verify_tells_an_empty_trail_from_an_unreadable_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mp = monkeypatch
    mp.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    mp.setenv("APPROVAL_MONITOR_STORE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 0 and "trail verified: 0 entries" in result.output, result.output
    mp.setenv("APPROVAL_MONITOR_STORE_URL", f"sqlite:///{tmp_path / 'no-such-dir' / 'x' / 'm.db'}")
    (tmp_path / "no-such-dir").write_text("a file where a directory should be")
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2 and "nothing was verified" in result.output, result.output


def test_emit_without_a_broker_fails_in_seconds_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES[0] / "events.jsonl").read_bytes())  # with a byte-order mark
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    started = time.monotonic()
    res = runner.invoke(app, ["emit", "--file", str(events)], terminal_width=400)
    assert res.exit_code == 2 and time.monotonic() - started < 20
    text = " ".join(res.output.split())  # the console wraps one message at its own width
    assert "no Kafka broker answers at 127.0.0.1:1" in text and "Traceback" not in text
    assert text.count("error:") == 1 and text.startswith("error:")
