"""The gateway's upstream calls with a `requests.Session`, for the sync targets (Flask and
Django + DRF under gunicorn's gthread workers): one pooled session per worker process, with
requests' defaults (no timeout, no retries) except the pool (`gateway.POOL_CONNECTIONS`
connections kept per host, mounted for http://).

`open_stream` waits for the upstream's head before it returns, so a target answers 502 before
it has sent its own head. The generator it returns holds the upstream response open in a
`with` block: when gunicorn's write to a departed caller fails, it closes the response
iterable, the generator gets GeneratorExit, and leaving the block closes the upstream
connection (the response was not read to its end).
"""

import threading
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter

from . import gateway

_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """Created at the first request, in the worker process that serves it (gunicorn forks
    its workers before they import the app; the lock: 32 threads may ask at once)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                s = requests.Session()
                s.mount("http://", HTTPAdapter(pool_maxsize=gateway.POOL_CONNECTIONS))
                _session = s
    return _session


def complete(body: dict) -> dict:
    """A non-streaming completion: the upstream's chat.completion, or UpstreamError."""
    try:
        response = session().post(gateway.chat_url(), json=body)
    except requests.RequestException as e:
        raise gateway.UpstreamError(f"upstream request failed: {e!r}") from e
    return gateway.completion_body(response.status_code, response.content)


def open_stream(body: dict) -> Iterator[str]:
    """The caller's stream of SSE text, once the upstream has answered 200 with an event
    stream (UpstreamError otherwise)."""
    events = _relay(body)
    next(events)  # the upstream's head, checked
    return events


def _relay(body: dict) -> Iterator[str]:
    started = False
    try:
        with session().post(gateway.chat_url(), json=body, stream=True) as response:
            problem = gateway.stream_head_problem(response.status_code, response.headers.get("content-type"))
            if problem:
                raise gateway.UpstreamError(problem)
            started = True
            yield ""  # the head is good: open_stream returns the events from here
            relay = gateway.Relay()
            # chunk_size=None: each read as it arrives (one HTTP chunk), not a fixed size.
            for chunk in response.iter_content(chunk_size=None):
                for data in relay.feed(chunk):
                    yield gateway.sse_event(data)
    except requests.RequestException as e:
        if not started:
            raise gateway.UpstreamError(f"upstream request failed: {e!r}") from e
        # Broken mid-stream: the caller's stream ends here, without [DONE].
    except ValueError:
        pass  # data that is not a JSON object: likewise
