"""Litestar target: msgspec Structs with `Meta` constraints, decoded strictly; served by
uvicorn (uvloop + httptools).

Where Litestar's defaults differ from the contract (docs/contract.md, "Python targets"):
- Its `data:` injection converts with `msgspec.convert(..., strict=False)` (hard-coded in
  the signature model and the DTO backends), which turns "1.5" into 1.5 and 1 into True.
  The handlers therefore decode the body with Litestar's own `decode_json(body,
  target_type=...)`, whose default is strict: msgspec still does all the validation.
- Validation errors are its 400 with its own body: `body_as` turns msgspec's error into the
  contract's 400 (malformed JSON, syntax checked again before a type error counts) or 422
  with `loc`, raised as `BodyError` and rendered by its exception handler. msgspec names the
  path (`$.inputs[0].features[7]`) but not a bad dict key (`key` in `$.inputs[0].tags`), so
  the entry is found by checking each one against the same annotated types. msgspec lets
  invalid UTF-8 escape as UnicodeDecodeError (a 500 otherwise): also a 400.
- POST answers 201 by default: the routes say 200.
- A non-JSON content type would still be decoded: a `before_request` hook answers 415.

`/v1/chat/completions` forwards to the upstream with httpx's AsyncClient
(`mlapi.gateway_async`) and re-streams with Litestar's own `ServerSentEvent`, as
`/v1/generate`, once the upstream's head is in (a 502 otherwise).
"""

import asyncio
import datetime as dt
import re
from typing import Annotated, Literal, TypeVar

import msgspec
from litestar import Litestar, Request, get, post
from litestar.concurrency import sync_to_thread
from litestar.exceptions import HTTPException, SerializationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Response, ServerSentEvent
from litestar.serialization import decode_json
from msgspec import Meta, Struct

from mlapi import contract as c
from mlapi import errors, gateway, gateway_async, model, pacing, tokens
from mlapi.lifecycle import die_with_parent

die_with_parent()

T = TypeVar("T")

Feature = Annotated[float, Meta(ge=c.FEATURE_MIN, le=c.FEATURE_MAX)]
Features = Annotated[list[Feature], Meta(min_length=c.FEATURES, max_length=c.FEATURES)]
TagKey = Annotated[str, Meta(min_length=c.TAG_KEY_MIN, max_length=c.TAG_KEY_MAX, pattern=c.TAG_KEY_PATTERN)]
TagValue = Annotated[str, Meta(min_length=c.TAG_VALUE_MIN, max_length=c.TAG_VALUE_MAX)]


class Row(Struct):
    id: Annotated[str, Meta(min_length=c.ROW_ID_MIN, max_length=c.ROW_ID_MAX)]
    features: Features
    # RFC 3339 (msgspec's datetime format) with a UTC offset.
    timestamp: Annotated[dt.datetime, Meta(tz=True)]
    tags: Annotated[dict[TagKey, TagValue], Meta(max_length=c.TAGS_MAX)] = {}


class Params(Struct):
    threshold: Annotated[float, Meta(ge=0.0, le=1.0)] = c.THRESHOLD_DEFAULT
    top_k: Annotated[int, Meta(ge=c.TOP_K_MIN, le=c.TOP_K_MAX)] = c.TOP_K_DEFAULT
    explain: bool = False


class PredictRequest(Struct):
    request_id: Annotated[
        str, Meta(min_length=c.REQUEST_ID_MIN, max_length=c.REQUEST_ID_MAX, pattern=c.REQUEST_ID_PATTERN)
    ]
    model: Literal["linear", "mlp"]
    inputs: Annotated[list[Row], Meta(min_length=c.ROWS_MIN, max_length=c.ROWS_MAX)]
    params: Params = msgspec.field(default_factory=Params)


class Prediction(Struct, omit_defaults=True):
    id: str
    score: float
    label: str
    top_features: list[int] | None = None


class PredictResponse(Struct):
    request_id: str
    model: str
    predictions: list[Prediction]


class GenerateRequest(Struct):
    prompt: Annotated[str, Meta(min_length=c.PROMPT_MIN, max_length=c.PROMPT_MAX)]
    max_tokens: Annotated[int, Meta(ge=c.MAX_TOKENS_MIN, le=c.MAX_TOKENS_MAX)]
    token_delay_ms: Annotated[int, Meta(ge=0, le=c.TOKEN_DELAY_MAX)] = c.TOKEN_DELAY_DEFAULT
    seed: Annotated[int, Meta(ge=0, le=c.SEED_MAX)] = c.SEED_DEFAULT


class InferRequest(Struct):
    features: Features
    mode: Literal["io", "cpu"]
    latency_ms: Annotated[int, Meta(ge=0, le=c.LATENCY_MAX)] = c.LATENCY_DEFAULT
    work: Annotated[int, Meta(ge=c.WORK_MIN, le=c.WORK_MAX)] = c.WORK_DEFAULT


class ChatMessage(Struct):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Meta(max_length=c.CONTENT_MAX)]


class ChatRequest(Struct):
    model: Annotated[str, Meta(min_length=c.CHAT_MODEL_MIN, max_length=c.CHAT_MODEL_MAX)]
    messages: Annotated[list[ChatMessage], Meta(min_length=c.MESSAGES_MIN, max_length=c.MESSAGES_MAX)]
    stream: bool = False
    # Optional without admitting null: the type refuses None, the default (not validated)
    # says the field was left out.
    max_tokens: Annotated[int, Meta(ge=c.MAX_TOKENS_MIN, le=c.MAX_TOKENS_MAX)] = None
    max_completion_tokens: Annotated[int, Meta(ge=c.MAX_TOKENS_MIN, le=c.MAX_TOKENS_MAX)] = None
    temperature: Annotated[float, Meta(ge=c.TEMPERATURE_MIN, le=c.TEMPERATURE_MAX)] = None


class InferResponse(Struct):
    score: float
    label: str
    mode: str


async def require_json(request: Request) -> None:
    ct = request.headers.get("content-type")
    if not errors.is_json_media_type(ct):
        raise HTTPException(status_code=415, detail="unsupported media type", extra=errors.unsupported_media_type(ct))


class BodyError(Exception):
    """A body that failed decoding, described in the contract's terms."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status, self.body = status, body


async def body_as(request: Request, target: type[T]) -> T:
    """The body decoded strictly into `target` (413 past the app's body limit)."""
    body = await request.body()
    try:
        return decode_json(body, target_type=target)
    except SerializationException as e:
        raise contract_error(e.__cause__, body) from e
    except UnicodeDecodeError as e:  # msgspec lets this one through
        raise BodyError(400, errors.json_invalid(f"invalid UTF-8: {e.reason}")) from e


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@post("/v1/predict", status_code=200, before_request=require_json)
async def predict(request: Request) -> PredictResponse:
    req = await body_as(request, PredictRequest)
    return PredictResponse(
        request_id=req.request_id,
        model=req.model,
        predictions=model.predictions(req.model, req.inputs, req.params, Prediction),
    )


@post("/v1/generate", status_code=200, before_request=require_json)
async def generate(request: Request) -> ServerSentEvent:
    req = await body_as(request, GenerateRequest)
    return ServerSentEvent(token_events(req))


async def token_events(req: GenerateRequest):
    async for i, word in pacing.apaced(req.seed, req.max_tokens, req.token_delay_ms):
        yield tokens.token_data(i, word)
    yield tokens.DONE


@post("/v1/infer", status_code=200, before_request=require_json)
async def infer(request: Request) -> InferResponse:
    req = await body_as(request, InferRequest)
    t0 = asyncio.get_running_loop().time()
    if req.mode == "io":
        await pacing.io_wait(req.latency_ms, t0)
        score = model.infer_io(req.features)
    else:
        # Blocking work goes to Litestar's thread pool.
        score = await sync_to_thread(model.infer_cpu, req.features, req.work)
    return InferResponse(score=score, label=c.label(score, c.INFER_THRESHOLD), mode=req.mode)


@post("/v1/chat/completions", status_code=200, before_request=require_json)
async def chat_completions(request: Request) -> Response | ServerSentEvent:
    req = await body_as(request, ChatRequest)
    body = gateway.forwarded_from(req)
    if not req.stream:
        return Response(await gateway_async.complete(body))
    # Bare data: ServerSentEvent frames each event itself. A disconnect cancels the task
    # iterating the events, which closes the upstream stream.
    return ServerSentEvent(await gateway_async.open_stream(body, frame=str))


# msgspec's error path: `$.inputs[0].features[7]`, `$.inputs[0].tags[...]` (a bad value) or
# "`key` in `$.inputs[0].tags`" (a bad key); a missing field is named in the message.
_PATH = re.compile(r" - at (`key` in )?`\$([^`]*)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`")


def contract_error(cause: BaseException | None, body: bytes) -> BodyError:
    if not isinstance(cause, msgspec.ValidationError):
        return BodyError(400, errors.json_invalid(str(cause)))
    # msgspec stops at the first type error; the contract wants 400 if the body is also
    # malformed further on, so check the syntax before answering 422.
    try:
        parsed = msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        return BodyError(400, errors.json_invalid(str(e)))
    message = str(cause)
    loc = ["body"]
    m = _PATH.search(message)
    if m is not None:
        for name, index, dots in _STEP.findall(m.group(2)):
            if dots:
                break  # the offending entry of a dict: found below
            loc.append(name if name else int(index))
        if m.group(1) or "[...]" in m.group(2):
            key = _bad_entry(parsed, loc[1:], key_error=bool(m.group(1)))
            if key is not None:
                loc.append(key)
    if missing := _MISSING.match(message):
        loc.append(missing.group(1))
    msg = message.split(" - at ")[0]
    return BodyError(422, {"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]})


def _bad_entry(node, path: list, key_error: bool) -> str | None:
    """The first key (or key of the first value) of the object at `path` that the same
    annotated types reject; msgspec's message does not name it."""
    for step in path:
        node = node[step]
    for key, value in node.items():
        try:
            msgspec.convert(key if key_error else value, TagKey if key_error else TagValue, strict=True)
        except msgspec.ValidationError:
            return key
    return None


def body_error(request: Request, exc: BodyError) -> Response:
    return Response(exc.body, status_code=exc.status)


def upstream_error(request: Request, exc: gateway.UpstreamError) -> Response:
    return Response(gateway.upstream_error(str(exc)), status_code=502)


def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 415 and isinstance(exc.extra, dict):
        return Response(exc.extra, status_code=415)
    if exc.status_code == 413:
        return Response(errors.body_too_large(c.BODY_LIMIT), status_code=413)
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


app = Litestar(
    route_handlers=[health, predict, generate, infer, chat_completions],
    request_max_body_size=c.BODY_LIMIT,
    exception_handlers={BodyError: body_error, HTTPException: http_error, gateway.UpstreamError: upstream_error},
    openapi_config=OpenAPIConfig(title="mlapi-bench (Litestar)", version="1.0", path="/", render_plugins=[JsonRenderPlugin()]),
)
