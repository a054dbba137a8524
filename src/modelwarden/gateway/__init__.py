"""`modelwarden gateway`: structured access for open-weight models.

An OpenAI-compatible proxy in front of vLLM / llama.cpp / Ollama / TGI upstreams that adds what only
API-served models have had: identities with verification state, trust tiers, per-tier policy,
moderation, misuse escalation, revocation, a tamper-evident audit log and incident bundles
(reference: docs/reference/gateway.md, design notes §11).

It governs *this deployment only*: anyone holding the open weights can run the model without it.
"""
