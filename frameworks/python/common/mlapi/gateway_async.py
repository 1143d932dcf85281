"""The gateway's upstream calls with httpx's `AsyncClient`, for the async targets (FastAPI,
Litestar, Django Ninja, BentoML, Ray Serve): one pooled client per process, with httpx's
defaults (5 s timeouts, no retries) except the pool (`gateway.POOL_CONNECTIONS`).

`open_stream` awaits the upstream's head before it returns, so a target answers 502 before
it has sent its own head; the events it returns are relayed as they arrive. Cancelling the
task that iterates them (a caller's disconnect) closes the upstream response inside
`client.stream(...)`, which closes that upstream connection: the stream was not complete.
"""

import logging
from collections.abc import AsyncIterator, Callable
from functools import cache

import httpx

from . import gateway

# httpx logs every request at INFO ("HTTP Request: POST ..."): an access log of the upstream
# calls wherever a framework puts the root logger at INFO (Litestar does). The targets log
# at warning and write no access logs (docs/methodology.md).
logging.getLogger("httpx").setLevel(logging.WARNING)


@cache
def client() -> httpx.AsyncClient:
    """Created at the first request, in the worker process that serves it, on its event loop
    (one per process: uvicorn's workers, BentoML's, a Ray replica)."""
    pool = gateway.POOL_CONNECTIONS
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))


async def complete(body: dict) -> dict:
    """A non-streaming completion: the upstream's chat.completion, or UpstreamError."""
    try:
        response = await client().post(gateway.chat_url(), json=body)
    except httpx.HTTPError as e:
        raise gateway.UpstreamError(f"upstream request failed: {e!r}") from e
    return gateway.completion_body(response.status_code, response.content)


async def open_stream(body: dict, frame: Callable[[str], str] = gateway.sse_event) -> AsyncIterator[str]:
    """The caller's stream, once the upstream has answered 200 with an event stream
    (UpstreamError otherwise). Yields `frame(data)` per event: the SSE text to write, or,
    with `frame=str`, the bare data for a framework that frames SSE itself."""
    events = _relay(body, frame)
    await anext(events)  # the upstream's head, checked
    return events


async def _relay(body: dict, frame: Callable[[str], str]) -> AsyncIterator[str]:
    started = False
    try:
        async with client().stream("POST", gateway.chat_url(), json=body) as response:
            problem = gateway.stream_head_problem(response.status_code, response.headers.get("content-type"))
            if problem:
                raise gateway.UpstreamError(problem)
            started = True
            yield ""  # the head is good: open_stream returns the events from here
            relay = gateway.Relay()
            async for chunk in response.aiter_bytes():
                for data in relay.feed(chunk):
                    yield frame(data)
    except httpx.HTTPError as e:
        if not started:
            raise gateway.UpstreamError(f"upstream request failed: {e!r}") from e
        # Broken mid-stream: the caller's stream ends here, without [DONE].
    except ValueError:
        pass  # data that is not a JSON object: likewise
