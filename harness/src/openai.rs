//! OpenAI's streaming chat format as the `chat` workload reads it: which chunk carries
//! output, and one stream's figures by our definitions and by vLLM's client rule
//! (docs/metrics.md, "Chat"). It is the one place these rules live: the driver feeds it each
//! event as it arrives, and the cross-check against `scripts/openai_metrics.py` feeds it
//! recorded streams, so both read the same code.
//!
//! Only `choices[0]` is read. An **output chunk** is one whose delta carries `content` (a
//! string), `reasoning_content` or `reasoning` (strings), or a non-empty `tool_calls` list,
//! except that beside a `role` only non-empty strings count: the role-only opening chunk
//! (`{"role":"assistant","content":""}`, vLLM's first chunk) is not output; an empty content
//! string without a role is.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;

/// What one data event of a stream is.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// `choices[0]` carries output; `reasoning` when that output includes reasoning.
    Output { reasoning: bool, usage: Option<u64> },
    /// Non-empty `choices` without output: the role-only chunk, the finish chunk.
    Choices { usage: Option<u64> },
    /// Empty `choices`, with `usage.completion_tokens` when it has them (the usage chunk).
    Empty { usage: Option<u64> },
    /// An `{"error": …}` object: the stream failed.
    Error(String),
    /// Not a JSON object.
    NotJson,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(default, borrow)]
    choices: Vec<WireChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize, Default)]
struct Delta<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Classifies one SSE data field (not `[DONE]`).
pub fn classify(data: &str) -> Chunk {
    let Ok(w) = serde_json::from_str::<Wire>(data) else { return Chunk::NotJson };
    if let Some(e) = w.error {
        let msg = e.get("message").and_then(|m| m.as_str()).map_or_else(|| e.to_string(), str::to_owned);
        return Chunk::Error(msg);
    }
    // Usage may ride on any chunk (vLLM's continuous usage stats put it on every one).
    let usage = w.usage.and_then(|u| u.completion_tokens);
    let Some(first) = w.choices.first() else { return Chunk::Empty { usage } };
    let none = Delta::default();
    let d = first.delta.as_ref().unwrap_or(&none);
    // Beside a role, an empty string is the role chunk's placeholder, not output.
    let counts = |s: &Option<Cow<str>>| s.as_ref().is_some_and(|s| d.role.is_none() || !s.is_empty());
    let tools = d.tool_calls.as_ref().is_some_and(|t| !t.is_empty());
    let reasoning = counts(&d.reasoning_content) || counts(&d.reasoning);
    if counts(&d.content) || tools || reasoning { Chunk::Output { reasoning, usage } } else { Chunk::Choices { usage } }
}

/// One stream as it arrives: times are offsets from the request's send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatStream {
    /// The first chunk with non-empty `choices` (vLLM's first token).
    pub first_choices: Option<Duration>,
    /// Every output chunk.
    pub output_at: Vec<Duration>,
    pub reasoning_chunks: u64,
    /// `usage.completion_tokens`, when the stream sent it.
    pub usage_tokens: Option<u64>,
    /// `[DONE]` arrived (what follows it is not read).
    pub done: bool,
    /// Why the stream failed, if an event said so (an error object, a non-JSON event).
    pub error: Option<String>,
}

/// One stream's figures (docs/metrics.md, "Chat").
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// From the start (scheduled or send time) to the first output chunk.
    pub ttft: Option<Duration>,
    /// vLLM's client rule: from the send to the first chunk with non-empty `choices`.
    pub ttft_vllm: Option<Duration>,
    /// From the start to the last output chunk.
    pub e2el: Option<Duration>,
    /// Output tokens: `usage.completion_tokens`, else the output chunks.
    pub output_tokens: u64,
    pub tokens_from_usage: bool,
    /// (E2EL − TTFT) ÷ (tokens − 1), for at least 2 tokens.
    pub tpot: Option<Duration>,
    /// `[DONE]` arrived, no error before it, at least one output chunk.
    pub complete: bool,
}

impl ChatStream {
    /// One data event `data`, arrived `at` after the send.
    pub fn event(&mut self, at: Duration, data: &str) {
        if self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let usage = match classify(data) {
            Chunk::Output { reasoning, usage } => {
                self.first_choices.get_or_insert(at);
                self.output_at.push(at);
                self.reasoning_chunks += u64::from(reasoning);
                usage
            }
            Chunk::Choices { usage } => {
                self.first_choices.get_or_insert(at);
                usage
            }
            Chunk::Empty { usage } => usage,
            Chunk::Error(msg) => {
                self.error.get_or_insert(format!("error event: {msg}"));
                None
            }
            Chunk::NotJson => {
                self.error.get_or_insert_with(|| format!("event is not a JSON object: {:.80}", data));
                None
            }
        };
        // The last count given wins (a running count grows to the total).
        if usage.is_some() {
            self.usage_tokens = usage;
        }
    }

    /// Why the stream is not complete, if it is not.
    pub fn broken(&self) -> Option<String> {
        if let Some(e) = &self.error {
            Some(e.clone())
        } else if !self.done {
            Some("no [DONE]".into())
        } else if self.output_at.is_empty() {
            Some("no output chunk".into())
        } else {
            None
        }
    }

    /// Its figures, its start `lead` before the send (the open loop's wait from the
    /// scheduled time; zero for the closed loop).
    pub fn figures(&self, lead: Duration) -> Figures {
        let ttft = self.output_at.first().map(|&t| t + lead);
        let e2el = self.output_at.last().map(|&t| t + lead);
        let (output_tokens, tokens_from_usage) = match self.usage_tokens {
            Some(n) => (n, true),
            None => (self.output_at.len() as u64, false),
        };
        let tpot = match (ttft, e2el) {
            (Some(a), Some(b)) if output_tokens >= 2 => Some((b - a) / (output_tokens as u32 - 1).max(1)),
            _ => None,
        };
        Figures {
            ttft,
            ttft_vllm: self.first_choices,
            e2el,
            output_tokens,
            tokens_from_usage,
            tpot,
            complete: self.broken().is_none(),
        }
    }

    /// The gaps between consecutive output chunks (ITL).
    pub fn itl(&self) -> impl Iterator<Item = Duration> + '_ {
        self.output_at.windows(2).map(|w| w[1].saturating_sub(w[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(delta: &str) -> String {
        format!(
            r#"{{"id":"x","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
        )
    }

    #[test]
    fn the_role_chunk_is_not_output_and_an_empty_content_string_is() {
        const OUT: Chunk = Chunk::Output { reasoning: false, usage: None };
        const CHOICES: Chunk = Chunk::Choices { usage: None };
        assert_eq!(classify(&chunk(r#"{"role":"assistant","content":""}"#)), CHOICES);
        assert_eq!(classify(&chunk(r#"{"role":"assistant"}"#)), CHOICES);
        assert_eq!(classify(&chunk(r#"{"content":""}"#)), OUT);
        assert_eq!(classify(&chunk(r#"{"role":"assistant","content":"Hi"}"#)), OUT);
        assert_eq!(classify(&chunk(r#"{"content":null}"#)), CHOICES);
        assert_eq!(classify(&chunk("{}")), CHOICES, "the finish chunk");
        let reasoning = Chunk::Output { reasoning: true, usage: None };
        assert_eq!(classify(&chunk(r#"{"reasoning_content":"hm"}"#)), reasoning);
        assert_eq!(classify(&chunk(r#"{"reasoning":"hm","content":"a"}"#)), reasoning);
        assert_eq!(classify(&chunk(r#"{"tool_calls":[{"index":0}]}"#)), OUT);
        assert_eq!(classify(&chunk(r#"{"tool_calls":[]}"#)), CHOICES);
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7}}"#;
        assert_eq!(classify(usage), Chunk::Empty { usage: Some(7) });
        assert_eq!(classify(r#"{"choices":[]}"#), Chunk::Empty { usage: None });
        let running = r#"{"choices":[{"delta":{"content":"a"}}],"usage":{"completion_tokens":2}}"#;
        assert_eq!(classify(running), Chunk::Output { reasoning: false, usage: Some(2) });
        assert_eq!(classify(r#"{"error":{"message":"boom"}}"#), Chunk::Error("boom".into()));
        assert_eq!(classify("not json"), Chunk::NotJson);
        assert_eq!(classify("[1, 2]"), Chunk::NotJson);
        assert_eq!(classify(&chunk(r#"{"content":"caf\u00e9 \"q\""}"#)), OUT);
    }

    /// A stream with a role chunk at 1 ms, output at 60, 70, 80 ms (the last of 2 tokens),
    /// a finish chunk, usage (4 tokens) and [DONE]; sent 5 ms after its scheduled time.
    #[test]
    fn figures_follow_the_definitions() {
        let ms = Duration::from_millis;
        let mut s = ChatStream::default();
        s.event(ms(1), &chunk(r#"{"role":"assistant","content":""}"#));
        for t in [60, 70, 80] {
            s.event(ms(t), &chunk(r#"{"content":"w "}"#));
        }
        s.event(ms(80), &chunk("{}"));
        s.event(ms(81), r#"{"choices":[],"usage":{"completion_tokens":4}}"#);
        s.event(ms(81), "[DONE]");
        let f = s.figures(ms(5));
        assert_eq!(f.ttft, Some(ms(65)));
        assert_eq!(f.ttft_vllm, Some(ms(1)), "vLLM's rule: the role chunk, from the send");
        assert_eq!(f.e2el, Some(ms(85)), "the finish and usage chunks do not count");
        assert_eq!((f.output_tokens, f.tokens_from_usage), (4, true));
        assert_eq!(f.tpot, Some(ms(20) / 3));
        assert!(f.complete);
        assert_eq!(s.itl().collect::<Vec<_>>(), [ms(10), ms(10)]);
        // Without usage the output chunks are the tokens (the fallback).
        s.usage_tokens = None;
        let f = s.figures(Duration::ZERO);
        assert_eq!((f.output_tokens, f.tokens_from_usage, f.tpot), (3, false, Some(ms(10))));
    }

    #[test]
    fn a_stream_without_done_or_with_an_error_is_broken() {
        let ms = Duration::from_millis;
        let mut s = ChatStream::default();
        s.event(ms(10), &chunk(r#"{"content":"a"}"#));
        assert_eq!(s.broken().as_deref(), Some("no [DONE]"));
        s.event(ms(11), r#"{"error":{"message":"overloaded"}}"#);
        s.event(ms(12), "[DONE]");
        assert_eq!(s.broken().as_deref(), Some("error event: overloaded"));
        assert!(!s.figures(Duration::ZERO).complete);
        let mut empty = ChatStream::default();
        empty.event(ms(1), "[DONE]");
        assert_eq!(empty.broken().as_deref(), Some("no output chunk"));
        // What follows [DONE] is not read.
        let mut late = s.clone();
        late.error = None;
        late.event(ms(13), &chunk(r#"{"content":"b"}"#));
        assert_eq!((late.broken(), late.output_at.len()), (None, 1));
    }
}
