"""The LLM gateway's pure parts (docs/contract.md, `POST /v1/chat/completions`), shared by
every Python target so that none writes them twice: where the upstream is, what is
forwarded, the caller's own completion id, the re-labelling of one upstream event, the 502
body, and an SSE reader. No HTTP client here: `gateway_async` (httpx) and `gateway_sync`
(requests) do the I/O with these.
"""

import json
import os
import secrets
from collections.abc import Iterable

from . import tokens

#: The environment variable holding the upstream's base URL (the manifest's `{upstream}`).
UPSTREAM_ENV = "MLAPI_UPSTREAM"
CHAT_PATH = "/v1/chat/completions"

#: The clients' connection pool, raised from their defaults (httpx 100 connections and 20
#: kept alive, requests 10 per host) to 256, the same for every target
#: (docs/methodology.md, "Gateway clients"); nothing else departs from the defaults.
POOL_CONNECTIONS = 256

SSE_MEDIA_TYPE = "text/event-stream"
DONE = tokens.DONE


class UpstreamError(Exception):
    """The upstream failed before the caller's answer started: the target answers 502."""


def chat_url() -> str:
    """`MLAPI_UPSTREAM` + the chat path. Read at the first gateway request, not at import,
    so the other endpoints serve without it."""
    base = os.environ.get(UPSTREAM_ENV, "").rstrip("/")
    if not base:
        raise UpstreamError(f"{UPSTREAM_ENV} is not set: start the target with the upstream's base URL")
    return base + CHAT_PATH


def forwarded_body(
    model: str,
    messages: Iterable[tuple[str, str]],
    stream: bool,
    max_tokens: int | None,
    max_completion_tokens: int | None,
    temperature: float | None,
) -> dict:
    """Exactly the validated fields (None: not given): each message as role and content
    only, and one token limit, `max_completion_tokens` winning over `max_tokens`."""
    body = {
        "model": model,
        "messages": [{"role": role, "content": content} for role, content in messages],
        "stream": stream,
    }
    limit = max_completion_tokens if max_completion_tokens is not None else max_tokens
    if limit is not None:
        body["max_tokens"] = limit
    if temperature is not None:
        body["temperature"] = temperature
    return body


def forwarded_from(req) -> dict:
    """`forwarded_body` of a request model read by attribute (pydantic, ninja, msgspec)."""
    return forwarded_body(
        req.model,
        ((m.role, m.content) for m in req.messages),
        req.stream,
        req.max_tokens,
        req.max_completion_tokens,
        req.temperature,
    )


def completion_id() -> str:
    """The target's own id for one completion, the same in every chunk."""
    return "chatcmpl-" + secrets.token_hex(12)


def is_done(data: str) -> bool:
    """The upstream's last event (surrounding whitespace allowed, as the Rust targets do)."""
    return data.strip() == DONE


def relabel(data: str, completion: str) -> str:
    """One upstream event's data with its `id` replaced, re-encoded compactly. Raises
    ValueError when the data is not a JSON object (the stream then ends without [DONE])."""
    chunk = json.loads(data)
    if not isinstance(chunk, dict):
        raise ValueError("upstream event data is not a JSON object")
    chunk["id"] = completion
    return json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))


def sse_event(data: str) -> str:
    return f"data: {data}\n\n"


def stream_head_problem(status: int, content_type: str | None) -> str | None:
    """Why an upstream's head cannot start a stream, or None."""
    if status != 200:
        return f"upstream answered {status}"
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != SSE_MEDIA_TYPE:
        return f"upstream answered content-type {content_type!r}, not {SSE_MEDIA_TYPE}"
    return None


def completion_body(status: int, content: bytes) -> dict:
    """A non-streaming upstream answer: its chat.completion object, or UpstreamError."""
    if status != 200:
        raise UpstreamError(f"upstream answered {status}")
    try:
        answer = json.loads(content)
    except ValueError as e:
        raise UpstreamError(f"upstream answer is not JSON: {e}") from e
    if not isinstance(answer, dict):
        raise UpstreamError("upstream answer is not a JSON object")
    return answer


def upstream_error(msg: str) -> dict:
    """The body of a 502."""
    return {"detail": [{"loc": ["upstream"], "msg": msg or "upstream failed", "type": "upstream_error"}]}


class SSEReader:
    """Incremental SSE parsing (the WHATWG rules the contract points to): fed the body as it
    arrives, in reads that may split a line or an event anywhere, it returns the `data` of
    each complete event. Lines end in `\\n`, `\\r\\n` or `\\r`; comments (`: ping`), other
    fields and events without data (or with empty data) are dropped; multi-line data is
    joined with `\\n`. Raises ValueError (UnicodeDecodeError) for data that is not UTF-8."""

    __slots__ = ("_partial", "_data", "_after_cr")

    def __init__(self):
        self._partial = b""
        self._data: list[str] = []
        # The last read ended in `\r`: a `\n` starting the next read belongs to it.
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = chunk[-1:] == b"\r"
        if self._partial:
            chunk, self._partial = self._partial + chunk, b""
        events = []
        # bytes.splitlines breaks at \n, \r and \r\n only, none of which occurs inside a
        # multi-byte UTF-8 sequence, so a line can be decoded on its own.
        for line in chunk.splitlines(keepends=True):
            if line[-1:] not in (b"\n", b"\r"):
                self._partial = line  # incomplete: the next read continues it
                break
            line = line.rstrip(b"\r\n")
            if not line:
                if self._data:
                    # An empty data buffer dispatches nothing (WHATWG), as no data at all.
                    data = "\n".join(self._data)
                    if data:
                        events.append(data)
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append((value[1:] if value[:1] == b" " else value).decode("utf-8"))
            elif line == b"data":
                self._data.append("")
        return events


class Relay:
    """One upstream stream turned into the caller's: fed the body as it arrives, it returns
    the data to send, each event re-labelled with this completion's own id, then `[DONE]`;
    after `[DONE]` it returns nothing (the rest of the body is read only so the connection
    is reused). Raises ValueError for data that is not a JSON object (the caller's stream
    then ends without [DONE]). Both clients' loops (`gateway_async`, `gateway_sync`) feed it."""

    __slots__ = ("_reader", "_completion", "done")

    def __init__(self):
        self._reader = SSEReader()
        self._completion = completion_id()
        self.done = False

    def feed(self, chunk: bytes) -> list[str]:
        out = []
        if self.done:
            return out
        for data in self._reader.feed(chunk):
            if is_done(data):
                self.done = True
                out.append(DONE)
                break
            out.append(relabel(data, self._completion))
        return out
