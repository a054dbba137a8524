"""Windowed moderation of streamed output (docs/reference/gateway.md §11.6).

Output text accumulates; every `every_chars` new characters the last `window_chars` are classified,
so consecutive windows overlap by window − every characters and a phrase split across SSE chunks
(LiteLLM #41611) is still seen whole. With hold-back, chunks are released to the client only after
the window containing them passed, delaying the client by at most `every_chars` of text; a trip
therefore never shows the tripping text.
"""

from __future__ import annotations

from modelwarden.gateway.config import StreamModeration
from modelwarden.gateway.moderation.base import Decision
from modelwarden.gateway.moderation.cascade import Cascade
from modelwarden.gateway.tiers import ModerationPolicy


class StreamModerator:
    def __init__(
        self, cascade: Cascade, policy: ModerationPolicy, cfg: StreamModeration, *, context: str | None
    ) -> None:
        self.cascade = cascade
        self.policy = policy
        self.cfg = cfg
        self.context = context
        self.text: list[str] = []
        self.length = 0
        self.checked = 0
        self.checks = 0
        self.flagged: set[str] = set()
        self.decisions: list[Decision] = []

    def feed(self, delta: str) -> bool:
        """Add output text; True when a check is due."""
        if delta:
            self.text.append(delta)
            self.length += len(delta)
        return self.length - self.checked >= self.cfg.every_chars

    @property
    def pending(self) -> bool:
        return self.length > self.checked

    async def check(self) -> Decision:
        full = "".join(self.text)
        self.text = [full]
        window = full[max(0, len(full) - self.cfg.window_chars) :]
        self.checked = len(full)
        self.checks += 1
        d = await self.cascade.check(window, role="assistant", policy=self.policy, context=self.context)
        self.flagged |= set(d.flagged)
        self.decisions.append(d)
        return d
