"""The one hook between BentoML's HTTP defaults and the contract's (docs/contract.md,
"Python targets"): an ASGI middleware, added with `Service.add_asgi_middleware` (BentoML's
documented way to wrap a service's requests and responses).

BentoML parses a JSON body with pydantic's `model_validate_json` and answers every
`ValidationError` with its own 400, `{"error": "...", "detail": [...]}`, `loc` without
`"body"`, whatever the error. It has no body limit, parses any content type as JSON
(`application/json` is its fallback serde), reads an empty body as `{}`, and pydantic's JSON
parser accepts `NaN` and `Infinity`. So, on the API routes only (other paths and methods
keep BentoML's and Starlette's 404/405):
- no JSON content type: 415, before the body is read;
- a Content-Length over the limit: 413, before the body is read; a chunked body is read up
  to the limit, one byte more is a 413 (BentoML would read it all). The body is then handed
  to BentoML in one message;
- an empty body: 400 (empty is not JSON); a `NaN` or `Infinity` literal anywhere, even in
  an ignored field: 400 (only a body containing one of the words is parsed a second time,
  by `mlapi.jsonsyntax`); a body cut short by a disconnect: 400, to nobody (see the loop);
- BentoML's 400 is rewritten, on the error path only: a `json_invalid` error stays a 400
  with the contract's one entry at `["body"]`, anything else is a schema violation, 422,
  each `loc` prefixed with `"body"`.
"""

import json

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from mlapi import contract as c
from mlapi import errors, jsonsyntax


class ContractErrors:
    def __init__(self, app, paths: frozenset[str], limit: int = c.BODY_LIMIT):
        self.app, self.paths, self.limit = app, paths, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        content_type = headers.get("content-type")
        if not errors.is_json_media_type(content_type):
            return await _answer(scope, receive, send, 415, errors.unsupported_media_type(content_type))
        announced = headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > self.limit:
            return await _answer(scope, receive, send, 413, errors.body_too_large(self.limit))

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before its body was complete. The answer goes nowhere,
                # but it must be sent: BentoML's TimeoutMiddleware waits for the first
                # send, so a request that sends nothing holds its task for traffic.timeout
                # (60 s), and a graceful shutdown waits for it.
                return await _answer(scope, receive, send, 400, errors.json_invalid("incomplete body"))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _answer(scope, receive, send, 413, errors.body_too_large(self.limit))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not body:
            return await _answer(scope, receive, send, 400, errors.json_invalid("empty body"))
        if (b"NaN" in body or b"Infinity" in body) and (syntax := _syntax_error(body)):
            return await _answer(scope, receive, send, 400, errors.json_invalid(syntax))

        replayed = False

        async def replay():
            # The body once, then the client's own messages (a disconnect ends a stream).
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        rewrite: list[bytes] | None = None

        async def contract_send(message):
            nonlocal rewrite
            if message["type"] == "http.response.start" and message["status"] == 400:
                rewrite = []  # BentoML's ValidationError answer: held until complete
                return
            if rewrite is None:
                return await send(message)
            rewrite.append(message.get("body", b""))
            if not message.get("more_body", False):
                status, payload = _contract_error(b"".join(rewrite))
                await _answer(scope, replay, send, status, payload)

        await self.app(scope, replay, contract_send)


def _syntax_error(body: bytes) -> str | None:
    """Why `body` is not JSON by the contract's rules, or None. Nesting too deep for the
    stdlib parser is left to pydantic's (the contract allows 400 or 422 there)."""
    try:
        jsonsyntax.loads(body)
    except ValueError as e:
        return str(e)
    except RecursionError:
        return None
    return None


def _contract_error(bentoml_body: bytes) -> tuple[int, dict]:
    """BentoML's 400 body, `{"error": ..., "detail": [pydantic errors]}`, as the contract's
    400 or 422."""
    try:
        detail = json.loads(bentoml_body)["detail"]
        detail = [e for e in detail if isinstance(e, dict) and "type" in e and "loc" in e]
    except (ValueError, KeyError, TypeError):
        detail = []
    if not detail:  # not a validation error: keep BentoML's answer, in the contract's shape
        return 400, errors.json_invalid(bentoml_body.decode("utf-8", "replace"))
    syntax = next((e for e in detail if e["type"] == errors.JSON_INVALID), None)
    if syntax is not None:
        return 400, errors.json_invalid(syntax.get("msg", ""))
    return 422, {"detail": errors.pydantic_detail(detail, prefix=("body",))}


async def _answer(scope, receive, send, status: int, payload: dict) -> None:
    await JSONResponse(payload, status_code=status)(scope, receive, send)
