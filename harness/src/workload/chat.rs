//! `chat`: streaming chat completions from an OpenAI-compatible server (`--api openai`):
//! closed-loop at each number of concurrent streams, then open-loop arrivals at a fraction
//! of the closed maximum (Poisson, or Gamma gaps with `--burstiness`). Its figures are
//! TTFT, ITL, TPOT and E2EL by our definitions, vLLM's TTFT beside ours, output tokens per
//! second and goodput (docs/metrics.md, "Chat"); the rules are `crate::openai`'s. Its
//! verification checks only the OpenAI part of a server ([`verify`]).

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use workloads::conformance::http::Target;
use workloads::conformance::{Body, Case, Observed};

use super::{Profile, ProfileName, Rate, Spec, Step, Window};
use crate::driver::PayloadSet;
use crate::driver::payloads::{CHAT_PATH, ChatRequests};
use crate::results::{Failure, Verification};

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Concurrent streams of the closed-loop points.
    #[serde(rename = "chat_concurrency")]
    pub concurrency: Vec<usize>,
    /// Open-loop arrivals at these fractions of the highest closed-loop median.
    #[serde(rename = "chat_open_fractions")]
    pub open_fractions: Vec<f64>,
    #[serde(rename = "chat_max_tokens")]
    pub max_tokens: u64,
    #[serde(rename = "chat_prompts")]
    pub prompts: usize,
    #[serde(rename = "chat_prompt_words")]
    pub prompt_words: Vec<u64>,
    /// The `model` of every request (`--model`; by default the first of `/v1/models`).
    #[serde(rename = "chat_model")]
    pub model: String,
    /// Its own warm-up and window: a model server's streams last seconds, not milliseconds.
    #[serde(rename = "chat_warmup_s", with = "super::secs")]
    pub warmup: Duration,
    #[serde(rename = "chat_window_s", with = "super::secs")]
    pub window: Duration,
}

pub fn settings(p: ProfileName) -> Settings {
    let (concurrency, open_fractions, max_tokens, warmup, window) = match p {
        ProfileName::Quick => (vec![4, 16], vec![0.5], 32, 2.0, 4.0),
        ProfileName::Standard => (vec![1, 16, 64], vec![0.5], 64, 3.0, 10.0),
        ProfileName::Full => (vec![1, 16, 64, 256], vec![0.5, 0.8], 64, 5.0, 30.0),
    };
    Settings {
        concurrency,
        open_fractions,
        max_tokens,
        prompts: 32,
        prompt_words: vec![16, 16, 16, 64, 64, 256],
        model: DEFAULT_MODEL.into(),
        warmup: Duration::from_secs_f64(warmup),
        window: Duration::from_secs_f64(window),
    }
}

/// The model name used until `--model` or the server's `/v1/models` gives one.
pub const DEFAULT_MODEL: &str = "mock-llm";

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.chat;
        let window = Window { warmup: s.warmup, duration: s.window, repeats: p.repeats };
        let mut steps: Vec<Step> = s
            .concurrency
            .iter()
            .map(|&connections| {
                Step::Point(super::PointPlan {
                    mode: super::PlannedMode::Closed { connections },
                    window,
                    probe_rps: None,
                })
            })
            .collect();
        steps.extend(s.open_fractions.iter().map(|&f| super::open(p, Rate::OfClosedMax(f), window)));
        steps
    }

    fn payloads(&self, p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        let s = &p.workloads.chat;
        let requests = ChatRequests {
            model: s.model.clone(),
            max_tokens: s.max_tokens,
            prompts: s.prompts,
            prompt_words: s.prompt_words.clone(),
            seed: super::SEED,
        };
        Some(PayloadSet::chat(&requests, crate::slo::ChatLimits::of(&p.slo)))
    }
}

/// The first model `GET /v1/models` lists.
pub async fn first_model(base_url: &str) -> anyhow::Result<String> {
    let target = Target::parse(base_url)?;
    let got = workloads::conformance::http::send(&target, &Case::new("models", "GET", "/v1/models", Body::None)).await?;
    anyhow::ensure!(got.status == 200, "GET {base_url}/v1/models answered {}; give --model", got.status);
    let v: serde_json::Value = serde_json::from_slice(&got.body)?;
    v["data"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("GET {base_url}/v1/models lists no model; give --model"))
}

/// The OpenAI part of a server, and only that: a non-streaming completion is well formed, a
/// stream is well-formed SSE of chat chunks ending in `[DONE]`, and a malformed request
/// gets a 4xx.
pub async fn verify(base_url: &str, model: &str) -> anyhow::Result<Verification> {
    let target = Target::parse(base_url)?;
    let request = |stream: bool| {
        json!({
            "model": model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "stream": stream,
            "stream_options": stream.then(|| json!({"include_usage": true})),
            "max_tokens": 8,
            "max_completion_tokens": 8,
        })
    };
    let cases = [
        ("chat-completion", Body::Json(request(false)), check_completion as fn(&Observed) -> Vec<String>),
        ("chat-stream", Body::Json(request(true)), check_stream),
        ("chat-malformed", Body::Text("{\"model\": ".into()), check_refused),
    ];
    let mut failures = Vec::new();
    for (name, body, check) in cases {
        let case = Case::new(name, "POST", CHAT_PATH, body);
        let reasons = match workloads::conformance::http::send(&target, &case).await {
            Ok(got) => check(&got),
            Err(e) => vec![format!("{e}")],
        };
        if !reasons.is_empty() {
            failures.push(Failure { case: name.into(), reasons });
        }
    }
    Ok(Verification { passed: failures.is_empty(), cases: 3, failures, ..Verification::default() })
}

fn check_completion(got: &Observed) -> Vec<String> {
    if got.status != 200 {
        return vec![format!("status {} (expected 200): {}", got.status, String::from_utf8_lossy(&got.body))];
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&got.body) else {
        return vec!["the body is not JSON".into()];
    };
    let mut why = Vec::new();
    if v["object"] != "chat.completion" {
        why.push(format!("object is {} (expected \"chat.completion\")", v["object"]));
    }
    if !v["choices"][0]["message"]["content"].is_string() {
        why.push("choices[0].message.content is not a string".into());
    }
    if !v["usage"]["completion_tokens"].is_u64() {
        why.push("usage.completion_tokens is missing".into());
    }
    why
}

fn check_stream(got: &Observed) -> Vec<String> {
    if got.status != 200 {
        return vec![format!("status {} (expected 200): {}", got.status, String::from_utf8_lossy(&got.body))];
    }
    let mut why = Vec::new();
    if !got.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")) {
        why.push(format!("content-type {:?} (expected text/event-stream)", got.header("content-type")));
    }
    let mut stream = crate::openai::ChatStream::default();
    for ev in workloads::sse::parse_all(&got.body) {
        stream.event(Duration::ZERO, &ev.data);
    }
    if let Some(b) = stream.broken() {
        why.push(format!("not a complete chat stream: {b}"));
    }
    why
}

fn check_refused(got: &Observed) -> Vec<String> {
    if (400..500).contains(&got.status) {
        Vec::new()
    } else {
        vec![format!("a malformed request got {} (expected a 4xx)", got.status)]
    }
}
