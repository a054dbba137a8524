"""Property-based API tests: schemathesis generates requests from the OpenAPI document (valid and
invalid ones) and checks every response against it — no 5xx, only documented statuses, bodies that
match their schemas, schema-valid input accepted and invalid input rejected. Bounded: 40 examples per
operation (about 360 requests), no deadline, derandomised so a failure reproduces."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings

from modelwarden.registry import Registry
from modelwarden.web import Settings, create_app
from tests.registry.factory import corpus, make_assessment
from tests.web.conftest import TOKEN

# The schema is loaded when the module is collected, so the app (and its database) exist by then;
# the folder goes when the interpreter exits.
_WORKDIR = tempfile.TemporaryDirectory(prefix="mw-schemathesis-")


def _app(folder: Path) -> FastAPI:
    reg = Registry(f"sqlite:///{folder / 'registry.sqlite3'}")
    rng = random.Random(1)
    reg.save(make_assessment(rng, name="acme/m", version="1"))
    reg.save(make_assessment(rng, name="acme/m", version="2"))
    for a in corpus(3, 10):
        reg.save(a)
    allowed = (folder / "models").resolve()
    allowed.mkdir()
    # schemathesis calls the app as "testserver": a host it is told to answer for.
    settings = Settings(
        token=TOKEN, submit_roots=(allowed,), max_body_bytes=2_000_000, allowed_hosts=("testserver",)
    )
    return create_app(reg, settings=settings)


schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _app(Path(_WORKDIR.name)))


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    # With the token, so write routes are exercised beyond their 401.
    excluded = []
    if case.method == "POST" and case.path.endswith("/attestations"):
        # A signed envelope is a string no JSON schema can describe: a schema-valid one is refused (422).
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded)
