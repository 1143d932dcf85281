//! Request and response types of the four endpoints and the one decode path that every
//! Rust target calls. Keeping the rules here, once, is what makes "the frameworks serve the
//! same endpoints" true by construction rather than by review.
//!
//! Decoding is two steps with separate costs, so benches can attribute time:
//! 1. `parse_*`: JSON text to a *wire* type whose fields are all optional. Type errors
//!    (strict: no string/number/bool coercion, integers reject `3.0`) stop here.
//! 2. `validate`: the wire value to a checked request, collecting *every* rule violation with
//!    its `loc` path (missing fields, lengths, ranges, patterns, timestamps).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{ApiError, LocSeg, Violation};
use crate::model::{FEATURES, LINEAR, ModelKind, infer_io};

/// Largest accepted request body: 1 MiB. Larger bodies get 413.
pub const BODY_LIMIT: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// Wire-level helpers
// ---------------------------------------------------------------------------------------

/// Accepts only a JSON object. serde's derived structs also accept arrays (positional
/// fields), which the contract rejects as "top-level value that is not an object".
#[derive(Debug)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(Obj)
    }
}

/// Missing stays `None` (via `#[serde(default)]`), but an explicit `null` is a type error:
/// the contract has no nullable fields.
fn non_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A string enum. serde_json reports a non-string where a derived enum is expected as a
/// *syntax* error ("expected value"), which would turn a wrong type into a 400; reading a
/// string first keeps it a 422 with a `loc`.
macro_rules! str_enum {
    ($ty:ty, $expecting:literal, $($s:literal => $v:expr),+ $(,)?) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        match s {
                            $($s => Ok($v),)+
                            _ => Err(E::unknown_variant(s, &[$($s),+])),
                        }
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

str_enum!(ModelKind, "\"linear\" or \"mlp\"", "linear" => ModelKind::Linear, "mlp" => ModelKind::Mlp);
str_enum!(InferMode, "\"io\" or \"cpu\"", "io" => InferMode::Io, "cpu" => InferMode::Cpu);
str_enum!(
    Role,
    "\"system\", \"user\" or \"assistant\"",
    "system" => Role::System,
    "user" => Role::User,
    "assistant" => Role::Assistant,
);

macro_rules! wire {
    ($(#[$m:meta])* struct $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Deserialize)]
        pub struct $name {
            $(#[serde(default, deserialize_with = "non_null")] pub $field: Option<$ty>,)*
        }
    };
}

wire!(
    /// `POST /v1/predict` as it arrives: every field optional so that absence is reported
    /// by `validate` with the exact `loc`, not by serde's "missing field" message.
    struct PredictWire {
        request_id: String,
        model: ModelKind,
        inputs: Vec<Obj<RowWire>>,
        params: Obj<ParamsWire>,
    }
);
wire!(
    struct RowWire {
        id: String,
        features: Vec<f64>,
        tags: BTreeMap<String, String>,
        timestamp: String,
    }
);
wire!(
    struct ParamsWire {
        threshold: f64,
        top_k: u64,
        explain: bool,
    }
);
wire!(
    /// `POST /v1/generate` as it arrives.
    struct GenerateWire {
        prompt: String,
        max_tokens: u64,
        token_delay_ms: u64,
        seed: u64,
    }
);
wire!(
    /// `POST /v1/infer` as it arrives.
    struct InferWire {
        features: Vec<f64>,
        mode: InferMode,
        latency_ms: u64,
        work: u64,
    }
);

wire!(
    /// `POST /v1/chat/completions` as it arrives (OpenAI's shape, the contract's subset).
    struct ChatWire {
        model: String,
        messages: Vec<Obj<MessageWire>>,
        stream: bool,
        max_tokens: u64,
        max_completion_tokens: u64,
        temperature: f64,
    }
);
wire!(
    struct MessageWire {
        role: Role,
        content: String,
    }
);

// ---------------------------------------------------------------------------------------
// Checked requests
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    pub request_id: String,
    pub model: ModelKind,
    pub inputs: Vec<Row>,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub features: [f64; FEATURES],
    pub tags: BTreeMap<String, String>,
    /// RFC 3339 with offset; checked, then kept verbatim (the model does not use it).
    pub timestamp: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub threshold: f64,
    pub top_k: usize,
    pub explain: bool,
}

impl Default for Params {
    fn default() -> Self {
        Self { threshold: 0.5, top_k: 3, explain: false }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    pub max_tokens: u64,
    pub token_delay_ms: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InferMode {
    Io,
    Cpu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    pub features: [f64; FEATURES],
    pub mode: InferMode,
    pub latency_ms: u64,
    pub work: u64,
}

/// A chat message's author, as OpenAI names them (the contract's subset: no `tool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// A checked gateway request: what the target forwards upstream, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub stream: bool,
    /// The effective limit: `max_completion_tokens` if given, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
}

/// The forwarded body: exactly the validated fields (docs/contract.md, "Upstream").
#[derive(Serialize)]
struct UpstreamBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
}

impl ChatRequest {
    /// The JSON the gateway posts to its upstream's `/v1/chat/completions`.
    pub fn upstream_body(&self) -> Vec<u8> {
        to_json(&UpstreamBody {
            model: &self.model,
            messages: &self.messages,
            stream: self.stream,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Positive,
    Negative,
}

impl Label {
    pub fn of(score: f64, threshold: f64) -> Self {
        if score >= threshold { Label::Positive } else { Label::Negative }
    }
}

#[derive(Debug, Serialize)]
pub struct PredictResponse<'a> {
    pub request_id: &'a str,
    pub model: ModelKind,
    pub predictions: Vec<Prediction<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Prediction<'a> {
    pub id: &'a str,
    pub score: f64,
    pub label: Label,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_features: Option<Vec<usize>>,
}

#[derive(Debug, Serialize)]
pub struct InferResponse {
    pub score: f64,
    pub label: Label,
    pub mode: InferMode,
}

#[derive(Debug, Serialize)]
pub struct HealthResponse {
    pub status: &'static str,
}

/// The body of `GET /health`.
pub const HEALTH_BODY: &[u8] = br#"{"status":"ok"}"#;

// ---------------------------------------------------------------------------------------
// Decode = parse + validate
// ---------------------------------------------------------------------------------------

/// JSON text to a wire value, mapping serde's errors to 400 or 422 with a `loc` path.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice::<Obj<T>>(body) {
        Ok(Obj(v)) => Ok(v),
        Err(e) => Err(classify::<T>(body, e)),
    }
}

/// The cold path: only rejected bodies pay for a syntax re-check and path tracking.
fn classify<T: DeserializeOwned>(body: &[u8], err: serde_json::Error) -> ApiError {
    if !err.is_data() {
        return ApiError::InvalidJson { msg: err.to_string() };
    }
    // serde stops at the first type error, before it has read the rest of the text, so an
    // ill-typed body may also be malformed further on. Malformed wins: that is a 400.
    if let Err(syntax) = serde_json::from_slice::<IgnoredAny>(body) {
        return ApiError::InvalidJson { msg: syntax.to_string() };
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, Obj<T>>(de) {
        Ok(_) => ApiError::InvalidJson { msg: err.to_string() },
        Err(e) => {
            let mut loc = vec![LocSeg::from("body")];
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => loc.push(LocSeg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => loc.push(LocSeg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => loc.push(LocSeg::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            let msg = e.inner().to_string();
            let kind = if msg.starts_with("unknown variant") { "enum" } else { "type_error" };
            ApiError::Validation(vec![Violation::new(loc, kind, msg)])
        }
    }
}

pub fn decode_predict(body: &[u8]) -> Result<PredictRequest, ApiError> {
    parse::<PredictWire>(body)?.validate()
}

pub fn decode_generate(body: &[u8]) -> Result<GenerateRequest, ApiError> {
    parse::<GenerateWire>(body)?.validate()
}

pub fn decode_infer(body: &[u8]) -> Result<InferRequest, ApiError> {
    parse::<InferWire>(body)?.validate()
}

pub fn decode_chat(body: &[u8]) -> Result<ChatRequest, ApiError> {
    parse::<ChatWire>(body)?.validate()
}

/// Collects violations; builds a `loc` only when a rule fails, so valid requests allocate
/// no paths.
#[derive(Debug, Default)]
struct Rules {
    found: Vec<Violation>,
}

type Loc<'a> = &'a [LocSeg];

fn at(base: Loc, seg: impl Into<LocSeg>) -> Vec<LocSeg> {
    let mut v = base.to_vec();
    v.push(seg.into());
    v
}

impl Rules {
    fn fail(&mut self, loc: Vec<LocSeg>, kind: &'static str, msg: String) {
        self.found.push(Violation::new(loc, kind, msg));
    }

    fn required<T>(&mut self, v: Option<T>, base: Loc, field: &str) -> Option<T> {
        if v.is_none() {
            self.fail(at(base, field), "missing", format!("field `{field}` is required"));
        }
        v
    }

    fn str_len(&mut self, s: &str, min: usize, max: usize, loc: impl FnOnce() -> Vec<LocSeg>) -> bool {
        // Lengths are in Unicode scalar values, as Python's len() counts them.
        let n = s.chars().count();
        if n < min {
            self.fail(loc(), "string_too_short", format!("length {n} is below the minimum {min}"));
            false
        } else if n > max {
            self.fail(loc(), "string_too_long", format!("length {n} is above the maximum {max}"));
            false
        } else {
            true
        }
    }

    fn int_range(&mut self, v: u64, min: u64, max: u64, loc: impl FnOnce() -> Vec<LocSeg>) {
        if !(min..=max).contains(&v) {
            self.fail(loc(), "out_of_range", format!("{v} is outside [{min}, {max}]"));
        }
    }

    fn features(&mut self, f: Vec<f64>, loc: Loc) -> [f64; FEATURES] {
        let mut out = [0.0; FEATURES];
        if f.len() != FEATURES {
            let kind = if f.len() < FEATURES { "too_short" } else { "too_long" };
            let msg = format!("expected exactly {FEATURES} features, got {}", f.len());
            self.fail(loc.to_vec(), kind, msg);
            return out;
        }
        for (i, &x) in f.iter().enumerate() {
            if !(x.is_finite() && (-1000.0..=1000.0).contains(&x)) {
                self.fail(at(loc, i), "out_of_range", format!("{x} is outside [-1000, 1000]"));
            }
            out[i] = x;
        }
        out
    }

    fn finish<T>(self, v: T) -> Result<T, ApiError> {
        if self.found.is_empty() { Ok(v) } else { Err(ApiError::Validation(self.found)) }
    }
}

fn is_request_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_tag_key_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

fn is_rfc3339_with_offset(s: &str) -> bool {
    // time's Rfc3339 requires the offset (`Z` or ±hh:mm), which is the rule we want.
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

impl PredictWire {
    pub fn validate(self) -> Result<PredictRequest, ApiError> {
        let mut r = Rules::default();
        let body_loc = vec![LocSeg::from("body")];
        let base = body_loc.as_slice();

        let request_id = r.required(self.request_id, base, "request_id");
        if let Some(id) = &request_id {
            let len_ok = r.str_len(id, 8, 64, || at(base, "request_id"));
            if len_ok && !id.chars().all(is_request_id_char) {
                let msg = "request_id must match ^[A-Za-z0-9_-]+$".to_owned();
                r.fail(at(base, "request_id"), "string_pattern_mismatch", msg);
            }
        }
        let model = r.required(self.model, base, "model");
        let params = match self.params {
            None => Params::default(),
            Some(Obj(p)) => p.validate(&mut r, &at(base, "params")),
        };
        let inputs = r.required(self.inputs, base, "inputs").map(|inputs| {
            let loc = at(base, "inputs");
            if inputs.is_empty() {
                r.fail(loc.clone(), "too_short", "inputs needs at least 1 row".into());
            } else if inputs.len() > 256 {
                let msg = format!("{} rows is above the maximum 256", inputs.len());
                r.fail(loc.clone(), "too_long", msg);
            }
            let rows: Vec<Row> =
                inputs.into_iter().enumerate().map(|(i, Obj(row))| row.validate(&mut r, &at(&loc, i))).collect();
            rows
        });
        match (request_id, model, inputs) {
            (Some(request_id), Some(model), Some(inputs)) if r.found.is_empty() => {
                Ok(PredictRequest { request_id, model, inputs, params })
            }
            _ => Err(ApiError::Validation(r.found)),
        }
    }
}

impl RowWire {
    fn validate(self, r: &mut Rules, base: Loc) -> Row {
        let id = r.required(self.id, base, "id");
        if let Some(id) = &id {
            r.str_len(id, 1, 64, || at(base, "id"));
        }
        let features = match r.required(self.features, base, "features") {
            Some(f) => r.features(f, &at(base, "features")),
            None => [0.0; FEATURES],
        };
        let tags = self.tags.unwrap_or_default();
        if tags.len() > 16 {
            let msg = format!("{} tags is above the maximum 16", tags.len());
            r.fail(at(base, "tags"), "too_long", msg);
        }
        for (k, v) in &tags {
            let key_ok = !k.is_empty() && k.chars().count() <= 32 && k.chars().all(is_tag_key_char);
            let loc = || at(&at(base, "tags"), k.as_str());
            if !key_ok {
                r.fail(loc(), "key_invalid", "tag keys are 1-32 characters of [a-z0-9_]".into());
            } else {
                r.str_len(v, 1, 64, loc);
            }
        }
        let timestamp = r.required(self.timestamp, base, "timestamp");
        if let Some(ts) = &timestamp
            && !is_rfc3339_with_offset(ts)
        {
            let msg = "timestamp must be an RFC 3339 date-time with a UTC offset".to_owned();
            r.fail(at(base, "timestamp"), "datetime_invalid", msg);
        }
        Row { id: id.unwrap_or_default(), features, tags, timestamp: timestamp.unwrap_or_default() }
    }
}

impl ParamsWire {
    fn validate(self, r: &mut Rules, base: Loc) -> Params {
        let d = Params::default();
        let threshold = self.threshold.unwrap_or(d.threshold);
        if !(0.0..=1.0).contains(&threshold) {
            r.fail(at(base, "threshold"), "out_of_range", format!("{threshold} is outside [0, 1]"));
        }
        let top_k = self.top_k.unwrap_or(d.top_k as u64);
        r.int_range(top_k, 1, 32, || at(base, "top_k"));
        Params { threshold, top_k: top_k as usize, explain: self.explain.unwrap_or(d.explain) }
    }
}

/// Largest accepted `seed`: 2^53 − 1, the largest integer every JSON parser keeps exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;

impl GenerateWire {
    pub fn validate(self) -> Result<GenerateRequest, ApiError> {
        let mut r = Rules::default();
        let body_loc = vec![LocSeg::from("body")];
        let base = body_loc.as_slice();
        let prompt = r.required(self.prompt, base, "prompt");
        if let Some(p) = &prompt {
            r.str_len(p, 1, 8192, || at(base, "prompt"));
        }
        let max_tokens = r.required(self.max_tokens, base, "max_tokens");
        if let Some(m) = max_tokens {
            r.int_range(m, 1, 4096, || at(base, "max_tokens"));
        }
        let token_delay_ms = self.token_delay_ms.unwrap_or(20);
        r.int_range(token_delay_ms, 0, 1000, || at(base, "token_delay_ms"));
        let seed = self.seed.unwrap_or(0);
        r.int_range(seed, 0, MAX_SEED, || at(base, "seed"));
        r.finish(GenerateRequest {
            prompt: prompt.unwrap_or_default(),
            max_tokens: max_tokens.unwrap_or(0),
            token_delay_ms,
            seed,
        })
    }
}

impl InferWire {
    pub fn validate(self) -> Result<InferRequest, ApiError> {
        let mut r = Rules::default();
        let body_loc = vec![LocSeg::from("body")];
        let base = body_loc.as_slice();
        let features = match r.required(self.features, base, "features") {
            Some(f) => r.features(f, &at(base, "features")),
            None => [0.0; FEATURES],
        };
        let mode = r.required(self.mode, base, "mode");
        let latency_ms = self.latency_ms.unwrap_or(100);
        r.int_range(latency_ms, 0, 60_000, || at(base, "latency_ms"));
        let work = self.work.unwrap_or(1000);
        r.int_range(work, 1, 100_000, || at(base, "work"));
        r.finish(InferRequest { features, mode: mode.unwrap_or(InferMode::Io), latency_ms, work })
    }
}

/// Most messages a gateway request may carry.
pub const MAX_MESSAGES: usize = 64;
/// Longest message `content`, in characters.
pub const MAX_CONTENT_CHARS: usize = 32 * 1024;
/// Largest `max_tokens` / `max_completion_tokens`.
pub const MAX_CHAT_TOKENS: u64 = 4096;

impl ChatWire {
    pub fn validate(self) -> Result<ChatRequest, ApiError> {
        let mut r = Rules::default();
        let body_loc = vec![LocSeg::from("body")];
        let base = body_loc.as_slice();
        let model = r.required(self.model, base, "model");
        if let Some(m) = &model {
            r.str_len(m, 1, 256, || at(base, "model"));
        }
        let messages = r.required(self.messages, base, "messages").map(|messages| {
            let loc = at(base, "messages");
            if messages.is_empty() {
                r.fail(loc.clone(), "too_short", "messages needs at least 1 message".into());
            } else if messages.len() > MAX_MESSAGES {
                let msg = format!("{} messages is above the maximum {MAX_MESSAGES}", messages.len());
                r.fail(loc.clone(), "too_long", msg);
            }
            let checked: Vec<Option<ChatMessage>> =
                messages.into_iter().enumerate().map(|(i, Obj(m))| m.validate(&mut r, &at(&loc, i))).collect();
            checked
        });
        for (field, v) in [("max_tokens", self.max_tokens), ("max_completion_tokens", self.max_completion_tokens)] {
            if let Some(n) = v {
                r.int_range(n, 1, MAX_CHAT_TOKENS, || at(base, field));
            }
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            r.fail(at(base, "temperature"), "out_of_range", format!("{t} is outside [0, 2]"));
        }
        match (model, messages) {
            (Some(model), Some(messages)) if r.found.is_empty() => Ok(ChatRequest {
                model,
                messages: messages.into_iter().flatten().collect(),
                stream: self.stream.unwrap_or(false),
                max_tokens: self.max_completion_tokens.or(self.max_tokens),
                temperature: self.temperature,
            }),
            _ => Err(ApiError::Validation(r.found)),
        }
    }
}

impl MessageWire {
    fn validate(self, r: &mut Rules, base: Loc) -> Option<ChatMessage> {
        let role = r.required(self.role, base, "role");
        let content = r.required(self.content, base, "content");
        if let Some(c) = &content {
            r.str_len(c, 0, MAX_CONTENT_CHARS, || at(base, "content"));
        }
        Some(ChatMessage { role: role?, content: content? })
    }
}

// ---------------------------------------------------------------------------------------
// Model calls and encoding
// ---------------------------------------------------------------------------------------

/// Scores every row of a checked predict request.
pub fn predict(req: &PredictRequest) -> PredictResponse<'_> {
    let p = req.params;
    let predictions = req
        .inputs
        .iter()
        .map(|row| {
            let score = req.model.score(&row.features);
            Prediction {
                id: &row.id,
                score,
                label: Label::of(score, p.threshold),
                top_features: p.explain.then(|| LINEAR.top_features(&row.features, p.top_k)),
            }
        })
        .collect();
    PredictResponse { request_id: &req.request_id, model: req.model, predictions }
}

/// The response for an infer request once its score is known (after the timer in io mode,
/// after the blocking pool in cpu mode).
pub fn infer_response(mode: InferMode, score: f64) -> InferResponse {
    InferResponse { score, label: Label::of(score, 0.5), mode }
}

/// Score for io mode, computed after the simulated remote call.
pub fn infer_io_score(req: &InferRequest) -> f64 {
    infer_io(&req.features)
}

/// Score for cpu mode: must run on the framework's blocking pool.
pub fn infer_cpu_score(req: &InferRequest) -> f64 {
    crate::model::infer_cpu(&req.features, req.work)
}

/// Encodes a response body. One function for every target, so encoding cost is equal.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("response types always serialise")
}
