//! Routing and the handlers. A handler decodes, applies the fault, and builds the answer
//! from the shared schedule; the streaming body does the pacing itself.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::time::Instant;

use crate::config::{Config, Fault, UsageMode};
use crate::content::{Schedule, TokenPlan, word};
use crate::encode::ChunkEncoder;
use crate::request::{self, ChatRequest};
use crate::stats::{Stats, StreamGuard};
use crate::stream::{MockBody, SseStream, StreamFault, StreamShape, Words};

/// A request whose `model` starts with this names its own fault (`mock-fault:cut:2`).
pub const MODEL_FAULT_PREFIX: &str = "mock-fault:";

/// Request bodies beyond this are refused with 413.
pub(crate) const BODY_LIMIT: usize = 1 << 20;

/// What every connection's handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    config: Config,
    stats: Arc<Stats>,
    /// The configured model, JSON-encoded once.
    model_json: String,
    models_body: Bytes,
    /// Valid chat requests so far, for `fault_every`.
    chat_requests: AtomicU64,
    /// The n of `chatcmpl-mock-<n>`.
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: Config, stats: Arc<Stats>) -> Self {
        let model_json = json_string(&config.model);
        let models_body = format!(
            "{{\"object\":\"list\",\"data\":[{{\"id\":{model_json},\"object\":\"model\",\"created\":0,\"owned_by\":\"mock-llm\"}}]}}"
        );
        Shared {
            config,
            stats,
            model_json,
            models_body: models_body.into(),
            chat_requests: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// The fault for the next valid chat request, if it is a `fault_every`th one.
    fn next_fault(&self) -> Option<Fault> {
        let n = self.chat_requests.fetch_add(1, Relaxed) + 1;
        self.config.fault.filter(|_| n.is_multiple_of(u64::from(self.config.fault_every.max(1))))
    }
}

/// A response is either sent, or (`Err`) the connection is closed without one: that is
/// how hyper treats a service error, and how the refuse and cut faults are made.
pub(crate) type Answer = Result<Response<MockBody>, io::Error>;

pub(crate) async fn route<B>(req: Request<B>, shared: Arc<Shared>) -> Answer
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => chat(req, &shared).await,
        (&Method::GET, "/v1/models") => Ok(json(StatusCode::OK, shared.models_body.clone())),
        (&Method::GET, "/health") => Ok(json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))),
        (&Method::GET, "/mock/stats") => Ok(json(StatusCode::OK, shared.stats.snapshot().to_json().into())),
        (method, path @ ("/v1/chat/completions" | "/v1/models" | "/health" | "/mock/stats")) => {
            Ok(invalid(StatusCode::METHOD_NOT_ALLOWED, &format!("method {method} not allowed on {path}")))
        }
        (_, path) => Ok(invalid(StatusCode::NOT_FOUND, &format!("no route for {path}"))),
    }
}

async fn chat<B>(req: Request<B>, shared: &Shared) -> Answer
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // t0: the request's headers have been read; the schedule counts from here.
    let t0 = Instant::now();
    shared.stats.count_request();
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(refusal) => return Ok(refusal),
    };
    let chat = match request::parse(&body) {
        Ok(chat) => chat,
        Err(e) => return Ok(invalid(StatusCode::BAD_REQUEST, &e.to_string())),
    };
    // A `model` of `mock-fault:<F>` faults this request only (the gateway corpus drives
    // the mock through the targets this way, since they forward `model` unchanged).
    let fault = match chat.model.as_deref().and_then(|m| m.strip_prefix(MODEL_FAULT_PREFIX)) {
        Some(spec) => match spec.parse::<Fault>() {
            Ok(f) => Some(f),
            Err(e) => return Ok(invalid(StatusCode::BAD_REQUEST, &e.to_string())),
        },
        None => shared.next_fault(),
    };
    match fault {
        Some(Fault::Refuse) => return Err(io::Error::other("mock fault: refused")),
        Some(Fault::Status500) => {
            let body = "{\"error\":{\"message\":\"mock fault\",\"type\":\"server_error\",\"code\":500}}";
            return Ok(json(StatusCode::INTERNAL_SERVER_ERROR, Bytes::from_static(body.as_bytes())));
        }
        Some(Fault::NonSse) => return Ok(json(StatusCode::OK, Bytes::from_static(b"{\"not\":\"sse\"}"))),
        _ => {}
    }
    let answer = Exchange::new(shared, &chat, t0);
    if chat.stream { Ok(answer.stream(shared, &chat, fault)) } else { answer.complete(shared, fault).await }
}

/// The body, or the 400/413 response that refuses it.
async fn read_body<B>(req: Request<B>) -> Result<Bytes, Response<MockBody>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || invalid(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body exceeds {BODY_LIMIT} bytes"));
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(invalid(StatusCode::BAD_REQUEST, &format!("cannot read request body: {e}"))),
    }
}

/// One chat answer's identity and plan, shared by the streaming and non-streaming forms.
struct Exchange {
    id: u64,
    created: u64,
    model_json: String,
    schedule: Schedule,
    plan: TokenPlan,
    words: Words,
    prompt_tokens: u64,
}

impl Exchange {
    fn new(shared: &Shared, chat: &ChatRequest, t0: Instant) -> Self {
        let config = &shared.config;
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Exchange {
            id: shared.next_id.fetch_add(1, Relaxed),
            created,
            model_json: chat.model.as_deref().map_or_else(|| shared.model_json.clone(), json_string),
            schedule: Schedule { t0, ttft: config.ttft, itl: config.itl },
            plan: TokenPlan {
                max_tokens: chat.max_tokens.unwrap_or(config.default_max_tokens).max(1),
                two_token_every: config.two_token_every,
            },
            words: Words { seed: config.seed, messages_hash: chat.messages_hash },
            prompt_tokens: chat.prompt_tokens,
        }
    }

    /// The SSE response; its head goes out at once, the body paces itself.
    fn stream(self, shared: &Shared, chat: &ChatRequest, fault: Option<Fault>) -> Response<MockBody> {
        let config = &shared.config;
        let with_usage = match config.usage {
            UsageMode::Never => false,
            UsageMode::Request => chat.include_usage,
            UsageMode::Always => true,
        };
        let shape = StreamShape {
            role_chunk: config.role_chunk,
            empty_every: config.empty_every,
            ping_every: config.ping_every,
            reasoning_chunks: config.reasoning_chunks,
            precise_timer: config.precise_timer,
            usage_prompt_tokens: with_usage.then_some(self.prompt_tokens),
            fault: match fault {
                Some(Fault::Cut { after }) => Some(StreamFault::Cut { after }),
                Some(Fault::ErrorEvent { after }) => Some(StreamFault::ErrorEvent { after }),
                _ => None,
            },
        };
        let encoder = ChunkEncoder::new(self.id, self.created, &self.model_json);
        let guard = StreamGuard::open(shared.stats.clone());
        let body = SseStream::new(encoder, self.schedule, self.plan, shape, self.words, guard);
        let mut resp = Response::new(MockBody::Sse(Box::new(body)));
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }

    /// The `chat.completion`, sent when the stream's last chunk would have been due. The
    /// cut fault closes the connection then; the error-event fault answers 500.
    async fn complete(self, shared: &Shared, fault: Option<Fault>) -> Answer {
        let last = self.plan.chunk_count().saturating_sub(1);
        tokio::time::sleep_until(self.schedule.due(last)).await;
        match fault {
            Some(Fault::Cut { .. }) => return Err(io::Error::other("mock fault: connection cut")),
            Some(Fault::ErrorEvent { .. }) => {
                let body = "{\"error\":{\"message\":\"mock error\",\"type\":\"server_error\"}}";
                return Ok(json(StatusCode::INTERNAL_SERVER_ERROR, Bytes::from_static(body.as_bytes())));
            }
            _ => {}
        }
        let Words { seed, messages_hash } = self.words;
        let content: String = (0..self.plan.max_tokens).flat_map(|i| [word(seed, messages_hash, i), " "]).collect();
        let (prompt, completion) = (self.prompt_tokens, self.plan.max_tokens);
        let body = format!(
            "{{\"id\":\"chatcmpl-mock-{}\",\"object\":\"chat.completion\",\"created\":{},\"model\":{},\
             \"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{content}\"}},\
             \"logprobs\":null,\"finish_reason\":\"length\"}}],\
             \"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{}}}}}",
            self.id,
            self.created,
            self.model_json,
            prompt + completion
        );
        shared.stats.count_completion();
        Ok(json(StatusCode::OK, body.into()))
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn json(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::Full(Some(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// OpenAI's shape for a refused request.
fn invalid(status: StatusCode, message: &str) -> Response<MockBody> {
    let body = format!(
        "{{\"error\":{{\"message\":{},\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}}}",
        json_string(message)
    );
    json(status, body.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::new(Config::default(), Arc::new(Stats::default())))
    }

    /// A body over the limit without a content-length (chunked upload) is cut off by
    /// `Limited`, not read to its end.
    #[tokio::test]
    async fn oversized_undeclared_body_is_413() {
        let msgs = r#"{"messages":[{"role":"user","content":"x"}],"pad":""#;
        let body = format!("{msgs}{}\"}}", "x".repeat(BODY_LIMIT));
        let req = Request::post("/v1/chat/completions").body(Full::new(Bytes::from(body))).unwrap();
        let resp = route(req, shared()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    /// `mock-fault:<F>` in `model` faults that request only; an unknown F is a 400.
    #[tokio::test]
    async fn a_model_named_fault_applies_to_its_request_only() {
        let shared = shared();
        let body = |model: &str| {
            let b = format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"x"}}],"max_tokens":1}}"#);
            Request::post("/v1/chat/completions").body(Full::new(Bytes::from(b))).unwrap()
        };
        let resp = route(body("mock-fault:500"), shared.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(route(body("mock-fault:refuse"), shared.clone()).await.is_err());
        let resp = route(body("mock-fault:boom"), shared.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let resp = route(body("mock-llm"), shared).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn body_at_the_limit_is_read() {
        let head = r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":1,"pad":""#;
        let body = format!("{head}{}\"}}", "x".repeat(BODY_LIMIT - head.len() - 2));
        assert_eq!(body.len(), BODY_LIMIT);
        let config = Config { ttft: std::time::Duration::ZERO, ..Config::default() };
        let shared = Arc::new(Shared::new(config, Arc::new(Stats::default())));
        let req = Request::post("/v1/chat/completions").body(Full::new(Bytes::from(body))).unwrap();
        assert_eq!(route(req, shared).await.unwrap().status(), StatusCode::OK);
    }
}
