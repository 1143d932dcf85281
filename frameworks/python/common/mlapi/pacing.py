"""When the simulated model answers: /v1/generate's tokens and /v1/infer's io wait, on an
absolute schedule (docs/contract.md). A timer fires late by up to its resolution; a relative
sleep per token would add that lateness to every gap and to the stream, an absolute one
keeps the mean gap at the delay."""

import asyncio
import time

from . import tokens


def paced(seed: int, max_tokens: int, token_delay_ms: int):
    """Yields (index, word), token i at t0 + (i + 1) x delay, t0 being the first call: an
    absolute schedule (docs/contract.md), so a late wake-up does not push back the tokens
    after it. Blocking (time.sleep), for a synchronous framework's worker thread."""
    delay = token_delay_ms / 1000
    t0 = time.monotonic()
    for i, word in enumerate(tokens.words(seed, max_tokens)):
        time.sleep(max(0.0, t0 + (i + 1) * delay - time.monotonic()))
        yield i, word


async def apaced(seed: int, max_tokens: int, token_delay_ms: int):
    """`paced` on the event loop's timer (asyncio.sleep), never blocking a worker."""
    loop = asyncio.get_running_loop()
    delay = token_delay_ms / 1000
    t0 = loop.time()
    for i, word in enumerate(tokens.words(seed, max_tokens)):
        await asyncio.sleep(max(0.0, t0 + (i + 1) * delay - loop.time()))
        yield i, word


async def io_wait(latency_ms: int, t0: float) -> None:
    """The io mode's simulated remote call: done at t0 + latency (loop time), t0 being the
    handler's start, so time spent before the wait is part of the latency."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t0 + latency_ms / 1000 - loop.time()))


def io_wait_sync(latency_ms: int, t0: float) -> None:
    """`io_wait` for a synchronous framework: blocks its worker thread until t0 + latency
    (time.monotonic)."""
    time.sleep(max(0.0, t0 + latency_ms / 1000 - time.monotonic()))
