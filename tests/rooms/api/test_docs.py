"""The API's documentation page works with no network: every asset it loads is served by the app itself."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from support.data import KEYS

from api.app import create_api
from api.auth import Keyring
from store.sqlite import SqliteStore


def test_docs_load_only_local_assets_and_offer_the_bearer_key(tmp_path: Path) -> None:
    app = create_api(SqliteStore(tmp_path / "m.db"), Keyring(list(KEYS.values())), bands=[0, 5])
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
        for url in urls:
            assert client.get(url).status_code == 200, url
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
        assert schema["security"] == [{"apiKey": []}]
