"""The Kafka a benchmark runs against: KAFKA_BOOTSTRAP_SERVERS if set, else Apache Kafka from its jars."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def kafka(workdir: Path) -> Iterator[str]:
    """Yields a bootstrap address; a broker started here is stopped on the way out."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    script, where = str(ROOT / "deploy" / "kafka.sh"), str(workdir / "kafka")
    out = subprocess.run([script, "start", where], capture_output=True, text=True, check=True)
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop", where], check=False)
