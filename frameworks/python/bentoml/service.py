"""BentoML target: one `@bentoml.service` whose `@bentoml.api` methods take the contract's
strict pydantic models as their whole body (a positional-only parameter: BentoML's "root
input"), served by `bentoml serve` (a circus arbiter owning the socket, one uvicorn worker
process per worker, uvloop + httptools).

Where BentoML's defaults differ from the contract (docs/contract.md, "Python targets"):
- validation errors, content types, the body limit, empty bodies and NaN: one ASGI
  middleware, `contract_http.ContractErrors`, added with `add_asgi_middleware`;
- `@bentoml.api` routes are POST only, so `GET /health` is a one-route Starlette app mounted
  with `@bentoml.asgi_app` (BentoML's own probes are /livez, /healthz and /readyz);
- a returned generator streams as `text/plain` without SSE framing, and BentoML waits for
  its first item before sending the headers: `/v1/generate` returns Starlette's
  `StreamingResponse`, which BentoML passes through unchanged;
- every `ValidationError` is logged at ERROR with its traceback (`log_exception`): those
  records are dropped by a logging filter (a 500's traceback is still logged), and the
  `bentoml` loggers, at INFO by default, are set to `--arg log_level` (warning);
- Prometheus metrics, BentoML's access log and span recording are on by default: all three
  are off in the service config (see `tracing` there).
`/v1/chat/completions` forwards with httpx's AsyncClient (`mlapi.gateway_async`) and returns
Starlette responses, as `/v1/generate`: a `StreamingResponse` once the upstream's head is in,
a `JSONResponse` otherwise (502 on an upstream failure; the middleware leaves it as it is).
The number of worker processes is `bentoml serve --arg workers=N` (`bentoml.use_arguments`),
since `bentoml serve` has no workers flag for a `@bentoml.service`.
"""

import asyncio
import logging

import bentoml
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from mlapi import contract as c
from mlapi import gateway, gateway_async, model, pacing, tokens
from mlapi.lifecycle import die_with_parent
from mlapi.pydantic_models import ChatRequest, GenerateRequest, InferRequest, InferResponse, PredictRequest

from .contract_http import ContractErrors

die_with_parent()


class _NoValidationTracebacks(logging.Filter):
    """Drops BentoML's per-request traceback of a ValidationError (a 4xx, not a fault)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ValidationError))


class Args(BaseModel):
    """`bentoml serve --arg key=value`: BentoML's way to pass a service its settings, read
    before the `@bentoml.service` decorator runs, in the arbiter and in every worker."""

    workers: int = 1
    log_level: str = "warning"


ARGS = bentoml.use_arguments(Args)

# BentoML configures its loggers (`bentoml` at INFO) before it imports this module.
logging.getLogger("bentoml").setLevel(ARGS.log_level.upper())
logging.getLogger("bentoml._internal.server.http_app").addFilter(_NoValidationTracebacks())


class Prediction(BaseModel):
    id: str
    score: float
    label: str
    # Present only when `explain` is true: BentoML serialises a response model as it is
    # (no exclude_none), so the field says when it is left out.
    top_features: list[int] | None = Field(default=None, exclude_if=lambda v: v is None)


class PredictResponse(BaseModel):
    request_id: str
    model: str
    predictions: list[Prediction]


async def health(_request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


health_app = Starlette(routes=[Route("/health", health, methods=["GET"])])


@bentoml.asgi_app(health_app, path="/")
@bentoml.service(
    name="mlapi",
    workers=ARGS.workers,
    metrics={"enabled": False},
    logging={"access": {"enabled": False}},
    # Tracing off, as in every other target. Sample rate 0 (the default) is not off: BentoML's
    # root sampler records every span anyway (TraceIdRatioBasedAlwaysRecording), only never
    # exports it. Excluding every URL (BentoML's `tracing.excluded_urls`) makes the
    # OpenTelemetry middleware, which cannot be removed, pass each request straight through.
    tracing={"excluded_urls": [".*"]},
)
class Mlapi:
    @bentoml.api(route="/v1/predict")
    async def predict(self, req: PredictRequest, /) -> PredictResponse:
        return PredictResponse(
            request_id=req.request_id,
            model=req.model,
            predictions=model.predictions(req.model, req.inputs, req.params, Prediction),
        )

    @bentoml.api(route="/v1/generate")
    async def generate(self, req: GenerateRequest, /):
        # No return annotation: BentoML builds an output model from it, and a Response class
        # has no pydantic schema. A returned Response is sent as it is.
        async def events():
            async for i, word in pacing.apaced(req.seed, req.max_tokens, req.token_delay_ms):
                yield f"data: {tokens.token_data(i, word)}\n\n"
            yield f"data: {tokens.DONE}\n\n"

        # Headers go out at once; each event is one write. A disconnect cancels the stream
        # (Starlette listens for http.disconnect).
        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @bentoml.api(route="/v1/infer")
    async def infer(self, req: InferRequest, /) -> InferResponse:
        t0 = asyncio.get_running_loop().time()
        if req.mode == "io":
            await pacing.io_wait(req.latency_ms, t0)
            score = model.infer_io(req.features)
        else:
            # An async api runs on the worker's event loop; the blocking work goes to
            # Starlette's (anyio's) thread pool, as in the FastAPI target. A sync `def` api
            # would run whole in BentoML's pool (threads=1 per worker by default), io waits too.
            score = await run_in_threadpool(model.infer_cpu, req.features, req.work)
        return InferResponse(score=score, label=c.label(score, c.INFER_THRESHOLD), mode=req.mode)

    @bentoml.api(route="/v1/chat/completions")
    async def chat_completions(self, req: ChatRequest, /):
        # No return annotation, as generate: a returned Response is sent as it is.
        body = gateway.forwarded_from(req)
        try:
            if not req.stream:
                return JSONResponse(await gateway_async.complete(body))
            events = await gateway_async.open_stream(body)
        except gateway.UpstreamError as e:
            return JSONResponse(gateway.upstream_error(str(e)), status_code=502)
        # A disconnect cancels the task iterating the events, which closes the upstream stream.
        return StreamingResponse(events, media_type=gateway.SSE_MEDIA_TYPE, headers={"cache-control": "no-cache"})


Mlapi.add_asgi_middleware(ContractErrors, paths=frozenset(api.route for api in Mlapi.apis.values()))
