"""Authentication when its dependencies fail: a lost Redis falls back to the database epoch (so a
revocation still arrives within `revocation_poll_s`), a broken database fails closed with a clear
503, never a bare 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modelwarden import migrations
from modelwarden.db import make_engine
from modelwarden.gateway.auth import Authenticated, Authenticator, AuthFailure, DbEpoch, RedisEpoch
from modelwarden.gateway.store import Store
from modelwarden.gateway.tiers import default_tiers
from tests.support.servers import free_port


def test_revocation_still_arrives_when_redis_is_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrations.upgrade(engine)
    store = Store(engine, default_tiers())
    ident = store.create_identity("alice")
    record, key = store.create_key(ident.id)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"

    async def run() -> None:
        epochs = RedisEpoch(dead_redis, engine, poll_s=0.05)
        await epochs.start()
        auth = Authenticator(store, default_tiers(), epochs)
        try:
            assert isinstance(await auth.authenticate(f"Bearer {key}"), Authenticated)
            store.revoke_key(record.id, reason="leaked")  # the Redis bump is lost: Redis is down
            await asyncio.sleep(0.3)  # a few database polls
            failure = await auth.authenticate(f"Bearer {key}")
            assert isinstance(failure, AuthFailure) and failure.code == "key_revoked"
        finally:
            await epochs.close()

    asyncio.run(run())


def test_broken_database_fails_closed_with_503(tmp_path: Path) -> None:
    good = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrations.upgrade(good)
    store = Store(good, default_tiers())
    ident = store.create_identity("alice")
    _, key = store.create_key(ident.id)
    # The same key checked against a database without the gateway's tables (a wrong or lost file).
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    async def run() -> None:
        auth = Authenticator(Store(broken, default_tiers()), default_tiers(), DbEpoch(broken))
        failure = await auth.authenticate(f"Bearer {key}")
        assert isinstance(failure, AuthFailure)
        assert (failure.status, failure.code) == (503, "auth_unavailable")
        # Missing or malformed keys are still answered without touching the database.
        missing = await auth.authenticate(None)
        assert isinstance(missing, AuthFailure) and missing.code == "missing_api_key"

    asyncio.run(run())
