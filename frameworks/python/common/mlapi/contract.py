"""The contract's numbers (docs/contract.md), named once for every Python target."""

#: Largest accepted request body, announced or chunked; one byte more is a 413.
BODY_LIMIT = 1_048_576

FEATURES = 32
FEATURE_MIN = -1000.0
FEATURE_MAX = 1000.0

REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
REQUEST_ID_MIN, REQUEST_ID_MAX = 8, 64
ROW_ID_MIN, ROW_ID_MAX = 1, 64
ROWS_MIN, ROWS_MAX = 1, 256
TAGS_MAX = 16
TAG_KEY_PATTERN = r"^[a-z0-9_]+$"
TAG_KEY_MIN, TAG_KEY_MAX = 1, 32
TAG_VALUE_MIN, TAG_VALUE_MAX = 1, 64
THRESHOLD_DEFAULT = 0.5
TOP_K_MIN, TOP_K_MAX, TOP_K_DEFAULT = 1, 32, 3

PROMPT_MIN, PROMPT_MAX = 1, 8192
MAX_TOKENS_MIN, MAX_TOKENS_MAX = 1, 4096
TOKEN_DELAY_MAX, TOKEN_DELAY_DEFAULT = 1000, 20
SEED_MAX, SEED_DEFAULT = 2**53 - 1, 0

LATENCY_MAX, LATENCY_DEFAULT = 60_000, 100
WORK_MIN, WORK_MAX, WORK_DEFAULT = 1, 100_000, 1000

CHAT_MODEL_MIN, CHAT_MODEL_MAX = 1, 256
MESSAGES_MIN, MESSAGES_MAX = 1, 64
CHAT_ROLES = ("system", "user", "assistant")
CONTENT_MAX = 32_768
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.0, 2.0
# The chat token limits (`max_tokens`, `max_completion_tokens`) are 1-4096, generate's.

#: Threshold of /v1/infer's label.
INFER_THRESHOLD = 0.5


def label(score: float, threshold: float) -> str:
    return "positive" if score >= threshold else "negative"
