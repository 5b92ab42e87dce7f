"""The README's first command: everything on one machine, on the embedded broker, alarms within a minute."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from support import ROOT

from rules.timeutil import parse_instant


def _receiver(got: list[tuple[dict[str, str], bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")  # a zombie has exited


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
            page_line = log.read_text().index(f"Page (监察看板): {url}/")  # the page first, then the API
            assert page_line < log.read_text().index(f"API: {url}/docs")
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
            assert "swagger-ui" in httpx.get(f"{url}/docs", timeout=10).text  # served from local files

            # A webhook on the embedded broker: overdue alarms arrive at a loopback receiver, signed.
            got: list[tuple[dict[str, str], bytes]] = []
            receiver = _receiver(got)
            try:
                hook = f"http://127.0.0.1:{receiver.server_port}/hook"
                res = httpx.post(f"{url}/v1/subscriptions", json={"url": hook, "kinds": ["overdue"]}, headers=headers,
                                 timeout=30)  # fmt: skip
                assert res.status_code == 201, res.text
                secret = res.json()["secret"]
                deadline = time.monotonic() + 90
                while not got and time.monotonic() < deadline:
                    time.sleep(0.5)
                assert got, (tmp_path / "webhooks.log").read_text()[-3000:]
                head, body = got[0]
                mac = hmac.new(secret.encode(), head["X-Approval-Timestamp"].encode() + b"." + body, hashlib.sha256)
                assert head["X-Approval-Signature"] == "sha256=" + mac.hexdigest()
                assert json.loads(body)["kind"] == "overdue"
            finally:
                receiver.shutdown()
        finally:
            children = _children(proc.pid)
            proc.send_signal(signal.SIGTERM)  # as a service manager stops it; Ctrl-C takes the same path
            proc.wait(timeout=60)
    text = log.read_text()
    assert children and not [pid for pid in children if _alive(pid)], "children left running after SIGTERM"
    assert proc.returncode == 0, text[-3000:]
    assert "Embedded Kafka-compatible broker (tansu, memory only" in text
    assert "records raised" in text and str(tmp_path) in text


def _run(workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    with open(log, "wb") as out:
        # Its own process group, as a terminal's foreground job: Ctrl-C there signals the whole group.
        return subprocess.Popen(
            [sys.executable, "-m", "approval_monitor", "run", "--per-minute", "60", "--workdir", str(workdir)],
            env={**env, "COLUMNS": "250"}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip


def _api(log: Path, proc: subprocess.Popen[bytes]) -> tuple[str, dict[str, str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"API: (http://127\.0\.0\.1:\d+)/docs — key for this run: (\S+)", log.read_text())
        if match and "超时 overdue" in log.read_text():
            return match[1], {"Authorization": f"Bearer {match[2]}"}
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(log.read_text()[-3000:])


def _stopped_within(proc: subprocess.Popen[bytes], sig: int, group: bool, seconds: float) -> float:
    """Signal the job (or its whole process group, as Ctrl-C in a terminal does); how long until every process of
    the job is gone."""
    family = [proc.pid, *_children(proc.pid)]
    family += [c for pid in family[1:] for c in _children(pid)]
    began = time.monotonic()
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    proc.wait(timeout=60)
    while any(_alive(pid) for pid in family) and time.monotonic() - began < 60:
        time.sleep(0.05)
    took = time.monotonic() - began
    assert not [pid for pid in family if _alive(pid)], "processes left running"
    assert took < seconds, f"stopping took {took:.1f}s"
    return took


def test_ctrl_c_and_sigterm_stop_everything_within_5s_and_a_restart_shows_no_ghosts(tmp_path: Path) -> None:
    first = _run(tmp_path, tmp_path / "first.out")
    try:
        url, headers = _api(tmp_path / "first.out", first)
        time.sleep(2)
        old = httpx.get(f"{url}/v1/records?kind=overdue", headers=headers, timeout=10).json()["items"]
        assert old
    finally:
        _stopped_within(first, signal.SIGINT, group=True, seconds=5)  # Ctrl-C in the terminal
    text = (tmp_path / "first.out").read_text()
    assert first.returncode == 0 and re.search(r"stopped in \d\.\ds", text), text[-2000:]
    logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    assert not [name for name, t in logs.items() if "ERROR" in t], {
        n: t[-1500:] for n, t in logs.items() if "ERROR" in t
    }

    restarted = time.time()
    second = _run(tmp_path, tmp_path / "second.out")  # the same workdir: a fresh store, nothing of the last run
    try:
        url, headers = _api(tmp_path / "second.out", second)
        now = httpx.get(f"{url}/v1/records?limit=1000", headers=headers, timeout=10).json()["items"]
        assert now and not {r["id"] for r in old} & {r["id"] for r in now}
        cases = {r["case_id"] for r in now}
        for case_id in list(cases)[:5]:  # case numbers repeat from run to run: the documents are this run's
            doc = httpx.get(f"{url}/v1/cases/{case_id}", headers=headers, timeout=10).json()
            assert parse_instant(doc["submitted_at"]) >= restarted - 5, doc
    finally:
        _stopped_within(second, signal.SIGTERM, group=False, seconds=5)  # as a service manager stops it
    assert second.returncode == 0
