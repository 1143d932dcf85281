"""Flask target: pydantic v2 strict models validated in the view, served by gunicorn with
gthread workers (one process per worker, a pool of threads in each).

Where Flask's defaults differ from the contract (docs/contract.md, "Python targets"), mapped
with Flask's own hooks:
- bad JSON and a wrong content type are HTML 400 and 415 pages: the request class's
  `on_json_loading_failed` raises the contract's answers instead;
- the stdlib `json` accepts NaN/Infinity: the app's JSON provider parses with
  `mlapi.jsonsyntax.loads`;
- pydantic's ValidationError would be a 500: an error handler answers 422. It builds the
  detail from each error's loc/msg/type only, because `errors()` may hold values Flask
  cannot serialise (raw bytes, for `json_invalid`, or exceptions in `ctx`);
- MAX_CONTENT_LENGTH gives an HTML 413: the error handler answers JSON. For a chunked body
  Werkzeug cannot tell a body of exactly the limit from a longer one: it stops reading at
  the limit without an error, and the truncated JSON would be a 400. A `before_request` hook
  reads one byte past the limit from the WSGI input and answers 413 if there is one.
Flask is synchronous: the token delay and io latency are `time.sleep` in the worker thread,
and cpu inference runs on that thread too (gthread's pool is the framework's thread pool).
`/v1/chat/completions` forwards with a `requests.Session` (`mlapi.gateway_sync`) and holds
its worker thread for the whole stream.
"""

import time

from flask import Flask, Request, Response, request, stream_with_context
from flask.json.provider import DefaultJSONProvider
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from mlapi import contract as c
from mlapi import errors, gateway, gateway_sync, jsonsyntax, model, pacing, tokens
from mlapi.lifecycle import die_with_parent
from mlapi.pydantic_models import ChatRequest, GenerateRequest, InferRequest, InferResponse, PredictRequest
from mlapi.pydantic_models import predict as score_request

die_with_parent()


class ContractError(HTTPException):
    """An error answer already in the contract's shape."""

    def __init__(self, status: int, body: dict):
        super().__init__()
        self.code, self.body = status, body


class ContractRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None):
        if e is None:  # not application/json
            raise ContractError(415, errors.unsupported_media_type(self.content_type))
        raise ContractError(400, errors.json_invalid(str(e)))


class ContractJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        return jsonsyntax.loads(s)


app = Flask(__name__)
app.request_class = ContractRequest
app.json = ContractJSONProvider(app)
app.config["MAX_CONTENT_LENGTH"] = c.BODY_LIMIT


@app.before_request
def chunked_body_limit():
    if request.content_length is None and request.is_json:
        data = request.get_data()  # cached for get_json
        if len(data) >= c.BODY_LIMIT and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/v1/predict")
def predict():
    req = PredictRequest.model_validate(request.get_json())
    return score_request(req).model_dump(exclude_none=True)


@app.post("/v1/generate")
def generate():
    req = GenerateRequest.model_validate(request.get_json())

    def events():
        for i, word in pacing.paced(req.seed, req.max_tokens, req.token_delay_ms):
            yield f"data: {tokens.token_data(i, word)}\n\n"
        yield f"data: {tokens.DONE}\n\n"

    # gunicorn writes each chunk as it is yielded; a failed write (client gone) closes the
    # generator.
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.post("/v1/infer")
def infer():
    req = InferRequest.model_validate(request.get_json())
    t0 = time.monotonic()
    if req.mode == "io":
        pacing.io_wait_sync(req.latency_ms, t0)
        score = model.infer_io(req.features)
    else:
        score = model.infer_cpu(req.features, req.work)
    return InferResponse(score=score, label=c.label(score, c.INFER_THRESHOLD), mode=req.mode).model_dump()


@app.post("/v1/chat/completions")
def chat_completions():
    req = ChatRequest.model_validate(request.get_json())
    body = gateway.forwarded_from(req)
    if not req.stream:
        return gateway_sync.complete(body)
    # The events do not read the request, so no stream_with_context. gunicorn writes each
    # as it is yielded; a failed write (caller gone) closes them, and the upstream stream.
    events = gateway_sync.open_stream(body)
    return Response(events, mimetype=gateway.SSE_MEDIA_TYPE, headers={"Cache-Control": "no-cache"})


@app.errorhandler(gateway.UpstreamError)
def upstream_error(e: gateway.UpstreamError):
    return gateway.upstream_error(str(e)), 502


@app.errorhandler(ContractError)
def contract_error(e: ContractError):
    return e.body, e.code


@app.errorhandler(ValidationError)
def validation_error(e: ValidationError):
    return {"detail": errors.pydantic_detail(e.errors(include_url=False), prefix=("body",))}, 422


@app.errorhandler(RequestEntityTooLarge)
def body_too_large(e: RequestEntityTooLarge):
    return errors.body_too_large(c.BODY_LIMIT), 413
