"""Fixtures every room's tests share; the helpers behind them live in ``support``."""

from __future__ import annotations

# First, before any module of the engine: the compiled core is engaged when its build is fresh
# (approval_monitor.compiled_core), so the suite tests what replay runs.
import approval_monitor  # noqa: F401  # isort: skip

from collections.abc import Iterator

import pytest
from support import SAMPLE_PACK, ElasticNode, elasticsearch, kafka_broker

from approval_monitor.packs import load_pack
from rules.pack import RulePack


@pytest.fixture(scope="session")
def sample_pack() -> RulePack:
    return load_pack(SAMPLE_PACK)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Real Apache Kafka for the whole session."""
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def elastic_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ElasticNode]:
    """Elasticsearch for the whole session: ELASTICSEARCH_URL, or one node started once from its jars."""
    with elasticsearch(tmp_path_factory.mktemp("elasticsearch")) as node:
        yield node


@pytest.fixture(scope="session")
def elastic_url(elastic_node: ElasticNode) -> str:
    return elastic_node.url
