"""The README's first command: everything on one machine, on the embedded broker, alarms within a minute."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ROOT


def test_main_job_shows_alarms_within_a_minute_and_serves_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}  # the embedded default
    log = tmp_path / "run.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "approval_monitor", "run", "--per-minute", "30", "--workdir", str(tmp_path)],
            env={**env, "COLUMNS": "250"},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            match = None
            while match is None and time.monotonic() < deadline:
                time.sleep(0.5)
                match = re.search(r"API: (http://127\.0\.0\.1:\d+)/docs — key for this run: (\S+)", log.read_text())
            assert match, log.read_text()[-3000:]
            url, key = match.groups()
            started = time.monotonic()
            text = ""
            while time.monotonic() - started < 60:  # warnings and overdue alarms within a minute
                text = log.read_text()
                if "临界预警 warning" in text and "超时 overdue" in text:
                    break
                time.sleep(1)
            assert "临界预警 warning" in text and "超时 overdue" in text, text[-3000:]
            time.sleep(3)  # the sink indexes what was raised
            headers = {"Authorization": f"Bearer {key}"}
            overdue = httpx.get(f"{url}/v1/records?kind=overdue", headers=headers, timeout=10).json()["items"]
            assert overdue and all(r["kind"] == "overdue" for r in overdue)
            case = httpx.get(f"{url}/v1/cases/{overdue[0]['case_id']}", headers=headers, timeout=10).json()
            assert case["steps"] and any(r["id"] == overdue[0]["id"] for r in case["records"])
            assert httpx.get(f"{url}/v1/overdue", timeout=10).status_code == 401
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "Embedded Kafka-compatible broker (tansu, memory only" in text
    assert "records raised" in text and str(tmp_path) in text
