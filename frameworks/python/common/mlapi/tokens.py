"""The simulated decoder behind /v1/generate: the same words as workloads/src/tokens.rs,
from the same vocabulary file."""

from pathlib import Path

from .model import splitmix64

#: workloads/data/vocab.txt, which the Rust targets embed.
VOCAB_PATH = Path(__file__).resolve().parents[4] / "workloads" / "data" / "vocab.txt"
VOCAB: list[str] = VOCAB_PATH.read_text(encoding="utf-8").splitlines()
assert len(VOCAB) == 64, f"{VOCAB_PATH} must hold exactly 64 words"

#: The data of the final event.
DONE = "[DONE]"


def words(seed: int, max_tokens: int):
    """Yields the stream's words: VOCAB[next_i % 64] for i in 0..max_tokens."""
    g = splitmix64(seed)
    for _ in range(max_tokens):
        yield VOCAB[next(g) % 64]


def token_data(index: int, word: str) -> str:
    """The data of token event `index`. Words are [a-z]+, so no escaping is needed."""
    return f'{{"index":{index},"token":"{word}"}}'

