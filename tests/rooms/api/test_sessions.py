"""The page's sign-in: a key exchanged for an HTTP-only cookie that expires, names no key, and cannot be used
cross-site to act."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from support.data import KEYS

from api.app import create_api
from api.auth import Keyring, hash_key
from api.sessions import COOKIE, Sessions
from store.sqlite import SqliteStore


def _client(tmp_path: Path, keys: list, sessions: Sessions) -> TestClient:
    return TestClient(create_api(SqliteStore(tmp_path / "m.db"), Keyring(keys), bands=[0, 5, 15, 30],
                                 sessions=sessions))  # fmt: skip


def test_a_session_cookie_signs_the_page_in_and_out(tmp_path: Path) -> None:
    client = _client(tmp_path, list(KEYS.values()), Sessions(b"k" * 32))
    assert client.get("/v1/me").status_code == 401
    bad = client.post("/v1/session", json={"key": "nope"})
    assert bad.status_code == 401 and "密钥无效" in bad.json()["detail"]
    res = client.post("/v1/session", json={"key": "market-key"})
    assert res.status_code == 200 and res.json()["role"] == "agency" and res.json()["scope"] == "city/market"
    header = res.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=28800" in header
    token = client.cookies[COOKIE]
    assert "market-key" not in token and token.startswith(hash_key("market-key"))
    assert client.get("/v1/me").json()["name"] == "market bureau"
    # Changing anything needs the page's own header: another site cannot make a browser send it.
    body = {"record_id": "r1", "reason": "x"}
    assert client.post("/v1/appeals", json=body).status_code == 403
    assert client.post("/v1/appeals", json=body, headers={"X-Requested-With": "approval-monitor"}).status_code == 503
    assert client.delete("/v1/session").status_code == 204
    assert COOKIE not in client.cookies and client.get("/v1/me").status_code == 401


def test_forged_expired_and_revoked_sessions_are_refused(tmp_path: Path) -> None:
    sessions = Sessions(b"k" * 32, hours=1)
    digest = hash_key("sup-key")
    token, _ = sessions.issue(digest, 1_000)
    assert sessions.check(token, 1_000 + 3599) == digest and sessions.check(token, 1_000 + 3600) is None
    assert sessions.check(token.replace(digest, hash_key("market-key")), 2_000) is None  # another key's name
    assert Sessions(b"x" * 32).check(token, 2_000) is None  # another API's secret
    for junk in ("", "a.b", "a.b.c.d", f"{digest}.soon.{'0' * 64}"):
        assert sessions.check(junk, 2_000) is None
    # A key taken out of the configuration ends its sessions at once.
    live = Sessions(b"k" * 32)
    client = _client(tmp_path, list(KEYS.values()), live)
    assert client.post("/v1/session", json={"key": "sup-key"}).status_code == 200
    without = _client(tmp_path, [KEYS["market"]], live)
    without.cookies.set(COOKIE, client.cookies[COOKIE])
    assert without.get("/v1/me").status_code == 401
