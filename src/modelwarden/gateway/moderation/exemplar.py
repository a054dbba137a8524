"""Optional embedding-exemplar classifier: MiniLM sentence embeddings + nearest labelled exemplars.

Reference: docs/reference/gateway.md §7.1 (the model, its cost, and the caveat that it needs exemplars and a
head), §11.8 (run off the event loop, batch concurrent requests into one embedding call).

Head: for each code c, s_c = the best cosine similarity to c's exemplars and b = the best similarity
to a benign exemplar. score_c = ramp(s_c; 0.40→0.70) × ramp(s_c − b; 0→0.15), and 0 unless c is
(within 0.03 of) the nearest category: a text must be close to harmful exemplars, closer to them
than to anything benign, and closest to that category. The ramps were set on a held-out
set and measured on another (tests/gateway/test_moderation_embeddings.py; docs/gateway.md).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from modelwarden.errors import GatewayMisconfigured
from modelwarden.gateway.files import MAX_CONFIG_BYTES, parse_yaml, read_text
from modelwarden.gateway.hazards import is_code
from modelwarden.gateway.moderation.base import Classification, Hit, Role
from modelwarden.gateway.moderation.minilm import F32, MiniLM

SIM_LOW, SIM_HIGH = 0.40, 0.70
MARGIN = 0.15
TIE = 0.03


@cache
def _default_exemplars() -> dict[str, Any]:
    text = resources.files("modelwarden.gateway").joinpath("data/exemplars.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def load_exemplars(path: Path | None) -> dict[str, Any]:
    if path is None:
        return _default_exemplars()
    data = parse_yaml(read_text(path, what="exemplars file", limit=MAX_CONFIG_BYTES), source=path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict) or not data.get("benign"):
        raise GatewayMisconfigured("expected `benign:` and `categories:` lists", path=path)
    bad = [c for c in data["categories"] if not is_code(c)]
    if bad:
        raise GatewayMisconfigured(f"unknown hazard codes {bad}", path=path)
    return data


def _ramp(x: F32, lo: float, hi: float) -> F32:
    out: F32 = np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return out


class ExemplarClassifier:
    name = "minilm-exemplar"

    def __init__(
        self,
        model: MiniLM | None = None,
        *,
        exemplars: dict[str, Any] | None = None,
        timeout_s: float = 2.0,
        batch_window_ms: float = 2.0,
    ) -> None:
        self.model = model or MiniLM()
        data = exemplars or _default_exemplars()
        self.codes = [c for c in data["categories"] if data["categories"][c]]
        self.covers = frozenset(self.codes)
        self.timeout_s = timeout_s
        self.window = batch_window_ms / 1000.0
        self.benign = self.model.embed(list(data["benign"]))
        self.centres = {c: self.model.embed(list(data["categories"][c])) for c in self.codes}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mw-minilm")
        self._pending: list[tuple[str, asyncio.Future[dict[str, float]]]] = []
        self._flush: asyncio.TimerHandle | None = None

    def scores_sync(self, texts: list[str]) -> list[dict[str, float]]:
        """Scores per text; long texts are cut into overlapping 256-token windows (max over windows)."""
        rows = self.model.tokenize(texts, windows=True)
        emb = self.model.forward([ids for ids, _ in rows]) if rows else np.zeros((0, 384), np.float32)
        owner = np.array([i for _, i in rows])
        benign = (emb @ self.benign.T).max(1)
        sims = {c: (emb @ ex.T).max(1) for c, ex in self.centres.items()}
        top = np.max(np.stack(list(sims.values())), axis=0) if sims else benign
        per_code = {}
        for c, s in sims.items():
            # Only the nearest category (and near-ties) score: an adult sex story sits close to S4's
            # exemplars too, but closer to S12's, and must not read as child exploitation.
            tie = (s >= top - TIE).astype(np.float32)
            per_code[c] = _ramp(s, SIM_LOW, SIM_HIGH) * _ramp(s - benign, 0.0, MARGIN) * tie
        out: list[dict[str, float]] = []
        for i in range(len(texts)):
            sel = owner == i
            out.append(
                {c: float(v[sel].max()) for c, v in per_code.items() if sel.any() and v[sel].max() > 0}
            )
        return out

    async def classify(self, text: str, *, role: Role, context: str | None = None) -> Classification:
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, float]] = loop.create_future()
        self._pending.append((text, fut))
        # Requests arriving within the batch window share one forward pass.
        if self._flush is None:
            self._flush = loop.call_later(self.window, self._run_batch)
        scores = await fut
        hits = [Hit(c, s, f"exemplar:{c}") for c, s in scores.items() if s >= 0.5]
        return Classification(
            self.name, self.covers, scores, hits, latency_ms=(time.perf_counter() - t0) * 1000
        )

    def _run_batch(self) -> None:
        self._flush = None
        batch, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self._executor, self.scores_sync, [t for t, _ in batch])

        def done(f: asyncio.Future[list[dict[str, float]]]) -> None:
            exc = f.exception()
            for i, (_, fut) in enumerate(batch):
                if fut.done():
                    continue
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(f.result()[i])

        task.add_done_callback(done)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
