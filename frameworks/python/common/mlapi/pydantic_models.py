"""pydantic v2 request and response models, shared by the FastAPI, Flask and BentoML targets
(Django Ninja declares the same fields on its own `Schema` classes)."""

from pydantic import BaseModel, ConfigDict, Field

from . import contract as c
from . import model
from .fields import (
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

# Unknown fields are ignored (pydantic's default), at every level.
STRICT = ConfigDict(strict=True)


class Row(BaseModel):
    model_config = STRICT
    id: RowId
    features: Features
    tags: Tags = Field(default_factory=dict)
    timestamp: Timestamp


class Params(BaseModel):
    model_config = STRICT
    threshold: Threshold = c.THRESHOLD_DEFAULT
    top_k: TopK = c.TOP_K_DEFAULT
    explain: bool = False


class PredictRequest(BaseModel):
    model_config = STRICT
    request_id: RequestId
    model: ModelName
    inputs: list[Row] = Field(min_length=c.ROWS_MIN, max_length=c.ROWS_MAX)
    params: Params = Field(default_factory=Params)


class Prediction(BaseModel):
    id: str
    score: float
    label: str
    top_features: list[int] | None = None


class PredictResponse(BaseModel):
    request_id: str
    model: str
    predictions: list[Prediction]


class GenerateRequest(BaseModel):
    model_config = STRICT
    prompt: Prompt
    max_tokens: MaxTokens
    token_delay_ms: TokenDelay = c.TOKEN_DELAY_DEFAULT
    seed: Seed = c.SEED_DEFAULT


class InferRequest(BaseModel):
    model_config = STRICT
    features: Features
    mode: Mode
    latency_ms: LatencyMs = c.LATENCY_DEFAULT
    work: Work = c.WORK_DEFAULT


class InferResponse(BaseModel):
    score: float
    label: str
    mode: str


class ChatMessage(BaseModel):
    model_config = STRICT
    role: Role
    content: Content


class ChatRequest(BaseModel):
    model_config = STRICT
    model: ChatModel
    messages: list[ChatMessage] = Field(min_length=c.MESSAGES_MIN, max_length=c.MESSAGES_MAX)
    stream: bool = False
    # Optional without admitting null: the type refuses None, the default (not validated)
    # says the field was left out.
    max_tokens: MaxTokens = None
    max_completion_tokens: MaxTokens = None
    temperature: Temperature = None


def predict(req: PredictRequest) -> PredictResponse:
    """Scores a validated request (the shared model; no framework code)."""
    return PredictResponse(
        request_id=req.request_id,
        model=req.model,
        predictions=model.predictions(req.model, req.inputs, req.params, Prediction),
    )
