//! An in-process answer to any case, straight from the shared rules with no framework in
//! between. It checks the corpus against itself (every expectation must hold here) and
//! produces the golden 200 bodies. It simulates SSE timing by spacing chunks
//! `token_delay_ms` apart, as a streaming server would.

use std::time::Duration;

use super::{Case, Observed};
use crate::contract::{self, BODY_LIMIT};
use crate::error::ApiError;
use crate::tokens::TokenEvents;

/// The routes of the contract: path, then allowed method.
pub const ROUTES: &[(&str, &str)] = &[
    ("/health", "GET"),
    ("/v1/predict", "POST"),
    ("/v1/generate", "POST"),
    ("/v1/infer", "POST"),
    ("/v1/chat/completions", "POST"),
];

/// The id the reference gateway gives its chunks.
pub const GATEWAY_ID: &str = "chatcmpl-reference";

fn json(status: u16, body: Vec<u8>) -> Observed {
    Observed {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        chunks: vec![(Duration::ZERO, body.len())],
        body,
    }
}

fn error(e: ApiError) -> Observed {
    json(e.status(), e.body())
}

pub fn answer(case: &Case) -> Observed {
    let Some((_, method)) = ROUTES.iter().find(|(p, _)| *p == case.path) else {
        return json(404, br#"{"detail":"Not Found"}"#.to_vec());
    };
    if !case.method.eq_ignore_ascii_case(method) {
        return json(405, br#"{"detail":"Method Not Allowed"}"#.to_vec());
    }
    if case.path == "/health" {
        return json(200, contract::HEALTH_BODY.to_vec());
    }
    let header =
        |name: &str| case.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_bytes());
    let body = case.body.bytes();
    let length = (!case.chunked).then(|| body.len().to_string());
    if let Err(e) = crate::http::check_post_headers(header("content-type"), length.as_deref().map(str::as_bytes)) {
        return error(e);
    }
    if body.len() > BODY_LIMIT {
        return error(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    match case.path.as_str() {
        "/v1/predict" => match contract::decode_predict(&body) {
            Ok(req) => json(200, contract::to_json(&contract::predict(&req))),
            Err(e) => error(e),
        },
        "/v1/infer" => match contract::decode_infer(&body) {
            Ok(req) => {
                let score = match req.mode {
                    contract::InferMode::Io => contract::infer_io_score(&req),
                    contract::InferMode::Cpu => contract::infer_cpu_score(&req),
                };
                json(200, contract::to_json(&contract::infer_response(req.mode, score)))
            }
            Err(e) => error(e),
        },
        "/v1/generate" => match contract::decode_generate(&body) {
            Ok(req) => {
                let mut out = Observed {
                    status: 200,
                    headers: vec![
                        ("content-type".into(), "text/event-stream".into()),
                        ("cache-control".into(), "no-cache".into()),
                    ],
                    ..Observed::default()
                };
                let mut t = Duration::ZERO;
                let mut events = TokenEvents::new(req.seed, req.max_tokens);
                while let Some(ev) = {
                    if events.next_is_token() {
                        t += Duration::from_millis(req.token_delay_ms);
                    }
                    events.next()
                } {
                    out.body.extend_from_slice(&ev);
                    out.chunks.push((t, out.body.len()));
                }
                out
            }
            Err(e) => error(e),
        },
        "/v1/chat/completions" => match contract::decode_chat(&body) {
            Ok(req) => gateway(&req),
            Err(e) => error(e),
        },
        _ => unreachable!("ROUTES lists only these paths"),
    }
}

/// A gateway in front of an ideal mock (docs/contract.md, "`POST /v1/chat/completions`"):
/// its faults from a `mock-fault:` model, one placeholder word per token, chunks
/// `GATEWAY_MOCK_ITL_MS` apart after the mock's TTFT.
fn gateway(req: &contract::ChatRequest) -> Observed {
    let bad_gateway = |msg: &str| error(ApiError::BadGateway { msg: msg.into() });
    let tokens = req.max_tokens.unwrap_or(super::MOCK_DEFAULT_MAX_TOKENS);
    // (content chunks sent, whether the upstream finished)
    let (sent, done) = match req.model.strip_prefix("mock-fault:") {
        None => (tokens, true),
        // A JSON object is a completion's shape as far as a gateway checks it.
        Some("non-sse") if !req.stream => return json(200, br#"{"not":"sse"}"#.to_vec()),
        Some("refuse" | "500" | "non-sse") => return bad_gateway("the upstream failed"),
        Some(f) => match f.split_once(':').map(|(kind, n)| (kind, n.parse::<u64>())) {
            Some(("cut" | "error", Ok(n))) if req.stream => (n.min(tokens), n >= tokens),
            Some(("cut" | "error", Ok(_))) => return bad_gateway("the upstream failed"),
            _ => return error(ApiError::BadGateway { msg: format!("the upstream refused fault {f:?}") }),
        },
    };
    if !req.stream {
        let content: String = (0..tokens).map(|_| "w ").collect();
        let body = serde_json::json!({
            "id": "chatcmpl-mock-1", "object": "chat.completion", "model": req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1},
        });
        return json(200, contract::to_json(&body));
    }
    let mut out = Observed {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into()), ("cache-control".into(), "no-cache".into())],
        ..Observed::default()
    };
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let v = serde_json::json!({
            "id": GATEWAY_ID, "object": "chat.completion.chunk", "model": req.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {v}\n\n")
    };
    let push = |out: &mut Observed, t: Duration, frame: &str| {
        out.body.extend_from_slice(frame.as_bytes());
        out.chunks.push((t, out.body.len()));
    };
    push(&mut out, Duration::ZERO, &chunk(serde_json::json!({"role": "assistant", "content": ""}), None));
    let ttft = Duration::from_millis(super::GATEWAY_MOCK_TTFT_MS);
    let itl = Duration::from_millis(super::GATEWAY_MOCK_ITL_MS);
    for k in 0..sent {
        push(&mut out, ttft + itl * k as u32, &chunk(serde_json::json!({"content": "w "}), None));
    }
    if done {
        let end = ttft + itl * sent.saturating_sub(1) as u32;
        push(&mut out, end, &chunk(serde_json::json!({}), Some("length")));
        push(&mut out, end, "data: [DONE]\n\n");
    }
    out
}
