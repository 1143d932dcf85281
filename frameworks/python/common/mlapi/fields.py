"""The contract's field rules as pydantic v2 annotated types, composed into request models by
the FastAPI, Django Ninja and Flask targets (each with its own model classes).

Models using them set `strict=True`: no coercion between strings, numbers and booleans, and
an integer field rejects 3.0 and 1e2. `null` is refused everywhere because no field type
admits `None`; optional fields have defaults instead.
"""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

from . import contract as c

Feature = Annotated[float, Field(ge=c.FEATURE_MIN, le=c.FEATURE_MAX, allow_inf_nan=False)]
Features = Annotated[list[Feature], Field(min_length=c.FEATURES, max_length=c.FEATURES)]

RequestId = Annotated[
    str, Field(min_length=c.REQUEST_ID_MIN, max_length=c.REQUEST_ID_MAX, pattern=c.REQUEST_ID_PATTERN)
]
ModelName = Literal["linear", "mlp"]
RowId = Annotated[str, Field(min_length=c.ROW_ID_MIN, max_length=c.ROW_ID_MAX)]
TagKey = Annotated[str, Field(min_length=c.TAG_KEY_MIN, max_length=c.TAG_KEY_MAX, pattern=c.TAG_KEY_PATTERN)]
TagValue = Annotated[str, Field(min_length=c.TAG_VALUE_MIN, max_length=c.TAG_VALUE_MAX)]
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=c.TAGS_MAX)]


def _string_only(value):
    # Strict datetimes accept only datetime objects when validating Python values (what
    # FastAPI and Ninja do after json.loads); lax ones also take numbers as Unix times. The
    # contract wants an RFC 3339 string, so: lax parsing, of strings only.
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Input should be an RFC 3339 date-time string")
    return value


#: RFC 3339 date-time with a UTC offset; a naive time or a date alone is a 422.
Timestamp = Annotated[AwareDatetime, Strict(False), BeforeValidator(_string_only)]

Threshold = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
TopK = Annotated[int, Field(ge=c.TOP_K_MIN, le=c.TOP_K_MAX)]

Prompt = Annotated[str, Field(min_length=c.PROMPT_MIN, max_length=c.PROMPT_MAX)]
MaxTokens = Annotated[int, Field(ge=c.MAX_TOKENS_MIN, le=c.MAX_TOKENS_MAX)]
TokenDelay = Annotated[int, Field(ge=0, le=c.TOKEN_DELAY_MAX)]
Seed = Annotated[int, Field(ge=0, le=c.SEED_MAX)]

ChatModel = Annotated[str, Field(min_length=c.CHAT_MODEL_MIN, max_length=c.CHAT_MODEL_MAX)]
Role = Literal["system", "user", "assistant"]
Content = Annotated[str, Field(max_length=c.CONTENT_MAX)]
Temperature = Annotated[float, Field(ge=c.TEMPERATURE_MIN, le=c.TEMPERATURE_MAX, allow_inf_nan=False)]

Mode = Literal["io", "cpu"]
LatencyMs = Annotated[int, Field(ge=0, le=c.LATENCY_MAX)]
Work = Annotated[int, Field(ge=c.WORK_MIN, le=c.WORK_MAX)]
