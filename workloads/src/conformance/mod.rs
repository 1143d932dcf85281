//! The conformance corpus and its checker.
//!
//! The corpus is data (`workloads/conformance/cases.jsonl`), so the harness and the Python
//! targets read the very same cases. [`check`] is pure: it judges an [`Observed`] response
//! however it was obtained. [`reference`] answers cases in-process from the shared rules
//! (no framework), which is how the corpus is checked for self-consistency and how the
//! golden 200 bodies are produced. Behind the `http` feature, `http::run_corpus` sends
//! the cases to any base URL.

pub mod define;
#[cfg(feature = "http")]
pub mod http;
pub mod reference;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sse::SseParser;

/// Tolerance for floats in golden bodies: implementations may differ in the last bits of
/// `exp` and `tanh`.
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// The corpus as committed.
pub const CORPUS_JSONL: &str = include_str!("../../conformance/cases.jsonl");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    pub method: String,
    pub path: String,
    /// Request headers in order. `content-length` is never listed: it follows from `body`
    /// unless `chunked` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Body::is_none")]
    pub body: Body,
    /// Send the body with `Transfer-Encoding: chunked` and no Content-Length.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chunked: bool,
    /// A gateway case that needs the upstream to be our mock (it names a `mock-fault:`
    /// model): not judged for a `--url` target, whose upstream we do not control.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upstream_fault: bool,
    pub expect: Expect,
}

impl Case {
    /// A case whose POST requests carry `content-type: application/json`; expects status 0
    /// until the caller sets `expect`.
    pub fn new(name: &str, method: &str, path: &str, body: Body) -> Self {
        let headers = if method == "POST" { vec![("content-type".into(), "application/json".into())] } else { vec![] };
        Case {
            name: name.into(),
            method: method.into(),
            path: path.into(),
            headers,
            body,
            chunked: false,
            upstream_fault: false,
            expect: Expect::default(),
        }
    }
}

impl Case {
    /// A gateway case whose request is valid, so the target forwards it upstream exactly
    /// once (a 200, or the 502 of a faulted upstream); an invalid one must never reach it.
    pub fn reaches_upstream(&self) -> bool {
        self.path == GATEWAY_PATH && matches!(self.expect.status, 200 | 502)
    }
}

/// The gateway's path (docs/contract.md, "`POST /v1/chat/completions`").
pub const GATEWAY_PATH: &str = "/v1/chat/completions";

/// A request body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    #[default]
    None,
    /// A JSON value, sent compactly encoded.
    Json(Value),
    /// Text sent verbatim (malformed JSON, duplicate keys, exact number spellings).
    Text(String),
    /// Bytes in hex, for bodies that are not UTF-8.
    Hex(String),
    /// A body too large to store, made by `payloads::generated_body`.
    Generated { name: String, bytes: usize },
}

impl Body {
    pub fn is_none(&self) -> bool {
        matches!(self, Body::None)
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Body::None => Vec::new(),
            Body::Json(v) => serde_json::to_vec(v).expect("Value serialises"),
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Hex(h) => hex_decode(h),
            Body::Generated { name, bytes } => crate::payloads::generated_body(name, *bytes)
                .unwrap_or_else(|| panic!("unknown body generator {name:?}")),
        }
    }
}

/// A corpus's `hex` body as bytes.
pub(crate) fn hex_decode(h: &str) -> Vec<u8> {
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("corpus hex is valid")).collect()
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Expect {
    pub status: u16,
    /// The exact JSON body of a 200 answer (floats within [`FLOAT_TOLERANCE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// `detail[0].loc` of a single-violation 4xx answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseExpect>,
    /// A gateway answer (`/v1/chat/completions`), judged by its shape: the upstream's words
    /// are checked against the mock itself by the harness, not stored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayExpect>,
}

/// What a gateway's 200 answer must look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayExpect {
    /// A stream of chat chunks (else one `chat.completion`).
    pub stream: bool,
    /// Output chunks carrying content (the mock sends one token per chunk), or the words of
    /// a completion's `message.content`.
    pub tokens: u64,
    /// The stream ends with `[DONE]` (false: the upstream broke and the stream must end
    /// without it).
    pub done: bool,
}

/// The schedule of the mock the gateway cases run against (`tools/mock-llm`): the harness
/// and the tests start it so, and the checker uses the gap to tell streaming from buffering.
pub const GATEWAY_MOCK_TTFT_MS: u64 = 50;
pub const GATEWAY_MOCK_ITL_MS: u64 = 20;
/// The mock's tokens for a request that sets no limit (its `--default-max-tokens`).
pub const MOCK_DEFAULT_MAX_TOKENS: u64 = 16;
/// The prefix of an upstream-generated completion id; a gateway must use its own.
pub const MOCK_ID_PREFIX: &str = "chatcmpl-mock-";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SseExpect {
    /// The `data` of every event in order, the last being `[DONE]`.
    pub events: Vec<String>,
    /// The request's delay between tokens, for the streaming timing check.
    pub token_delay_ms: u64,
}

/// A response as a client saw it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Arrival time (since the request was sent) and end offset in `body` of each chunk.
    pub chunks: Vec<(Duration, usize)>,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses the corpus text (JSON Lines; blank lines and `//` lines are skipped).
pub fn parse_corpus(text: &str) -> Result<Vec<Case>, String> {
    parse_json_lines(text, "cases.jsonl")
}

/// Parses JSON Lines, skipping blank lines and `//` lines; an error names `file` and the line.
pub fn parse_json_lines<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<Vec<T>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{file} line {}: {e}", i + 1)))
        .collect()
}

/// The committed corpus.
pub fn corpus() -> Vec<Case> {
    parse_corpus(CORPUS_JSONL).expect("the committed corpus parses")
}

/// Judges one response. Returns every mismatch, not just the first.
pub fn check(case: &Case, got: &Observed) -> Result<(), Vec<String>> {
    let mut bad = Vec::new();
    let exp = &case.expect;
    if got.status != exp.status {
        bad.push(format!("status {} (expected {})", got.status, exp.status));
        let snippet = String::from_utf8_lossy(&got.body[..got.body.len().min(300)]).into_owned();
        bad.push(format!("body starts: {snippet:?}"));
        return Err(bad);
    }
    if let Some(sse) = &exp.sse {
        check_sse(sse, got, &mut bad);
    } else if let Some(gw) = exp.gateway.as_ref().filter(|g| g.stream) {
        check_gateway_stream(gw, got, &mut bad);
    } else if exp.status == 200 || matches!(exp.status, 400 | 422 | 502) {
        check_json(exp, got, &mut bad);
    }
    if bad.is_empty() { Ok(()) } else { Err(bad) }
}

fn check_json(exp: &Expect, got: &Observed, bad: &mut Vec<String>) {
    let ct = got.header("content-type").unwrap_or("");
    if !crate::http::is_json_content_type(ct.as_bytes()) {
        bad.push(format!("content-type {ct:?} (expected application/json)"));
    }
    let body: Value = match serde_json::from_slice(&got.body) {
        Ok(v) => v,
        Err(e) => {
            bad.push(format!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&got.body)));
            return;
        }
    };
    if let Some(want) = &exp.json {
        let mut diffs = Vec::new();
        json_diff(want, &body, "$", &mut diffs);
        bad.extend(diffs);
    }
    if matches!(exp.status, 400 | 422) {
        check_detail(exp, &body, bad);
    }
    if exp.status == 502 {
        let d = &body["detail"][0];
        if d["loc"] != serde_json::json!(["upstream"]) || d["type"] != "upstream_error" || !d["msg"].is_string() {
            bad.push(format!("a 502 needs detail[0] with loc [\"upstream\"], type upstream_error and a msg: {body}"));
        }
    }
    if let Some(gw) = &exp.gateway {
        check_completion(gw, &body, bad);
    }
}

/// A gateway's non-streaming answer: the upstream's `chat.completion`.
fn check_completion(exp: &GatewayExpect, body: &Value, bad: &mut Vec<String>) {
    if body["object"] != "chat.completion" {
        bad.push(format!("object is {} (expected \"chat.completion\")", body["object"]));
    }
    match body["choices"][0]["message"]["content"].as_str() {
        Some(text) if text.split_whitespace().count() as u64 == exp.tokens => {}
        Some(text) => bad.push(format!(
            "message.content has {} words (expected {}): {text:?}",
            text.split_whitespace().count(),
            exp.tokens
        )),
        None => bad.push("choices[0].message.content is not a string".into()),
    }
}

/// A gateway's stream: SSE of chat chunks with the gateway's own id, as many content chunks
/// as the upstream sent, `[DONE]` exactly when the upstream finished, and not buffered.
fn check_gateway_stream(exp: &GatewayExpect, got: &Observed, bad: &mut Vec<String>) {
    let (events, times) = sse_events(got, bad);
    let done_at = events.iter().position(|e| e.data == "[DONE]");
    match (done_at, exp.done) {
        (Some(i), true) if i + 1 != events.len() => bad.push(format!("{} events after [DONE]", events.len() - i - 1)),
        (None, true) => bad.push("the stream does not end with [DONE]".into()),
        (Some(_), false) => bad.push("[DONE] after an upstream that broke off (it must end without it)".into()),
        _ => {}
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut content_times = Vec::new();
    for (ev, t) in events.iter().zip(&times).filter(|(e, _)| e.data != "[DONE]") {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            bad.push(format!("event data is not JSON: {:?}", ev.data));
            return;
        };
        match v["id"].as_str() {
            Some(id) if !id.is_empty() => {
                ids.insert(id.to_owned());
            }
            _ => bad.push(format!("a chunk without a string id: {v}")),
        }
        if v.get("error").is_none() && v["object"] != "chat.completion.chunk" {
            bad.push(format!("object is {} (expected \"chat.completion.chunk\")", v["object"]));
        }
        if v["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()) {
            content_times.push(*t);
        }
    }
    if ids.len() > 1 {
        bad.push(format!("{} different ids in one stream (expected one): {ids:?}", ids.len()));
    }
    if let Some(id) = ids.iter().find(|id| id.starts_with(MOCK_ID_PREFIX)) {
        bad.push(format!("the chunks keep the upstream's id {id:?} (expected the gateway's own)"));
    }
    if content_times.len() as u64 != exp.tokens {
        bad.push(format!("{} content chunks (expected {})", content_times.len(), exp.tokens));
    }
    if let (Some(first), Some(last)) = (content_times.first(), content_times.last()) {
        let min = Duration::from_millis(GATEWAY_MOCK_ITL_MS * (content_times.len() as u64 - 1) / 2);
        if last.saturating_sub(*first) < min {
            bad.push(format!(
                "first and last content chunk {:?} apart (at least {min:?}): the stream is buffered",
                last.saturating_sub(*first)
            ));
        }
    }
}

fn check_detail(exp: &Expect, body: &Value, bad: &mut Vec<String>) {
    let Some(detail) = body.get("detail").and_then(Value::as_array).filter(|d| !d.is_empty()) else {
        bad.push(format!("body has no non-empty `detail` array: {body}"));
        return;
    };
    for (i, d) in detail.iter().enumerate() {
        let loc_ok = d.get("loc").and_then(Value::as_array).is_some_and(|l| l.first() == Some(&Value::from("body")));
        if !loc_ok {
            bad.push(format!("detail[{i}].loc does not start with \"body\": {d}"));
        }
        for key in ["msg", "type"] {
            if d.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
                bad.push(format!("detail[{i}].{key} is not a non-empty string: {d}"));
            }
        }
    }
    if exp.status == 400 && (detail[0]["type"] != "json_invalid" || detail[0]["loc"] != serde_json::json!(["body"])) {
        bad.push(format!("400 detail[0] must have loc [\"body\"] and type json_invalid: {}", detail[0]));
    }
    if let Some(want) = &exp.loc {
        let got = detail[0].get("loc").cloned().unwrap_or(Value::Null);
        if got != Value::Array(want.clone()) {
            bad.push(format!("detail[0].loc {got} (expected {})", Value::Array(want.clone())));
        }
    }
}

/// The SSE head's content type and cache control checked, and the stream's events with
/// the arrival time of each, replayed chunk by chunk through the parser.
fn sse_events(got: &Observed, bad: &mut Vec<String>) -> (Vec<crate::sse::SseEvent>, Vec<Duration>) {
    let ct = got.header("content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("text/event-stream") {
        bad.push(format!("content-type {ct:?} (expected text/event-stream)"));
    }
    let cc = got.header("cache-control").unwrap_or("");
    if !cc.to_ascii_lowercase().contains("no-cache") {
        bad.push(format!("cache-control {cc:?} (expected no-cache)"));
    }
    let mut parser = SseParser::new();
    let (mut events, mut times, mut start) = (Vec::new(), Vec::new(), 0);
    let chunks: Vec<(Duration, usize)> =
        if got.chunks.is_empty() { vec![(Duration::ZERO, got.body.len())] } else { got.chunks.clone() };
    for (t, end) in chunks {
        parser.feed(&got.body[start..end], &mut events);
        times.resize(events.len(), t);
        start = end;
    }
    (events, times)
}

fn check_sse(exp: &SseExpect, got: &Observed, bad: &mut Vec<String>) {
    let (events, times) = sse_events(got, bad);
    if events.len() != exp.events.len() {
        bad.push(format!("{} events (expected {})", events.len(), exp.events.len()));
    }
    for (i, (ev, want)) in events.iter().zip(&exp.events).enumerate() {
        let same = match (serde_json::from_str::<Value>(&ev.data), serde_json::from_str::<Value>(want)) {
            (Ok(a), Ok(b)) => a == b,
            _ => ev.data == *want,
        };
        if !same {
            bad.push(format!("event {i} data {:?} (expected {want:?})", ev.data));
            break;
        }
    }
    // Streaming, not buffering: with n tokens spaced d apart, the first token must arrive at
    // least half of the (n-1)·d the server waited before the last one.
    let tokens = exp.events.len().saturating_sub(1);
    if exp.token_delay_ms > 0 && tokens >= 2 && times.len() >= tokens {
        let spread = times[tokens - 1].saturating_sub(times[0]);
        let min = Duration::from_millis(exp.token_delay_ms * (tokens as u64 - 1) / 2);
        if spread < min {
            bad.push(format!(
                "first and last token arrived {spread:?} apart (at least {min:?} expected): the stream is buffered"
            ));
        }
    }
}

/// Structural JSON comparison with [`FLOAT_TOLERANCE`] for floats; records paths that differ.
pub fn json_diff(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    json_diff_within(want, got, path, FLOAT_TOLERANCE, out)
}

/// [`json_diff`] with an explicit float tolerance.
pub fn json_diff_within(want: &Value, got: &Value, path: &str, tolerance: f64, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            // NaN on either side fails too.
            if (a - b).abs().is_nan() || (a - b).abs() > tolerance {
                out.push(format!("{path}: {b} (expected {a} ± {tolerance})"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => json_diff_within(va, vb, &format!("{path}.{k}"), tolerance, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected field"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path}: {} items (expected {})", b.len(), a.len()));
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                json_diff_within(va, vb, &format!("{path}[{i}]"), tolerance, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: {got} (expected {want})")),
    }
}

/// The outcome of a corpus run.
#[derive(Debug, Default, Clone)]
pub struct CorpusReport {
    pub passed: Vec<String>,
    /// Case name and what was wrong.
    pub failed: Vec<(String, Vec<String>)>,
}

impl CorpusReport {
    pub fn record(&mut self, case: &Case, result: Result<(), Vec<String>>) {
        self.record_named(&case.name, result)
    }

    /// As [`record`](Self::record), for cases of another corpus (the hostile one).
    pub fn record_named(&mut self, name: &str, result: Result<(), Vec<String>>) {
        match result {
            Ok(()) => self.passed.push(name.to_owned()),
            Err(why) => self.failed.push((name.to_owned(), why)),
        }
    }

    /// A readable list of failures, for assertion messages.
    pub fn failures(&self) -> String {
        self.failed.iter().map(|(n, why)| format!("  {n}:\n    {}", why.join("\n    "))).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_corpus_matches_generator() {
        // The corpus file is data, written by `cargo run -p workloads --bin gen-conformance`.
        // If this fails after a deliberate change, regenerate and review the diff. Golden
        // floats may differ in their last bits between builds (serde_json parses numbers
        // exactly only when some crate in the build enables `float_roundtrip`), so they are
        // compared within 1e-12; everything else must be identical.
        let stale = "workloads/conformance/cases.jsonl is stale: run `cargo run -p workloads --bin gen-conformance`";
        let generated = parse_corpus(&define::render_corpus()).unwrap();
        let committed = corpus();
        assert_eq!(generated.len(), committed.len(), "{stale}");
        for (g, c) in generated.iter().zip(&committed) {
            let (mut g2, mut c2) = (g.clone(), c.clone());
            g2.expect.json = None;
            c2.expect.json = None;
            assert_eq!(g2, c2, "{stale}");
            let mut diffs = Vec::new();
            if let (Some(a), Some(b)) = (&g.expect.json, &c.expect.json) {
                json_diff_within(a, b, "$", 1e-12, &mut diffs);
            } else {
                assert_eq!(g.expect.json, c.expect.json, "{stale}");
            }
            assert!(diffs.is_empty(), "{stale}: {}: {diffs:?}", g.name);
        }
    }

    #[test]
    fn corpus_is_large_and_covers_every_status() {
        let cases = corpus();
        assert!(cases.len() >= 80, "only {} cases", cases.len());
        for status in [200, 400, 404, 405, 413, 415, 422, 502] {
            assert!(cases.iter().any(|c| c.expect.status == status), "no case expects {status}");
        }
        assert!(cases.iter().any(|c| c.expect.status == 413 && c.chunked), "no chunked 413");
        assert!(cases.iter().any(|c| c.expect.status == 413 && !c.chunked), "no Content-Length 413");
        let names: std::collections::BTreeSet<_> = cases.iter().map(|c| &c.name).collect();
        assert_eq!(names.len(), cases.len(), "case names must be unique");
    }

    #[test]
    fn reference_passes_every_case() {
        let mut report = CorpusReport::default();
        for case in corpus() {
            let got = reference::answer(&case);
            report.record(&case, check(&case, &got));
        }
        assert!(report.failed.is_empty(), "reference failed:\n{}", report.failures());
    }

    #[test]
    fn checker_rejects_wrong_answers() {
        let case = corpus().into_iter().find(|c| c.name == "predict/ok/linear-1row").unwrap();
        let mut got = reference::answer(&case);
        assert!(check(&case, &got).is_ok());
        let text = String::from_utf8(got.body.clone()).unwrap().replacen("\"score\":0.", "\"score\":0.1", 1);
        got.body = text.into_bytes();
        assert!(check(&case, &got).is_err(), "a changed score must fail");
        got.status = 201;
        assert!(check(&case, &got).is_err());
    }

    #[test]
    fn checker_judges_a_gateway_stream() {
        let case = corpus().into_iter().find(|c| c.name == "chat/ok/stream-8").unwrap();
        let good = reference::answer(&case);
        assert!(check(&case, &good).is_ok(), "{:?}", check(&case, &good));
        let text = String::from_utf8(good.body.clone()).unwrap();
        let mut kept_id = good.clone();
        // Same length, so the chunks' offsets still hold.
        kept_id.body = text.replace(reference::GATEWAY_ID, "chatcmpl-mock-7777").into_bytes();
        let why = check(&case, &kept_id).unwrap_err();
        assert!(why.iter().any(|w| w.contains("upstream's id")), "{why:?}");
        let mut no_done = good.clone();
        no_done.body = text.replace("data: [DONE]\n\n", "").into_bytes();
        no_done.chunks.clear();
        assert!(check(&case, &no_done).is_err(), "a stream without [DONE] must fail");
        let mut buffered = good.clone();
        buffered.chunks = vec![(Duration::from_millis(200), good.body.len())];
        assert!(check(&case, &buffered).is_err(), "one late chunk is a buffered stream");
        let cut = corpus().into_iter().find(|c| c.name == "chat/upstream/cut-2-stream").unwrap();
        assert!(check(&cut, &good).is_err(), "[DONE] after a cut upstream must fail");
        assert!(check(&cut, &reference::answer(&cut)).is_ok());
    }

    #[test]
    fn checker_detects_buffered_stream() {
        let case = corpus().into_iter().find(|c| c.name == "generate/ok/5-tokens-20ms").unwrap();
        let mut got = reference::answer(&case);
        assert!(check(&case, &got).is_ok());
        got.chunks = vec![(Duration::from_millis(100), got.body.len())];
        assert!(check(&case, &got).is_err(), "one late chunk is a buffered stream");
    }
}
