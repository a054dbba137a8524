"""The moderation cascade: rules first, then the configured model classifiers, each with a timeout.

Reference: docs/reference/gateway.md §7.2 (rules → MiniLM → upstream guard), §11.7 (fail policy per category:
a classifier that times out or errors leaves its categories unevaluated, and each tier says per
category whether that blocks or passes), §11.8 (off the event loop).

The rules are microseconds on short text and run inline; longer inputs go to a thread so one huge
prompt cannot stall every other request on the loop. If the rules already block, the slower
classifiers are skipped (a cascade, not a vote).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modelwarden.gateway.config import ModerationConfig
from modelwarden.gateway.moderation.base import Classification, Classifier, Decision, Role, decide
from modelwarden.gateway.moderation.rules import RuleClassifier
from modelwarden.gateway.tiers import ModerationPolicy


class Cascade:
    def __init__(
        self,
        rules: RuleClassifier | None,
        others: Sequence[Classifier] = (),
        *,
        inline_chars: int = 512,
    ) -> None:
        self.rules = rules
        self.others = list(others)
        self.inline_chars = inline_chars

    @classmethod
    def from_config(cls, cfg: ModerationConfig) -> Cascade:
        from modelwarden.gateway.moderation.remote import LlamaGuardClassifier, OpenAIModerationClassifier

        others: list[Classifier] = []
        if cfg.embeddings.enabled:
            from modelwarden.gateway.moderation.exemplar import ExemplarClassifier, load_exemplars
            from modelwarden.gateway.moderation.minilm import MiniLM

            others.append(
                ExemplarClassifier(
                    MiniLM(cfg.embeddings.model_dir),
                    exemplars=load_exemplars(None),
                    timeout_s=cfg.embeddings.timeout_s,
                    batch_window_ms=cfg.embeddings.batch_window_ms,
                )
            )
        if cfg.llamaguard:
            others.append(LlamaGuardClassifier(cfg.llamaguard))
        if cfg.openai_moderation:
            others.append(OpenAIModerationClassifier(cfg.openai_moderation))
        return cls(RuleClassifier() if cfg.rules else None, others, inline_chars=cfg.inline_chars)

    @property
    def names(self) -> list[str]:
        return ([self.rules.name] if self.rules else []) + [c.name for c in self.others]

    async def check(
        self, text: str, *, role: Role, policy: ModerationPolicy, context: str | None = None
    ) -> Decision:
        results: list[Classification] = []
        if self.rules is not None:
            if len(text) <= self.inline_chars:
                results.append(self.rules.classify_sync(text, role=role))
            else:
                results.append(await asyncio.to_thread(self.rules.classify_sync, text, role=role))
            first = decide(policy, results)
            if first.action == "block" or not self.others:
                return first
        # Skip classifiers whose every category this tier allows anyway.
        wanted = [c for c in self.others if any(policy.for_code(code).action != "allow" for code in c.covers)]
        if wanted:
            results += await asyncio.gather(*(self._run(c, text, role, context) for c in wanted))
        return decide(policy, results)

    @staticmethod
    async def _run(c: Classifier, text: str, role: Role, context: str | None) -> Classification:
        try:
            return await asyncio.wait_for(c.classify(text, role=role, context=context), c.timeout_s)
        except TimeoutError:
            return Classification(c.name, c.covers, error=f"timeout after {c.timeout_s:g}s")
        except Exception as exc:  # a classifier bug must not take the request path down
            return Classification(c.name, c.covers, error=f"{exc.__class__.__name__}: {exc}"[:200])

    async def close(self) -> None:
        for c in self.others:
            await c.close()
