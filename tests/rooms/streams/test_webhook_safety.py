"""Webhooks never into the monitor's own network, and their secrets never in clear at rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.data import KEYS

from api.app import create_api
from api.auth import ApiKey, Keyring, hash_key
from rules.errors import BadInput
from store.sqlite import SqliteStore
from streams.subscriptions import SubscriptionLog
from streams.webhook_guard import GuardedResolver, check_url, networks, refused_literal
from streams.webhook_secrets import SecretBox, new_key

ADMIN = ApiKey(name="admin", sha256=hash_key("admin-key"), role="admin")
AS_ADMIN = {"Authorization": "Bearer admin-key"}
SSRF = [
    "http://127.0.0.1/hook", "http://127.1/hook", "http://2130706433/hook", "http://0x7f000001/hook",
    "http://0177.0.0.1/hook", "http://localhost:8080/hook", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook",
    "http://192.168.0.10/hook", "http://172.16.5.4/hook", "https://[fe80::1]/hook", "http://[::]/hook",
]  # fmt: skip


@pytest.mark.parametrize("url", SSRF)
def test_every_spelling_of_an_inside_address_is_refused(url: str) -> None:
    with pytest.raises(BadInput, match="inside the monitor's network"):
        check_url(url, [])


def test_public_receivers_and_allowed_networks_pass() -> None:
    check_url("https://93.184.215.14/hook", [])  # a public address literal: no DNS needed
    check_url("http://127.0.0.1:9000/hook", networks(["127.0.0.0/8"]))
    check_url("http://10.1.2.3/hook", networks(["10.0.0.0/8"]))
    assert refused_literal("http://127.0.0.1/x", []) is not None
    assert refused_literal("http://127.0.0.1/x", networks(["127.0.0.0/8"])) is None
    assert refused_literal("http://example.org/x", []) is None  # names are the resolver's to judge


def test_the_deliverers_resolver_refuses_a_name_that_points_inside() -> None:
    async def go() -> None:
        resolver = GuardedResolver([])
        try:
            with pytest.raises(OSError, match="loopback"):
                await resolver.resolve("localhost", 80)
            allowed = GuardedResolver(networks(["127.0.0.0/8", "::1/128"]))
            assert await allowed.resolve("localhost", 80)
            await allowed.close()
        finally:
            await resolver.close()

    asyncio.run(go())


def test_secrets_are_sealed_and_open_only_with_their_key() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed and box.open(sealed) == "whsec_abc"
    with pytest.raises(BadInput, match="another key"):
        SecretBox(new_key()).open(sealed, "sub_1")
    assert box.open("whsec_legacy", "sub_old") == "whsec_legacy"  # stored before sealing: kept working
    with pytest.raises(BadInput, match="not a key"):
        SecretBox("too-short")


def test_the_api_refuses_inside_urls_and_needs_the_key(tmp_path: Path) -> None:
    unreachable = "127.0.0.1:1"  # refusals happen before Kafka is asked anything
    sealed = SubscriptionLog(unreachable, "subs", "records", box=SecretBox(new_key()), allow=[])
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring([*KEYS.values(), ADMIN]), bands=[0, 5, 15, 30],
                     subscriptions=sealed)  # fmt: skip
    with TestClient(app) as c:
        for url in ("http://169.254.169.254/latest", "http://2130706433/", "http://[::1]:8080/x"):
            res = c.post("/v1/subscriptions", json={"url": url}, headers=AS_ADMIN)
            assert res.status_code == 422 and "inside the monitor's network" in res.json()["detail"], res.text
    keyless = SubscriptionLog(unreachable, "subs", "records", box=None)
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring([*KEYS.values(), ADMIN]), bands=[0, 5, 15, 30],
                     subscriptions=keyless)  # fmt: skip
    with TestClient(app) as c:
        res = c.post("/v1/subscriptions", json={"url": "https://93.184.215.14/hook"}, headers=AS_ADMIN)
        assert res.status_code == 503 and "APPROVAL_MONITOR_WEBHOOK_SECRET_KEY" in res.json()["detail"]
