"""The endpoints as DRF class-based views (sync, on gunicorn's gthread worker threads), and
the two DRF hooks that map DRF's default answers to the contract (docs/contract.md, "Python
targets"): a JSON parser and the EXCEPTION_HANDLER named in app.py's REST_FRAMEWORK.

Where DRF's defaults differ from the contract:
- every error is a 400: malformed JSON is a ParseError (400 `{"detail": "JSON parse
  error - …"}`) and a schema violation a ValidationError whose detail is nested like the
  body (`{"inputs": {"0": {"features": {"7": ["…"]}}}}`). The exception handler answers the
  first with the contract's 400 and the second with 422 and one entry per message, its
  `loc` the path DRF nested it under;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE raises Django's RequestDataTooBig, which DRF
  leaves to Django (a 400): the handler answers 413;
- DRF answers 415 itself when no parser matches a body's media type, but it never parses a
  request without a body (`request.data` is then `{}`, whatever the content type, so the
  schema would see an empty object), and it matches wildcards in the request's own
  Content-Type (a body sent as `*/*` or `application/*` is parsed as JSON). So
  `JSONBodyView.validated` checks the content type first, raising DRF's
  UnsupportedMediaType (415, DRF's own answer), then answers 400 for an empty body (empty
  is not JSON);
- Python's `json` raises RecursionError on deep nesting, which DRF's JSONParser does not
  catch (a 500); the parser answers 400, and parses with `mlapi.jsonsyntax` as the other
  stdlib-json targets do (no NaN/Infinity, which DRF's STRICT_JSON already refuses, and
  UTF-8 whatever charset the content type names).
`/v1/chat/completions` forwards with a `requests.Session` (`mlapi.gateway_sync`); an upstream
failure before the stream (`UpstreamError`) is answered 502 by the same handler.
"""

import time
from types import SimpleNamespace

from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from rest_framework.exceptions import ParseError, UnsupportedMediaType, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView, exception_handler

from mlapi import contract as c
from mlapi import errors, gateway, gateway_sync, jsonsyntax, model, pacing, tokens
from serializers import ChatSerializer, GenerateSerializer, InferSerializer, PredictSerializer


class ContractJSONParser(JSONParser):
    """JSON syntax as the contract defines it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return jsonsyntax.loads(stream.read())
        except ValueError as e:
            raise ParseError(f"JSON parse error - {e}") from e
        except RecursionError as e:
            raise ParseError("JSON parse error - nested too deeply") from e


def contract_exception_handler(exc, context):
    if isinstance(exc, ParseError):
        return Response(errors.json_invalid(str(exc.detail)), status=400)
    if isinstance(exc, ValidationError):
        return Response({"detail": list(contract_detail(exc.detail, ("body",)))}, status=422)
    if isinstance(exc, RequestDataTooBig):
        return Response(errors.body_too_large(c.BODY_LIMIT), status=413)
    if isinstance(exc, gateway.UpstreamError):
        return Response(gateway.upstream_error(str(exc)), status=502)
    # 405, 415 and anything else: DRF's own answers (an unknown path is Django's 404).
    return exception_handler(exc, context)


def contract_detail(detail, loc: tuple):
    """DRF's error detail as the contract's entries. DRF nests messages like the data:
    `{field: …}` for a serializer, `{index: …}` for a ListField and a `many=True` list,
    `{key: …}` for a DictField, and `non_field_errors` for the object (or list) itself,
    which is where its path ends; a list holds the messages at one path."""
    if isinstance(detail, dict):
        for key, sub in detail.items():
            yield from contract_detail(sub, loc if key == api_settings.NON_FIELD_ERRORS_KEY else (*loc, key))
    elif isinstance(detail, list):
        for sub in detail:
            yield from contract_detail(sub, loc)
    else:
        yield {"loc": list(loc), "msg": str(detail), "type": getattr(detail, "code", None) or "invalid"}


class JSONBodyView(APIView):
    """A POST endpoint taking a JSON body."""

    parser_classes = [ContractJSONParser]

    def validated(self, serializer_class, request) -> dict:
        if not errors.is_json_media_type(request.content_type):
            raise UnsupportedMediaType(request.content_type)
        if request.stream is None:  # no body: DRF would hand the serializer {}
            raise ParseError("empty body")
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class Health(APIView):
    def get(self, request):
        return Response({"status": "ok"})


def prediction(id, score, label, top_features):
    row = {"id": id, "score": score, "label": label}
    if top_features is not None:
        row["top_features"] = top_features
    return row


class Predict(JSONBodyView):
    def post(self, request):
        req = self.validated(PredictSerializer, request)
        # The shared model reads rows and params by attribute; DRF validates to dicts.
        rows = [SimpleNamespace(**row) for row in req["inputs"]]
        predictions = model.predictions(req["model"], rows, SimpleNamespace(**req["params"]), prediction)
        return Response({"request_id": req["request_id"], "model": req["model"], "predictions": predictions})


class Generate(JSONBodyView):
    def post(self, request):
        req = self.validated(GenerateSerializer, request)
        # A sync iterator: under WSGI gunicorn writes each chunk as it is yielded (an async
        # one would be buffered to the end). A failed write (client gone) closes it.
        events = token_events(req["seed"], req["max_tokens"], req["token_delay_ms"])
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        return response


def token_events(seed: int, max_tokens: int, token_delay_ms: int):
    for i, word in pacing.paced(seed, max_tokens, token_delay_ms):
        yield f"data: {tokens.token_data(i, word)}\n\n"
    yield f"data: {tokens.DONE}\n\n"


class Infer(JSONBodyView):
    def post(self, request):
        req = self.validated(InferSerializer, request)
        t0 = time.monotonic()
        if req["mode"] == "io":
            pacing.io_wait_sync(req["latency_ms"], t0)
            score = model.infer_io(req["features"])
        else:
            # On this gthread worker thread: gunicorn's thread pool is the framework's.
            score = model.infer_cpu(req["features"], req["work"])
        return Response({"score": score, "label": c.label(score, c.INFER_THRESHOLD), "mode": req["mode"]})


class ChatCompletions(JSONBodyView):
    def post(self, request):
        req = self.validated(ChatSerializer, request)
        body = gateway.forwarded_body(
            req["model"],
            ((m["role"], m["content"]) for m in req["messages"]),
            req["stream"],
            req.get("max_tokens"),
            req.get("max_completion_tokens"),
            req.get("temperature"),
        )
        if not req["stream"]:
            return Response(gateway_sync.complete(body))
        # A sync iterator, as Generate's: gunicorn writes each event as it is yielded, and a
        # failed write (caller gone) closes it, which closes the upstream stream.
        response = StreamingHttpResponse(gateway_sync.open_stream(body), content_type=gateway.SSE_MEDIA_TYPE)
        response["Cache-Control"] = "no-cache"
        return response
