#!/usr/bin/env python3
"""Per-stream TTFT / ITL / E2EL / TPOT of recorded OpenAI chat-completion streams.

Usage: python3 scripts/openai_metrics.py STREAMS.jsonl [--vllm-rules] | --self-test

Input, a JSON object a line (integer us, one clock; SSE data events in arrival order):
  {"start_us", "sent_us", "events": [{"t_us", "data"}, ...], "body_complete"}
Output, a line per stream in input order: {"ttft_us", "itl_us", "e2el_us", "output_tokens",
  "token_source", "tpot_us", "output_chunks", "reasoning_chunks", "complete"}

Our rules (docs/metrics.md). Only choices[0] is read. An *output chunk* is one whose
choices[0].delta carries `content`, `reasoning_content` or `reasoning` as a string, or a
non-empty `tool_calls` list; when the delta also has `role`, its strings count only when
non-empty (the opening {"role":"assistant","content":""} is not output; "" without a role
is). Events after [DONE] are ignored.
  TTFT = first output chunk - start_us.  ITL = gaps between consecutive output chunks.
  E2EL = last output chunk - start_us (finish chunk, usage chunk, [DONE] do not count).
  output_tokens = usage.completion_tokens (last usage seen) else the output-chunk count
  (token_source "chunks").  TPOT = (E2EL - TTFT) / (output_tokens - 1) when >= 2 tokens.
  reasoning_chunks = output chunks carrying reasoning.  complete = [DONE] seen, no
  {"error": ...} event, no unparsable event, at least one output chunk, and body_complete
  (a cut body is a failure).

--vllm-rules: `vllm bench serve --backend openai-chat` as read in
vllm/benchmarks/lib/endpoint_request_func.py @ 02cfb534df5674737558730b10f23d1b7aef9b7c
(async_request_openai_chat_completions) and vllm/benchmarks/serve.py
@ 009e6d4a1cd6ba3fb2a9fc00f4ec06f5297232a1 (calculate_metrics):
  clock = sent_us (vLLM takes perf_counter() just before session.post).
  Every data event but [DONE] is json-parsed (vLLM does not stop at [DONE]). A chunk whose
  `choices` is non-empty is a "token": the first sets TTFT (so the role-only opening chunk
  counts), each later one appends (t - previous such chunk) to ITL (the finish chunk with
  an empty delta counts), and each moves the request end: E2EL = last such chunk - sent.
  A chunk with empty choices and a usage object sets output_tokens = completion_tokens and
  moves no timer. An {"error": ...} event has neither and is ignored.
  output_tokens: usage.completion_tokens when truthy; else vLLM re-tokenises the concatenated
  delta.content with the model's tokenizer (or takes 1 under --skip-tokenizer-init). No
  tokenizer here: the fallback counts chunks with non-empty delta.content (one token per
  chunk, as vLLM's server streams by default), token_source "chunks".
  TPOT = (E2EL - TTFT) / (output_tokens - 1) when output_tokens > 1, else null.
  complete = vLLM's `success`: at least one non-empty-choices chunk, no exception (an
  unparsable event, a choice without `delta`, a cut body: aiohttp raises), [DONE] not needed.
  output_chunks = chunks with non-empty choices; reasoning_chunks counts deltas with non-empty
  reasoning_content/reasoning, for information only (vLLM ignores reasoning).
For an incomplete stream the timing fields are informational (vLLM drops failed requests).
"""
import argparse
import json
import sys


def _ours(s):
    start, times, reasoning, usage, done, bad = s["start_us"], [], 0, None, False, False
    for ev in s["events"]:
        if ev["data"].strip() == "[DONE]":
            done = True
            break
        try:
            obj = json.loads(ev["data"])
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or obj.get("error") is not None:
            bad = True  # unparsable, not an object, or an {"error": ...} event
            continue
        u = obj.get("usage")
        if isinstance(u, dict) and type(u.get("completion_tokens")) is int:
            usage = u["completion_tokens"]
        choices = obj.get("choices")
        ok = isinstance(choices, list) and choices and isinstance(choices[0], dict)
        delta = choices[0].get("delta") if ok else None
        if not isinstance(delta, dict):
            continue
        role = delta.get("role") is not None
        counts = lambda v: isinstance(v, str) and (v != "" or not role)  # noqa: E731
        rsn = counts(delta.get("reasoning_content")) or counts(delta.get("reasoning"))
        tools = isinstance(delta.get("tool_calls"), list) and len(delta["tool_calls"]) > 0
        if counts(delta.get("content")) or rsn or tools:
            times.append(ev["t_us"])
            reasoning += rsn
    tokens, source = (usage, "usage") if usage is not None else (len(times), "chunks")
    complete = done and not bad and bool(times) and bool(s.get("body_complete", True))
    return _result(start, times, tokens, source, len(times), reasoning, complete)


def _vllm(s):
    st, times, content_chunks, reasoning, usage, ok = s["sent_us"], [], 0, 0, None, True
    for ev in s["events"]:
        data = ev["data"].strip()
        if data == "[DONE]":
            continue
        try:
            obj = json.loads(data)
            choices = obj.get("choices")
            if choices:
                delta = choices[0]["delta"]
                content = delta.get("content")
                if content and not isinstance(content, str):
                    raise TypeError("content")
                times.append(ev["t_us"])
                content_chunks += bool(content)
                reasoning += bool(delta.get("reasoning_content") or delta.get("reasoning"))
            elif u := obj.get("usage"):
                usage = u.get("completion_tokens")
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            ok = False  # vLLM's except: the request fails
            break
    good = type(usage) is int and usage > 0  # vLLM: `if not output_len` -> fallback
    tokens, source = (usage, "usage") if good else (content_chunks, "chunks")
    complete = ok and bool(s.get("body_complete", True)) and bool(times)
    return _result(st, times, tokens, source, len(times), reasoning, complete)


def _result(t0, times, tokens, source, chunks, reasoning, complete):
    ttft = times[0] - t0 if times else None
    e2el = times[-1] - t0 if times else None
    tpot = (e2el - ttft) / (tokens - 1) if times and tokens >= 2 else None
    return {"ttft_us": ttft, "itl_us": [b - a for a, b in zip(times, times[1:])],
            "e2el_us": e2el, "output_tokens": tokens, "token_source": source,
            "tpot_us": tpot, "output_chunks": chunks, "reasoning_chunks": reasoning,
            "complete": complete}


def _stream(events, start=0, sent=0, body_complete=True):
    ev = [{"t_us": t, "data": d if isinstance(d, str) else json.dumps(d)} for t, d in events]
    return {"start_us": start, "sent_us": sent, "events": ev, "body_complete": body_complete}


def self_test():
    def ch(delta, finish=None):
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    role, fin = ch({"role": "assistant", "content": ""}), ch({}, "stop")
    c = lambda x: ch({"content": x})  # noqa: E731
    usage = lambda n: {"choices": [], "usage": {"completion_tokens": n}}  # noqa: E731
    cases = [  # (name, stream, our expected subset, vLLM expected subset)
        ("role+usage", _stream([(1000, role), (2000, c("a")), (3000, c("b")), (4500, c("c")),
                                (5000, fin), (5200, usage(3)), (5300, "[DONE]")], sent=100),
         dict(ttft_us=2000, itl_us=[1000, 1500], e2el_us=4500, output_tokens=3,
              token_source="usage", tpot_us=1250.0, output_chunks=3, complete=True),
         dict(ttft_us=900, itl_us=[1000, 1000, 1500, 500], e2el_us=4900, output_tokens=3,
              tpot_us=2000.0, output_chunks=5, complete=True)),
        ("no role, no usage", _stream([(2000, c("a")), (3000, c("b")), (3500, fin),
                                       (3600, "[DONE]")]),
         dict(ttft_us=2000, itl_us=[1000], e2el_us=3000, output_tokens=2,
              token_source="chunks", tpot_us=1000.0, complete=True),
         dict(ttft_us=2000, itl_us=[1000, 500], e2el_us=3500, output_tokens=2,
              token_source="chunks", tpot_us=1500.0, complete=True)),
        ("2-token chunks", _stream([(2000, c("ab")), (3000, c("cd")), (3200, fin),
                                    (3300, usage(4)), (3400, "[DONE]")], sent=50),
         dict(ttft_us=2000, itl_us=[1000], e2el_us=3000, output_tokens=4, tpot_us=1000 / 3),
         dict(ttft_us=1950, itl_us=[1000, 200], e2el_us=3150, output_tokens=4, tpot_us=400.0)),
        ("error event", _stream([(1000, role), (2000, c("a")),
                                 (2500, {"error": {"message": "boom"}}), (2600, "[DONE]")]),
         dict(ttft_us=2000, e2el_us=2000, output_tokens=1, tpot_us=None, complete=False),
         dict(ttft_us=1000, itl_us=[1000], e2el_us=2000, output_tokens=1, tpot_us=None,
              complete=True)),
        ("missing [DONE]", _stream([(2000, c("a")), (3000, c("b")), (3100, usage(2))]),
         dict(ttft_us=2000, e2el_us=3000, output_tokens=2, tpot_us=1000.0, complete=False),
         dict(ttft_us=2000, e2el_us=3000, output_tokens=2, complete=True)),
        ("cut body", _stream([(2000, c("a"))], body_complete=False),
         dict(complete=False), dict(ttft_us=2000, complete=False)),
        ("reasoning", _stream([(1000, role), (1500, ch({"content": None,
                                                       "reasoning_content": "hm"})),
                               (2500, c("x")), (2600, usage(2)), (2700, "[DONE]")]),
         dict(ttft_us=1500, itl_us=[1000], e2el_us=2500, output_chunks=2,
              reasoning_chunks=1, tpot_us=1000.0, complete=True),
         dict(ttft_us=1000, itl_us=[500, 1000], e2el_us=2500, output_chunks=3,
              reasoning_chunks=1, tpot_us=1500.0)),
        ("empty content, no role", _stream([(1000, c("")), (2000, c("a")), (2100, "[DONE]")]),
         dict(ttft_us=1000, itl_us=[1000], output_tokens=2, tpot_us=1000.0),
         dict(ttft_us=1000, itl_us=[1000], output_tokens=1, tpot_us=None)),
        ("only role then [DONE]", _stream([(1000, role), (1100, "[DONE]")]),
         dict(ttft_us=None, e2el_us=None, output_tokens=0, complete=False),
         dict(ttft_us=1000, e2el_us=1000, output_chunks=1, complete=True)),
    ]
    for name, stream, exp_ours, exp_vllm in cases:
        for fn, exp in ((_ours, exp_ours), (_vllm, exp_vllm)):
            got = fn(stream)
            for k, v in exp.items():
                assert got[k] == v, f"{name} {fn.__name__}: {k} = {got[k]!r}, expected {v!r}"
    print("ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("streams", nargs="?", help="JSONL file of recorded streams ('-' = stdin)")
    ap.add_argument("--vllm-rules", action="store_true", help="apply vLLM's rules")
    ap.add_argument("--self-test", action="store_true", help="run built-in cases, print ok")
    args = ap.parse_args()
    if args.self_test or not args.streams:
        return self_test() if args.self_test else ap.error("STREAMS.jsonl is required")
    fn = _vllm if args.vllm_rules else _ours
    with sys.stdin if args.streams == "-" else open(args.streams, encoding="utf-8") as src:
        for line in filter(str.strip, src):
            print(json.dumps(fn(json.loads(line))))


if __name__ == "__main__":
    main()
