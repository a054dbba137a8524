"""Adapters for classifiers served over HTTP: a self-hosted Llama Guard behind an OpenAI-compatible
server (vLLM, Ollama, TGI), and OpenAI-style `/v1/moderations` endpoints.

Reference: docs/reference/gateway.md §6.3 (calling Llama Guard through the server's chat template: `[user]`
for prompt classification, `[user, assistant]` for responses, temperature 0, a few tokens; output
`safe` or `unsafe` + a line of S-codes, anything else is an error that triggers the fail policy),
§6.4 and §6.6 (OpenAI moderation response shape and the cross-walk into S-codes).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import aiohttp

from modelwarden.gateway.config import ClassifierEndpoint
from modelwarden.gateway.hazards import hazards
from modelwarden.gateway.moderation.base import Classification, Hit, Role

_CODE = re.compile(r"^S(?:[1-9]|1[0-4])$")
#: A partial cross-walk (§6.6) counts half: an adult-content score must not read as a sex crime.
PARTIAL_WEIGHT = 0.5


class _HttpClassifier:
    name = "remote"
    covers: frozenset[str] = frozenset()

    def __init__(self, cfg: ClassifierEndpoint) -> None:
        self.cfg = cfg
        self.timeout_s = cfg.timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        if self.cfg.api_key_env and os.environ.get(self.cfg.api_key_env):
            h["authorization"] = f"Bearer {os.environ[self.cfg.api_key_env]}"
        return h

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_s),
                connector=aiohttp.TCPConnector(limit=64),
            )
        url = self.cfg.url.rstrip("/") + path
        async with self._session.post(url, data=json.dumps(body), headers=self._headers()) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status} from {url}")
            return json.loads(raw)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"timeout after {self.timeout_s:g}s"
        return f"{exc.__class__.__name__}: {exc}"[:200]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def parse_llamaguard(answer: str) -> list[str] | None:
    """`safe` → []; `unsafe\\nS1,S10` → ["S1", "S10"]; anything else → None (an error)."""
    lines = [ln.strip() for ln in answer.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    verdict = lines[0].lower()
    if verdict == "safe" and len(lines) == 1:
        return []
    if verdict != "unsafe" or len(lines) < 2:
        return None
    found = [c.strip().upper() for c in lines[1].split(",") if c.strip()]
    if not found or not all(_CODE.match(c) for c in found):
        return None
    return found


class LlamaGuardClassifier(_HttpClassifier):
    name = "llamaguard"

    def __init__(self, cfg: ClassifierEndpoint) -> None:
        super().__init__(cfg)
        self.covers = frozenset(c for c in hazards() if c.startswith("S"))

    async def classify(self, text: str, *, role: Role, context: str | None = None) -> Classification:
        t0 = time.perf_counter()
        if role == "user":
            messages = [{"role": "user", "content": text}]
        else:
            messages = [{"role": "user", "content": context or ""}, {"role": "assistant", "content": text}]
        body = {"model": self.cfg.model, "messages": messages, "temperature": 0, "max_tokens": 20}
        res = Classification(self.name, self.covers)
        try:
            data = await self._post("/chat/completions", body)
            answer = data["choices"][0]["message"]["content"] or ""
        except Exception as exc:  # timeout, connection, HTTP status, shape
            res.error = self._describe(exc)
        else:
            found = parse_llamaguard(answer)
            if found is None:
                res.error = f"unparseable Llama Guard answer {answer[:60]!r}"
            else:
                res.scores = dict.fromkeys(found, 1.0)
                res.hits = [Hit(c, 1.0, f"llamaguard:{c}") for c in found]
        res.latency_ms = (time.perf_counter() - t0) * 1000
        return res


class OpenAIModerationClassifier(_HttpClassifier):
    name = "openai-moderation"

    def __init__(self, cfg: ClassifierEndpoint) -> None:
        super().__init__(cfg)
        self.mapping: dict[str, list[tuple[str, float]]] = {}
        for code, hz in hazards().items():
            for m in hz.openai:
                self.mapping.setdefault(m.category, []).append((code, PARTIAL_WEIGHT if m.partial else 1.0))
        self.covers = frozenset(c for c, hz in hazards().items() if hz.openai)

    async def classify(self, text: str, *, role: Role, context: str | None = None) -> Classification:
        t0 = time.perf_counter()
        res = Classification(self.name, self.covers)
        try:
            data = await self._post("/moderations", {"model": self.cfg.model, "input": text})
            result = data["results"][0]
            cat_scores: dict[str, Any] = result.get("category_scores") or {}
            flagged: dict[str, Any] = result.get("categories") or {}
        except Exception as exc:
            res.error = self._describe(exc)
        else:
            for category, value in cat_scores.items():
                score = (
                    float(value)
                    if isinstance(value, int | float)
                    else (1.0 if flagged.get(category) else 0.0)
                )
                for code, weight in self.mapping.get(category, []):
                    s = score * weight
                    if s > res.scores.get(code, 0.0):
                        res.scores[code] = s
            res.hits = [Hit(c, s, f"openai:{c}") for c, s in res.scores.items() if s >= 0.5]
        res.latency_ms = (time.perf_counter() - t0) * 1000
        return res
