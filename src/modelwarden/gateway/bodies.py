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
from functools import cache
from importlib import resources
from typing import Any

import yaml


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


@cache
def forwarded_fields() -> dict[str, frozenset[str]]:
    """Per endpoint name, the top-level request fields the gateway accepts and forwards
    (data/request_fields.yaml; why: docs/gateway.md "What is forwarded")."""
    text = resources.files("modelwarden.gateway").joinpath("data/request_fields.yaml").read_text("utf-8")
    return {name: frozenset(fields) for name, fields in yaml.safe_load(text)["endpoints"].items()}


def unknown_fields(endpoint: Endpoint, body: dict[str, Any]) -> list[str]:
    """The body's top-level fields the endpoint does not forward (empty: all known)."""
    known = forwarded_fields().get(endpoint.name, frozenset())
    return [k for k in body if k not in known]


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


#: Keys whose values are binary media the text classifiers cannot read.
_MEDIA = frozenset({"image_url", "input_audio", "file"})
#: In answers, also the keys that are structure rather than generated text.
_NOT_GENERATED = _MEDIA | {"role", "type", "id", "tool_call_id", "detail"}
#: The roles a chat message may have: templates render the role into the prompt as written.
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _strings(value: Any, skip: frozenset[str] = _NOT_GENERATED) -> list[str]:
    """Every string in `value` (dict values, list items), skipping the `skip` keys. Iterative: a
    body nested as deep as the JSON parser allows must not overflow the stack here."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(reversed([x for k, x in v.items() if k not in skip]))
    return out


def _content_error(content: Any) -> str | None:
    # Content the gateway cannot read as text would reach the model unmoderated: refuse it.
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "message `content` must be a string, a list of content parts, or null"
    for part in content:
        if not isinstance(part, dict) or ("text" in part and not isinstance(part["text"], str)):
            return "each content part must be an object whose `text`, if any, is a string"
    return None


def _chat_input(body: dict[str, Any]) -> Input | str:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
        return "`messages` must be a non-empty list of message objects"
    parts: list[str] = []
    for m in msgs:
        if m.get("role") not in ROLES:
            return "message `role` must be one of " + ", ".join(sorted(ROLES))
        err = _content_error(m.get("content"))
        if err is not None:
            return err
        # Every string of the message but media, not only its content: chat templates render the
        # `name`, tool-call ids, names and arguments, and fields such as `reasoning_content`.
        parts += _strings({k: v for k, v in m.items() if k != "role"}, _MEDIA)
    # Tool and function definitions are rendered into the prompt too (as JSON, by most templates),
    # keys included: a property name is as much prompt text as a description.
    for key in ("tools", "functions"):
        if body.get(key) is not None:
            try:
                parts.append(json.dumps(body[key], ensure_ascii=False))
            except RecursionError:  # nested nearly as deep as the parser allows
                return f"`{key}` is nested too deeply"
    kept = tuple(p for p in parts if p)
    return Input("\n".join(kept), kept, len(msgs))


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
        return _chat_input(body)
    key = endpoint.input_field or "input"
    value = body.get(key)
    # Fill-in-the-middle: the model reads the suffix as much as the prompt.
    suffix = body.get("suffix") if endpoint.name == "completions" else None
    if suffix is not None and not isinstance(suffix, str):
        return "`suffix` must be a string"
    extra = (suffix,) if suffix else ()
    if isinstance(value, str):
        return Input("\n".join((value, *extra)), (value, *extra), 1)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return Input("\n".join((*value, *extra)), (*value, *extra), len(value))
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
    """The generated text of a whole (non-streamed) answer: for chat, every string of each message
    (content, `reasoning_content` of reasoning models, refusals, tool-call names and arguments),
    since the client reads all of it."""
    out: list[str] = []
    choices = data.get("choices")
    for ch in choices if isinstance(choices, list) else []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            msg = ch.get("message")
            if isinstance(msg, dict):
                out += _strings(msg)
        elif isinstance(ch.get("text"), str):
            out.append(ch["text"])
    return "\n".join(t for t in out if t)


def delta_text(endpoint: str, chunk: dict[str, Any]) -> str:
    """The generated text of one streamed chunk (for chat, every string of each delta)."""
    out: list[str] = []
    choices = chunk.get("choices")
    for ch in choices if isinstance(choices, list) else []:
        if not isinstance(ch, dict):
            continue
        if endpoint == "chat.completions":
            d = ch.get("delta")
            if isinstance(d, dict):
                out += _strings(d)
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
