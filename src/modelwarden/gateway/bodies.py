"""What the gateway reads from OpenAI-shaped bodies: the endpoint table, strict JSON parsing, the
text to moderate and reserve for, and the text and usage in upstream answers.

Every function here takes untrusted input (the client's body, or a model server's answer) and
never raises on a wrong shape: it returns a shape error for the client's body, and skips what it
cannot read in an answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """One /v1 endpoint, as the pipeline treats it."""

    #: Name in audit entries (`chat.completions`, ...).
    name: str
    #: The only HTTP method served.
    method: str
    #: Path on the model server (after its /v1); None: the gateway answers itself.
    upstream_path: str | None
    #: Body field holding the input (None: the endpoint takes no body).
    input_field: str | None
    #: Names the completion budget goes by; every one is set to the one clamped limit, because
    #: model servers read different ones (llama.cpp only `max_tokens`, OpenAI's newer models only
    #: `max_completion_tokens`). Empty: the endpoint generates no text.
    budget_fields: tuple[str, ...] = ()
    #: The client may ask for a server-sent-event stream.
    streams: bool = False
    #: `model` is required and must be routed to an upstream.
    needs_model: bool = True


ENDPOINTS: dict[str, Endpoint] = {
    "/v1/chat/completions": Endpoint(
        "chat.completions",
        "POST",
        "/chat/completions",
        "messages",
        ("max_tokens", "max_completion_tokens"),
        streams=True,
    ),
    "/v1/completions": Endpoint(
        "completions", "POST", "/completions", "prompt", ("max_tokens",), streams=True
    ),
    "/v1/embeddings": Endpoint("embeddings", "POST", "/embeddings", "input"),
    "/v1/moderations": Endpoint("moderations", "POST", None, "input", needs_model=False),
    "/v1/models": Endpoint("models", "GET", None, None, needs_model=False),
}


class BadJSON(ValueError):
    """The body is not one strict JSON object; the message says why, for the client."""


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); Python accepts them, a model server would not.
    raise BadJSON(f"`{name}` is not a JSON value")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or `BadJSON`: invalid UTF-8, invalid JSON, non-JSON constants,
    integers too long to convert, nesting too deep for the parser, or a top level that is not an
    object."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except BadJSON:
        raise
    except RecursionError:
        raise BadJSON("The request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        # json.JSONDecodeError, and ValueError for integers past the interpreter's digit limit.
        raise BadJSON("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BadJSON("The request body must be a JSON object.")
    return value


def estimate_tokens(text: str, messages: int = 0) -> int:
    """Token estimate: UTF-8 bytes / 3, rounded up, + 4 per message.

    English runs ~4 characters per token, so this over-reserves; settlement refunds the difference.
    """
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3) + 4 * messages


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, {"type": "image_url"}]
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _tool_arguments(holder: dict[str, Any]) -> list[str]:
    calls = holder.get("tool_calls")
    if not isinstance(calls, list):
        return []
    return [
        str(call["function"].get("arguments") or "")
        for call in calls
        if isinstance(call, dict) and isinstance(call.get("function"), dict)
    ]


def token_ids(value: Any) -> int | None:
    """How many token ids `value` holds (a list of ints, or a list of lists of ints), else None."""
    if not isinstance(value, list) or not value:
        return None
    lists = [value] if all(isinstance(v, int) for v in value) else value
    if not all(isinstance(t, list) and all(isinstance(i, int) for i in t) for t in lists):
        return None
    return sum(len(t) for t in lists)


@dataclass(frozen=True)
class Input:
    """The input of a request, read from its body."""

    #: All input text, joined (what is moderated and hashed).
    text: str
    #: The separate inputs (one per message or list item), for endpoints that answer per item.
    items: tuple[str, ...]
    #: Messages or list items, for the per-message part of the estimate.
    count: int
    #: Token ids sent instead of text (embeddings only), reserved by their number.
    ids: int = 0


def read_input(endpoint: Endpoint, body: dict[str, Any]) -> Input | str:
    """The input, or an error message for the client when the body has the wrong shape."""
    if endpoint.name == "chat.completions":
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            return "`messages` must be a non-empty list of message objects"
        parts: list[str] = []
        for m in msgs:
            parts.append(_text_of(m.get("content")))
            parts += _tool_arguments(m)
        kept = tuple(p for p in parts if p)
        return Input("\n".join(kept), kept, len(msgs))
    key = endpoint.input_field or "input"
    value = body.get(key)
    if isinstance(value, str):
        return Input(value, (value,), 1)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return Input("\n".join(value), tuple(value), len(value))
        ids = token_ids(value)
        if ids is not None:
            # Token ids cannot be read as text, so they cannot be moderated: a prompt sent as ids
            # would pass every classifier. Embeddings (whose output is a vector, and which clients
            # such as LangChain send as ids) are accepted and reserved by their length.
            if endpoint.name != "embeddings":
                return f"token-id prompts cannot be moderated here: send `{key}` as text"
            return Input("", (), len(value), ids)
    return f"`{key}` must be a string or a list of strings"


def output_text(endpoint: str, data: dict[str, Any]) -> str:
    """The generated text of a whole (non-streamed) answer."""
    out: list[str] = []
    choices = data.get("choices")
    for ch in choices if isinstance(choices, list) else []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            msg = ch.get("message")
            if isinstance(msg, dict):
                out.append(_text_of(msg.get("content")))
                out += _tool_arguments(msg)
        elif isinstance(ch.get("text"), str):
            out.append(ch["text"])
    return "\n".join(t for t in out if t)


def delta_text(endpoint: str, chunk: dict[str, Any]) -> str:
    """The generated text of one streamed chunk."""
    out: list[str] = []
    choices = chunk.get("choices")
    for ch in choices if isinstance(choices, list) else []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            d = ch.get("delta")
            if isinstance(d, dict):
                if isinstance(d.get("content"), str):
                    out.append(d["content"])
                out += _tool_arguments(d)
        elif isinstance(ch.get("text"), str):
            out.append(ch["text"])
    return "".join(out)


def usage_count(usage: Any, name: str) -> int | None:
    """A non-negative integer count from an upstream `usage` object, else None (absent or junk)."""
    if not isinstance(usage, dict):
        return None
    v = usage.get(name)
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53:
        return v
    return None
