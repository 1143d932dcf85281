//! The cases every framework bench runs, prepared once from the same `workloads` payloads,
//! and the batching rule that keeps the measurement shape identical for all four.
//!
//! ## Fairness
//! Every framework is timed the same way: criterion's `iter_custom`, requests built *before*
//! the clock starts (in batches of at most [`BATCH`], so memory stays bounded), then one
//! `block_on` per batch on the framework's own runtime (a tokio current-thread runtime for
//! axum, poem and hyper; actix's `System` for actix-web) that sends every request through the
//! framework's own service entry point and reads the whole response body (or, for the
//! first-event case, the first body frame). What is timed is therefore routing, extraction,
//! the handler (shared decode, validation, model, encode) and response building: the
//! framework's per-request cost with no socket.

use bytes::Bytes;
use workloads::conformance::{Body, Case, Expect};
use workloads::payloads;

/// Most requests prepared ahead of one timed batch.
pub const BATCH: u64 = 4096;

/// One bench case: its name, the request, and the status every answer must have.
#[derive(Debug, Clone)]
pub struct BenchCase {
    pub name: &'static str,
    pub case: Case,
    /// The request body, encoded once; every request shares these bytes (a reference-counted
    /// clone), so each iteration reads the same warm memory, as the component benches do.
    pub body: Bytes,
    /// Read only the first body frame (the first SSE event) instead of the whole body.
    pub first_frame_only: bool,
}

impl BenchCase {
    /// The request as `http` types (axum, poem and hyper accept these).
    pub fn http(&self) -> http::Request<Bytes> {
        let mut req = http::Request::builder().method(self.case.method.as_str()).uri(self.case.path.as_str());
        for (k, v) in &self.case.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.header("content-length", self.body.len()).body(self.body.clone()).expect("valid request")
    }
}

fn case(name: &'static str, path: &str, body: Body, status: u16) -> BenchCase {
    let method = if path == "/health" { "GET" } else { "POST" };
    let mut case = Case::new(name, method, path, body);
    case.expect = Expect { status, ..Expect::default() };
    let body = Bytes::from(case.body.bytes());
    BenchCase { name, case, body, first_frame_only: false }
}

/// The predict body with `rows` rows (linear model) used by framework and component benches.
pub fn predict_body(rows: usize) -> serde_json::Value {
    payloads::predict(rows, "linear", 42)
}

/// Every framework case of the benches (the list).
pub fn cases() -> Vec<BenchCase> {
    let mut invalid = predict_body(1);
    invalid["inputs"][0]["features"][7] = serde_json::json!(5000);
    let mut v = vec![
        case("health", "/health", Body::None, 200),
        case("predict-1", "/v1/predict", Body::Json(predict_body(1)), 200),
        case("predict-16", "/v1/predict", Body::Json(predict_body(16)), 200),
        case("predict-128", "/v1/predict", Body::Json(predict_body(128)), 200),
        case("predict-invalid-422", "/v1/predict", Body::Json(invalid), 422),
        case(
            "predict-malformed-400",
            "/v1/predict",
            Body::Text("{\"request_id\": \"abcdefgh\", \"model\":".into()),
            400,
        ),
        case("generate-64-all", "/v1/generate", Body::Json(payloads::generate(64, 0, 7)), 200),
        case("infer-io-0ms", "/v1/infer", Body::Json(payloads::infer_io(0, 9)), 200),
    ];
    let mut first = case("generate-64-first", "/v1/generate", Body::Json(payloads::generate(64, 0, 7)), 200);
    first.first_frame_only = true;
    v.insert(6, first);
    v
}
