//! Deterministic request sets. Each entry is a conformance [`Case`] (so its expectation is
//! the corpus's own kind: status, exact body, `loc`) plus its request bytes, prepared once
//! before a run so that the timed loop only clones a `Bytes`.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use workloads::conformance::{Body, Case, Expect, reference};
use workloads::payloads;

use crate::results::Workload;

/// One prepared request.
#[derive(Debug)]
pub struct Prepared {
    pub case: Case,
    pub method: hyper::Method,
    pub path: hyper::Uri,
    pub content_type: Option<hyper::header::HeaderValue>,
    pub body: Bytes,
    /// For `/v1/generate`: what the SSE stream must contain.
    pub stream: Option<StreamExpect>,
    /// An OpenAI streaming chat completion: its answer is read as OpenAI's chunks
    /// (`crate::openai`).
    pub openai: bool,
}

/// How an answer streams, for what the recorder counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Streamed {
    No,
    /// Our contract's token events (generate).
    Tokens,
    /// OpenAI's chat chunks (chat).
    Chat,
}

impl Prepared {
    pub fn streamed(&self) -> Streamed {
        if self.openai {
            Streamed::Chat
        } else if self.stream.is_some() {
            Streamed::Tokens
        } else {
            Streamed::No
        }
    }
}

/// What the chat workload sends (docs/metrics.md, "Chat").
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequests {
    pub model: String,
    pub max_tokens: u64,
    /// Distinct prompts in the cycle.
    pub prompts: usize,
    /// The user prompt's length in words, drawn per prompt from these (seeded).
    pub prompt_words: Vec<u64>,
    pub seed: u64,
}

/// The events a generate request must produce.
#[derive(Debug, Clone)]
pub struct StreamExpect {
    pub token_delay_ms: u64,
    /// The token words in order (`workloads::tokens::token_words`).
    pub words: Vec<&'static str>,
}

/// The requests a workload cycles through, in a fixed order.
#[derive(Debug, Clone)]
pub struct PayloadSet {
    pub name: String,
    pub entries: Arc<Vec<Prepared>>,
    /// The shortest time one exchange takes by construction (a stream's token delays, an
    /// io request's latency); warm-ups and windows are stretched to cover several of them.
    pub exchange_floor: std::time::Duration,
    /// The `chat` objectives each request is judged against for goodput (`--slo`).
    pub chat_limits: crate::slo::ChatLimits,
}

impl PayloadSet {
    fn new(name: &str, cases: Vec<Case>) -> Self {
        let entries: Vec<Prepared> = cases
            .into_iter()
            .map(|mut case| {
                // Fill the exact expected body from the in-process reference, as the corpus does.
                let contract_answer = !matches!(case.path.as_str(), "/v1/generate" | CHAT_PATH);
                if case.expect.status == 200 && case.expect.json.is_none() && contract_answer {
                    case.expect.json = serde_json::from_slice(&reference::answer(&case).body).ok();
                }
                let stream = match &case.body {
                    Body::Json(v) if case.path == "/v1/generate" && case.expect.status == 200 => Some(StreamExpect {
                        token_delay_ms: v["token_delay_ms"].as_u64().unwrap_or(20),
                        words: workloads::tokens::token_words(
                            v["seed"].as_u64().unwrap_or(0),
                            v["max_tokens"].as_u64().unwrap_or(0),
                        ),
                    }),
                    _ => None,
                };
                Prepared {
                    openai: case.path == CHAT_PATH,
                    stream,
                    method: case.method.parse().expect("valid method"),
                    path: case.path.parse().expect("valid path"),
                    content_type: case
                        .headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                        .map(|(_, v)| v.parse().expect("valid header")),
                    body: Bytes::from(case.body.bytes()),
                    case,
                }
            })
            .collect();
        let exchange_floor = entries
            .iter()
            .map(|e: &Prepared| match (&e.stream, &e.case.body) {
                (Some(s), _) => std::time::Duration::from_millis(s.token_delay_ms * s.words.len() as u64),
                (None, Body::Json(v)) if v["mode"] == "io" => {
                    std::time::Duration::from_millis(v["latency_ms"].as_u64().unwrap_or(100))
                }
                _ => std::time::Duration::ZERO,
            })
            .min()
            .unwrap_or_default();
        Self { name: name.into(), entries: Arc::new(entries), exchange_floor, chat_limits: Default::default() }
    }

    /// Request `i` of the cycle.
    pub fn get(&self, i: u64) -> &Prepared {
        &self.entries[(i % self.entries.len() as u64) as usize]
    }

    /// `GET /health`.
    pub fn health() -> Self {
        Self::new(Workload::Health.name(), vec![case("health", "GET", "/health", Body::None, 200, None)])
    }

    /// The predict mix (docs/metrics.md, "Workloads"): per 100 requests, 60 of 1 row, 30 of
    /// 16 rows, 10 of 128 rows by size; 10 of the 100 are invalid, each expecting its 422
    /// with the exact `loc`. Models alternate. The order is a fixed interleaving.
    pub fn predict(seed: u64) -> Self {
        let mut cases = Vec::with_capacity(100);
        for i in 0..100u64 {
            let rows = match i % 10 {
                0..=5 => 1,
                6..=8 => 16,
                _ => 128,
            };
            let model = if i % 2 == 0 { "linear" } else { "mlp" };
            let mut body = payloads::predict(rows, model, seed.wrapping_add(i));
            let name = format!("predict-{rows}rows-{model}-{i}");
            // Every tenth request (offset so that sizes vary) breaks one rule.
            if i % 10 == 3 {
                let (ptr, value, loc) = INVALID[(i / 10) as usize % INVALID.len()];
                set_pointer(&mut body, ptr, value());
                cases.push(case(&name, "POST", "/v1/predict", Body::Json(body), 422, Some(loc())));
            } else {
                if i % 7 == 0 {
                    body["params"] = json!({"explain": true, "top_k": 5});
                }
                cases.push(case(&name, "POST", "/v1/predict", Body::Json(body), 200, None));
            }
        }
        Self::new(Workload::Predict.name(), cases)
    }

    /// `POST /v1/generate`: 16 streams with different seeds, each of `max_tokens` tokens
    /// `token_delay_ms` apart.
    pub fn generate(max_tokens: u64, token_delay_ms: u64) -> Self {
        let cases = (0..16u64)
            .map(|seed| {
                let body = payloads::generate(max_tokens, token_delay_ms, seed);
                case(
                    &format!("generate-{max_tokens}x{token_delay_ms}ms-seed{seed}"),
                    "POST",
                    "/v1/generate",
                    Body::Json(body),
                    200,
                    None,
                )
            })
            .collect();
        Self::new(Workload::Generate.name(), cases)
    }

    /// `POST /v1/infer` in io mode: 16 feature vectors, each awaited `latency_ms` by the server.
    pub fn infer_io(latency_ms: u64) -> Self {
        let cases = (0..16u64)
            .map(|seed| {
                let body = payloads::infer_io(latency_ms, seed);
                case(&format!("infer-io-{latency_ms}ms-seed{seed}"), "POST", "/v1/infer", Body::Json(body), 200, None)
            })
            .collect();
        Self::new(Workload::InferIo.name(), cases)
    }

    /// `POST /v1/infer` in cpu mode: 16 feature vectors, each costing `work` model passes.
    pub fn infer_cpu(work: u64) -> Self {
        let cases = (0..16u64)
            .map(|seed| {
                let body = payloads::infer_cpu(work, seed);
                case(&format!("infer-cpu-{work}-seed{seed}"), "POST", "/v1/infer", Body::Json(body), 200, None)
            })
            .collect();
        Self::new(Workload::InferCpu.name(), cases)
    }

    /// `POST /v1/chat/completions`, streamed with usage: `c.prompts` prompts, each a short
    /// system message and a user message of one of `c.prompt_words` lengths (seeded), all
    /// asking for `c.max_tokens` tokens under both names (`max_tokens`, and
    /// `max_completion_tokens`, which newer servers want).
    pub fn chat(c: &ChatRequests, limits: crate::slo::ChatLimits) -> Self {
        let mut rng = workloads::model::SplitMix64::new(c.seed);
        let cases = (0..c.prompts as u64)
            .map(|i| {
                let words = c.prompt_words[(rng.next_u64() % c.prompt_words.len().max(1) as u64) as usize];
                let user = workloads::tokens::token_words(c.seed.wrapping_add(i), words).join(" ");
                let body = json!({
                    "model": c.model,
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
                        {"role": "user", "content": user},
                    ],
                    "stream": true,
                    "stream_options": {"include_usage": true},
                    "max_tokens": c.max_tokens,
                    "max_completion_tokens": c.max_tokens,
                });
                case(&format!("chat-{words}words-{i}"), "POST", CHAT_PATH, Body::Json(body), 200, None)
            })
            .collect();
        Self { chat_limits: limits, ..Self::new(Workload::Chat.name(), cases) }
    }

    /// How a refused connection counts: a failed chat request also fails its TTFT and E2EL;
    /// a generate stream that never started is not an incomplete stream.
    pub fn connect_failure_kind(&self) -> Streamed {
        match self.entries.first().map(Prepared::streamed) {
            Some(Streamed::Chat) => Streamed::Chat,
            _ => Streamed::No,
        }
    }

    /// Number of invalid entries (for docs and tests).
    pub fn invalid_share(&self) -> f64 {
        let bad = self.entries.iter().filter(|e| e.case.expect.status != 200).count();
        bad as f64 / self.entries.len() as f64
    }
}

/// OpenAI's chat completions path.
pub const CHAT_PATH: &str = "/v1/chat/completions";

type Make = fn() -> serde_json::Value;

/// Invalid variants: JSON pointer, the bad value, and the `loc` the contract demands.
const INVALID: &[(&str, Make, Make)] = &[
    ("/inputs/0/features/7", || json!(1000.5), || json!(["body", "inputs", 0, "features", 7])),
    ("/request_id", || json!("short"), || json!(["body", "request_id"])),
    ("/inputs/0/timestamp", || json!("2026-11-21T10:00:00"), || json!(["body", "inputs", 0, "timestamp"])),
    ("/model", || json!("forest"), || json!(["body", "model"])),
    ("/params", || json!({"top_k": 0}), || json!(["body", "params", "top_k"])),
];

fn set_pointer(v: &mut serde_json::Value, ptr: &str, new: serde_json::Value) {
    let (parent, key) = ptr.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent).expect("pointer target exists") {
        serde_json::Value::Object(m) => {
            m.insert(key.into(), new);
        }
        serde_json::Value::Array(a) => a[key.parse::<usize>().expect("index")] = new,
        _ => unreachable!("pointers name containers"),
    }
}

fn case(name: &str, method: &str, path: &str, body: Body, status: u16, loc: Option<serde_json::Value>) -> Case {
    let mut c = Case::new(name, method, path, body);
    c.expect = Expect { status, loc: loc.map(|l| l.as_array().expect("loc is an array").clone()), ..Expect::default() };
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_mix_matches_its_documentation() {
        let set = PayloadSet::predict(1);
        assert_eq!(set.entries.len(), 100);
        assert!((set.invalid_share() - 0.10).abs() < 1e-9);
        let rows =
            |n: usize| set.entries.iter().filter(|e| e.case.name.starts_with(&format!("predict-{n}rows"))).count();
        assert_eq!((rows(1), rows(16), rows(128)), (60, 30, 10));
    }

    /// Every prepared expectation holds against the shared rules, so a failed check under
    /// load is the target's fault.
    #[test]
    fn every_entry_is_consistent_with_the_reference() {
        for set in [PayloadSet::health(), PayloadSet::predict(7), PayloadSet::infer_io(0), PayloadSet::infer_cpu(3)] {
            for e in set.entries.iter() {
                let got = reference::answer(&e.case);
                assert!(workloads::conformance::check(&e.case, &got).is_ok(), "{}", e.case.name);
            }
        }
    }
}
