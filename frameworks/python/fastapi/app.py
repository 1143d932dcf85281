"""FastAPI target: pydantic v2 strict models, served by uvicorn (uvloop + httptools).

FastAPI's defaults differ from the contract in three places, each mapped with FastAPI's own
extension points (docs/contract.md, "Python targets"):
- malformed JSON is a 422 `json_invalid` at `["body", <offset>]`, and an empty body is a 422
  `missing` at `["body"]`: the RequestValidationError handler answers both with the
  contract's 400;
- the stdlib `json` that FastAPI parses with accepts `NaN` and `Infinity`: a custom Request
  class (FastAPI's documented APIRoute hook) parses with `mlapi.jsonsyntax.loads`;
- a body without `content-type: application/json` is not parsed and fails validation (422):
  the `require_json` dependency answers 415 first.

`/v1/chat/completions` forwards to the upstream with httpx's AsyncClient
(`mlapi.gateway_async`). A stream is Starlette's `StreamingResponse`, returned once the
upstream's head is in: FastAPI's own SSE (a generator endpoint, as `/v1/generate`) sends its
head before the generator runs, too early for the 502 the contract asks for.
"""

import asyncio
from collections.abc import AsyncIterable

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from mlapi import contract as c
from mlapi import errors, gateway, gateway_async, jsonsyntax, model, pacing, tokens
from mlapi.lifecycle import die_with_parent
from mlapi.pydantic_models import (
    ChatRequest,
    GenerateRequest,
    InferRequest,
    InferResponse,
    PredictRequest,
    PredictResponse,
    predict as score_request,
)

die_with_parent()


class ContractJSONRequest(Request):
    """Parses bodies with the contract's JSON syntax (no NaN/Infinity, UTF-8 only)."""

    async def json(self):
        if not hasattr(self, "_json"):
            self._json = jsonsyntax.loads(await self.body())
        return self._json


class ContractRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def contract_handler(request: Request):
            return await handler(ContractJSONRequest(request.scope, request.receive))

        return contract_handler


def require_json(request: Request) -> None:
    ct = request.headers.get("content-type")
    if not errors.is_json_media_type(ct):
        raise HTTPException(415, detail=errors.unsupported_media_type(ct)["detail"])


router = APIRouter(route_class=ContractRoute)
json_body = [Depends(require_json)]


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.post("/v1/predict", dependencies=json_body, response_model_exclude_none=True)
async def predict(req: PredictRequest) -> PredictResponse:
    return score_request(req)


@router.post("/v1/generate", dependencies=json_body, response_class=EventSourceResponse)
async def generate(req: GenerateRequest) -> AsyncIterable[ServerSentEvent]:
    async for i, word in pacing.apaced(req.seed, req.max_tokens, req.token_delay_ms):
        yield ServerSentEvent(raw_data=tokens.token_data(i, word))
    yield ServerSentEvent(raw_data=tokens.DONE)


@router.post("/v1/infer", dependencies=json_body)
async def infer(req: InferRequest) -> InferResponse:
    t0 = asyncio.get_running_loop().time()
    if req.mode == "io":
        await pacing.io_wait(req.latency_ms, t0)
        score = model.infer_io(req.features)
    else:
        # Blocking work goes to FastAPI's (Starlette's/anyio's) thread pool.
        score = await run_in_threadpool(model.infer_cpu, req.features, req.work)
    return InferResponse(score=score, label=c.label(score, c.INFER_THRESHOLD), mode=req.mode)


@router.post("/v1/chat/completions", dependencies=json_body)
async def chat_completions(req: ChatRequest) -> Response:
    body = gateway.forwarded_from(req)
    if not req.stream:
        return JSONResponse(await gateway_async.complete(body))
    events = await gateway_async.open_stream(body)
    # A disconnect cancels the task iterating `events`, which closes the upstream stream.
    return StreamingResponse(events, media_type=gateway.SSE_MEDIA_TYPE, headers={"cache-control": "no-cache"})


app = FastAPI(title="mlapi-bench (FastAPI)", max_body_size=c.BODY_LIMIT)
app.include_router(router)


@app.exception_handler(gateway.UpstreamError)
async def upstream_error(request: Request, exc: gateway.UpstreamError) -> JSONResponse:
    return JSONResponse(gateway.upstream_error(str(exc)), status_code=502)


@app.exception_handler(RequestValidationError)
async def contract_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errs = exc.errors()
    syntax = next((e for e in errs if e["type"] == "json_invalid"), None)
    if syntax is not None:
        msg = (syntax.get("ctx") or {}).get("error") or syntax["msg"]
        return JSONResponse(errors.json_invalid(str(msg)), status_code=400)
    if len(errs) == 1 and errs[0]["type"] == "missing" and tuple(errs[0]["loc"]) == ("body",):
        # FastAPI reports an empty body as a missing one; empty is not JSON.
        return JSONResponse(errors.json_invalid("empty body"), status_code=400)
    return JSONResponse({"detail": errors.pydantic_detail(errs, prefix=())}, status_code=422)
