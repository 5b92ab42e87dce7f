"""The README's first command: everything on one machine, on the embedded broker, alarms within a minute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_main_job_shows_warnings_and_overdue_alarms_within_a_minute(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}  # the embedded default
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "approval_monitor",
            "run",
            "--duration",
            "45",
            "--per-minute",
            "30",
            "--workdir",
            str(tmp_path),
        ],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=150,
        cwd=ROOT,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Embedded Kafka-compatible broker (tansu, memory only" in out
    assert "临界预警 warning" in out and "超时 overdue" in out, out[-3000:]
    assert "records raised" in out and str(tmp_path) in out
