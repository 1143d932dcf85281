"""Django Ninja target: ninja `Schema` classes (pydantic, strict), async views, served as
ASGI by uvicorn (uvloop + httptools). Django is configured here, in one module; it has no
database, apps or middleware.

Where Django and Ninja's defaults differ from the contract (docs/contract.md, "Python
targets"), mapped with Ninja's exception handlers and its parser and view-decorator hooks:
- validation errors carry the view's argument name (`["body", "payload", ...]`): dropped;
- malformed JSON is Ninja's 400 `{"detail": "Cannot parse request body"}`: the contract's 400;
- an empty body is a missing argument (422): a 400, empty is not JSON;
- the stdlib `json` accepts NaN/Infinity: the parser uses `mlapi.jsonsyntax.loads`;
- the body is parsed whatever its content type: `require_json` (a view decorator, so it runs
  before parsing) answers 415;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE raises RequestDataTooBig, a 400 by default: 413.
  But Django's ASGI handler first buffers the whole body, whatever its size (in memory, then
  a temporary file), and only then checks the limit. A client that half-closes after
  sending (as the conformance checker does) is taken for a disconnect, and Django drops the
  request without an answer. So `BodyLimit`, a small ASGI middleware around Django's
  application, answers 413 as soon as Content-Length or the bytes received pass the limit,
  the way Starlette's and Litestar's limits work. Django's own check stays behind it.
- Django logs every 4xx response at WARNING (`django.request`); like the other targets, only
  server errors are logged, so that logger is set to ERROR.

`/v1/chat/completions` forwards to the upstream with httpx's AsyncClient
(`mlapi.gateway_async`) and re-streams through a `StreamingHttpResponse` over the async
events, as `/v1/generate`, once the upstream's head is in (a 502 otherwise).
"""

import asyncio
import json
from functools import wraps

import django
from django.conf import settings

from mlapi import contract as c

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    DATA_UPLOAD_MAX_MEMORY_SIZE=c.BODY_LIMIT,
    USE_TZ=True,
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {"django.request": {"level": "ERROR"}},
    },
)
django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.exceptions import RequestDataTooBig  # noqa: E402
from django.http import JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import Field, NinjaAPI, Schema  # noqa: E402
from ninja.decorators import decorate_view  # noqa: E402
from ninja.errors import HttpError, ValidationError  # noqa: E402
from ninja.parser import Parser  # noqa: E402
from pydantic import ConfigDict, model_validator  # noqa: E402
from pydantic_core import PydanticCustomError  # noqa: E402

from mlapi import errors, gateway, gateway_async, jsonsyntax, model, pacing, tokens  # noqa: E402
from mlapi.fields import (  # noqa: E402
    ChatModel,
    Content,
    Features,
    LatencyMs,
    MaxTokens,
    Mode,
    ModelName,
    Prompt,
    RequestId,
    Role,
    RowId,
    Seed,
    Tags,
    Temperature,
    Threshold,
    Timestamp,
    TokenDelay,
    TopK,
    Work,
)
from mlapi.lifecycle import die_with_parent  # noqa: E402

die_with_parent()

class StrictIn(Schema):
    """Request schemas: strict types, and objects only. Ninja's `Schema` also reads
    attributes of arbitrary objects (to serialise ORM instances), which would turn a JSON
    array into a set of "missing field" errors; a JSON body must be an object."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _object_only(cls, value):
        # Schema's own wrap validator runs first and hands over a DjangoGetter around
        # the input (ninja.schema.DjangoGetter._obj).
        if not isinstance(getattr(value, "_obj", value), dict):
            raise PydanticCustomError("model_type", "Input should be an object")
        return value


class RowIn(StrictIn):
    id: RowId
    features: Features
    tags: Tags = Field(default_factory=dict)
    timestamp: Timestamp


class ParamsIn(StrictIn):
    threshold: Threshold = c.THRESHOLD_DEFAULT
    top_k: TopK = c.TOP_K_DEFAULT
    explain: bool = False


class PredictIn(StrictIn):
    request_id: RequestId
    model: ModelName
    inputs: list[RowIn] = Field(min_length=c.ROWS_MIN, max_length=c.ROWS_MAX)
    params: ParamsIn = Field(default_factory=ParamsIn)


class PredictionOut(Schema):
    id: str
    score: float
    label: str
    top_features: list[int] | None = None


class PredictOut(Schema):
    request_id: str
    model: str
    predictions: list[PredictionOut]


class GenerateIn(StrictIn):
    prompt: Prompt
    max_tokens: MaxTokens
    token_delay_ms: TokenDelay = c.TOKEN_DELAY_DEFAULT
    seed: Seed = c.SEED_DEFAULT


class InferIn(StrictIn):
    features: Features
    mode: Mode
    latency_ms: LatencyMs = c.LATENCY_DEFAULT
    work: Work = c.WORK_DEFAULT


class InferOut(Schema):
    score: float
    label: str
    mode: str


class ChatMessageIn(StrictIn):
    role: Role
    content: Content


class ChatIn(StrictIn):
    model: ChatModel
    messages: list[ChatMessageIn] = Field(min_length=c.MESSAGES_MIN, max_length=c.MESSAGES_MAX)
    stream: bool = False
    # Optional without admitting null: the type refuses None, the default (not validated)
    # says the field was left out.
    max_tokens: MaxTokens = None
    max_completion_tokens: MaxTokens = None
    temperature: Temperature = None


class ContractParser(Parser):
    """JSON syntax as the contract defines it (no NaN/Infinity, UTF-8)."""

    def parse_body(self, request):
        return jsonsyntax.loads(request.body)


def require_json(view):
    @wraps(view)
    async def checked(request, *args, **kwargs):
        ct = request.headers.get("content-type")
        if not errors.is_json_media_type(ct):
            return JsonResponse(errors.unsupported_media_type(ct), status=415)
        return await view(request, *args, **kwargs)

    return checked


api = NinjaAPI(title="mlapi-bench (Django Ninja)", parser=ContractParser())


@api.get("/health")
async def health(request):
    return {"status": "ok"}


@api.post("/v1/predict", response=PredictOut, exclude_none=True)
@decorate_view(require_json)
async def predict(request, payload: PredictIn):
    return {
        "request_id": payload.request_id,
        "model": payload.model,
        "predictions": model.predictions(payload.model, payload.inputs, payload.params, dict),
    }


@api.post("/v1/generate")
@decorate_view(require_json)
async def generate(request, payload: GenerateIn):
    # An async iterator streams under ASGI, one chunk per event (under WSGI it would be
    # buffered to the end); Django stops it when the client disconnects.
    response = StreamingHttpResponse(token_events(payload), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


async def token_events(req: GenerateIn):
    async for i, word in pacing.apaced(req.seed, req.max_tokens, req.token_delay_ms):
        yield f"data: {tokens.token_data(i, word)}\n\n"
    yield f"data: {tokens.DONE}\n\n"


@api.post("/v1/infer", response=InferOut)
@decorate_view(require_json)
async def infer(request, payload: InferIn):
    t0 = asyncio.get_running_loop().time()
    if payload.mode == "io":
        await pacing.io_wait(payload.latency_ms, t0)
        score = model.infer_io(payload.features)
    else:
        # Blocking work on asgiref's thread pool. thread_sensitive=False: the function
        # touches no Django state, so it need not queue behind the one "main" thread.
        score = await sync_to_async(model.infer_cpu, thread_sensitive=False)(payload.features, payload.work)
    return {"score": score, "label": c.label(score, c.INFER_THRESHOLD), "mode": payload.mode}


@api.post("/v1/chat/completions")
@decorate_view(require_json)
async def chat_completions(request, payload: ChatIn):
    body = gateway.forwarded_from(payload)
    if not payload.stream:
        return await gateway_async.complete(body)
    # Django cancels the task iterating the events when the client disconnects, which
    # closes the upstream stream.
    response = StreamingHttpResponse(await gateway_async.open_stream(body), content_type=gateway.SSE_MEDIA_TYPE)
    response["Cache-Control"] = "no-cache"
    return response


@api.exception_handler(ValidationError)
def contract_validation_error(request, exc: ValidationError):
    errs = [{**e, "loc": list(e["loc"])} for e in exc.errors]
    if len(errs) == 1 and errs[0]["type"] == "missing" and len(errs[0]["loc"]) == 2 and errs[0]["loc"][0] == "body":
        # No body at all: Ninja reports the argument as missing; empty is not JSON.
        return api.create_response(request, errors.json_invalid("empty body"), status=400)
    # loc is ["body", <argument name>, ...]: the contract's path has no argument name.
    stripped = [{**e, "loc": [e["loc"][0], *e["loc"][2:]]} if e["loc"][:1] == ["body"] else e for e in errs]
    return api.create_response(request, {"detail": errors.pydantic_detail(stripped, prefix=())}, status=422)


@api.exception_handler(HttpError)
def contract_http_error(request, exc: HttpError):
    if exc.status_code == 400 and isinstance(exc.__cause__, json.JSONDecodeError):
        return api.create_response(request, errors.json_invalid(exc.__cause__.msg), status=400)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(gateway.UpstreamError)
def upstream_error(request, exc: gateway.UpstreamError):
    return api.create_response(request, gateway.upstream_error(str(exc)), status=502)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request, exc: RequestDataTooBig):
    return api.create_response(request, errors.body_too_large(c.BODY_LIMIT), status=413)


urlpatterns = [path("", api.urls)]


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 once a request body is announced or received past `limit`."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        announced = dict(scope["headers"]).get(b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > self.limit:
            return await self._refuse(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            # Django reads the whole body before it starts an answer, so none has started.
            await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps(errors.body_too_large(self.limit)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


application = BodyLimit(get_asgi_application(), c.BODY_LIMIT)
