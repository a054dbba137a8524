from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelwarden.cli.serve import registry_app
from modelwarden.registry import Registry
from modelwarden.web import Settings
from tests.registry.factory import HOSTILE, corpus, make_assessment

TOKEN = "test-token-0123456789abcdef"


def fill(reg: Registry) -> dict[str, int]:
    """A small varied registry: two versions of one model, ordinary and hostile models."""
    rng = random.Random(2026)
    ids = {
        "v1": reg.save(make_assessment(rng, name="acme/demo-model", version="1.0", findings=0)),
        "v2": reg.save(make_assessment(rng, name="acme/demo-model", version="2.0", findings=3)),
    }
    for a in corpus(7, 20):
        reg.save(a)
    for i, evil in enumerate(HOSTILE):
        ids[f"hostile{i}"] = reg.save(make_assessment(rng, hostile=True, hostile_text=evil, findings=2))
    return ids


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    yield reg
    reg.close()


@pytest.fixture
def make_client(registry: Registry) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**settings: object) -> TestClient:
        # A host the server answers for by default (TestClient's own "testserver" is refused).
        client = TestClient(
            registry_app(registry, Settings(**settings)),  # type: ignore[arg-type]
            raise_server_exceptions=False,
            base_url="http://localhost",
        )
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
