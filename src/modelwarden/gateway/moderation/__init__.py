"""Moderation cascade: offline rules, optional MiniLM exemplars, upstream Llama Guard / OpenAI-style
moderation; per-tier decisions with a fail policy per category; windowed streaming moderation.

Reference: docs/reference/gateway.md §6 (taxonomies, how to call the classifiers), §7 (offline classifiers),
§11.6–11.8 (streaming, fail policy, one classifier interface).
"""

from modelwarden.gateway.moderation.base import Classification, Classifier, Decision, Hit, decide

__all__ = ["Classification", "Classifier", "Decision", "Hit", "decide"]
