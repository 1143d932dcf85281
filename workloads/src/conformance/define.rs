//! Where the corpus comes from. Each case states its expected status and `loc` by hand;
//! only the 200 bodies (golden data) are computed, by [`super::reference`], and they are
//! cross-checked against an independent Python computation in `model.rs` tests.
//!
//! Regenerate with `cargo run -p workloads --bin gen-conformance` and review the diff.

use serde_json::{Value, json};

use super::{Body, Case, GatewayExpect, SseExpect, reference};
use crate::contract::{BODY_LIMIT, MAX_SEED};
use crate::payloads;

fn case(name: &str, method: &str, path: &str, body: Body) -> Case {
    Case::new(name, method, path, body)
}

fn post(name: &str, path: &str, body: Value) -> Case {
    case(name, "POST", path, Body::Json(body))
}

fn text(name: &str, path: &str, body: &str) -> Case {
    case(name, "POST", path, Body::Text(body.into()))
}

trait Expecting {
    fn status(self, s: u16) -> Self;
    fn loc(self, loc: Value) -> Self;
}

impl Expecting for Case {
    fn status(mut self, s: u16) -> Self {
        self.expect.status = s;
        self
    }
    fn loc(mut self, loc: Value) -> Self {
        self.expect.status = 422;
        self.expect.loc = Some(loc.as_array().expect("loc is an array").clone());
        self
    }
}

/// `v` with the value at JSON pointer `ptr` replaced (or added).
fn set(v: &Value, ptr: &str, new: Value) -> Value {
    let mut v = v.clone();
    let (parent, key) = ptr.rsplit_once('/').expect("pointer has a slash");
    let p = v.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}"));
    match p {
        Value::Object(m) => {
            m.insert(key.into(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("index")] = new,
        _ => panic!("{parent} is not a container"),
    }
    v
}

/// `v` with the field at `ptr` removed.
fn del(v: &Value, ptr: &str) -> Value {
    let mut v = v.clone();
    let (parent, key) = ptr.rsplit_once('/').expect("pointer has a slash");
    v.pointer_mut(parent).and_then(Value::as_object_mut).expect("object parent").remove(key);
    v
}

fn s(n: usize) -> String {
    "a".repeat(n)
}

/// Every case, with golden bodies filled in.
pub fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(health_and_routing());
    all.extend(predict_cases());
    all.extend(predict_http_cases());
    all.extend(generate_cases());
    all.extend(infer_cases());
    all.extend(chat_cases());
    for c in &mut all {
        fill_golden(c);
    }
    all
}

fn fill_golden(c: &mut Case) {
    if c.expect.status != 200 || c.expect.json.is_some() || c.expect.sse.is_some() || c.expect.gateway.is_some() {
        return;
    }
    let got = reference::answer(c);
    if c.path == "/v1/generate" {
        let delay = match &c.body {
            Body::Json(v) => v.get("token_delay_ms").and_then(Value::as_u64).unwrap_or(20),
            _ => 20,
        };
        let events = crate::sse::parse_all(&got.body).into_iter().map(|e| e.data).collect();
        c.expect.sse = Some(SseExpect { events, token_delay_ms: delay });
    } else {
        c.expect.json = serde_json::from_slice(&got.body).ok();
    }
}

fn health_and_routing() -> Vec<Case> {
    vec![
        case("health/ok", "GET", "/health", Body::None).status(200),
        case("routing/404-get-unknown", "GET", "/nope", Body::None).status(404),
        case("routing/404-post-unknown-v1", "POST", "/v1/nope", Body::Json(json!({}))).status(404),
        case("routing/405-get-predict", "GET", "/v1/predict", Body::None).status(405),
        case("routing/405-post-health", "POST", "/health", Body::Json(json!({}))).status(405),
        case("routing/405-delete-generate", "DELETE", "/v1/generate", Body::None).status(405),
        case("routing/405-put-infer", "PUT", "/v1/infer", Body::Json(json!({}))).status(405),
        case("routing/405-get-chat-completions", "GET", "/v1/chat/completions", Body::None).status(405),
    ]
}

fn predict_cases() -> Vec<Case> {
    let p = "/v1/predict";
    let b = payloads::predict(1, "linear", 1);
    let mut v = vec![
        post("predict/ok/linear-1row", p, b.clone()).status(200),
        post("predict/ok/mlp-1row", p, payloads::predict(1, "mlp", 2)).status(200),
        post("predict/ok/linear-16rows", p, payloads::predict(16, "linear", 3)).status(200),
        post("predict/ok/mlp-256rows", p, payloads::predict(256, "mlp", 4)).status(200),
        post("predict/ok/explain-default-top-k", p, set(&b, "/params", json!({"explain": true}))).status(200),
        post("predict/ok/explain-top-k-1", p, set(&b, "/params", json!({"explain": true, "top_k": 1}))).status(200),
        post(
            "predict/ok/explain-top-k-32-mlp",
            p,
            set(&payloads::predict(2, "mlp", 5), "/params", json!({"explain": true, "top_k": 32})),
        )
        .status(200),
        post(
            "predict/ok/explain-false-hides-top-features",
            p,
            set(&b, "/params", json!({"explain": false, "top_k": 5})),
        )
        .status(200),
        post(
            "predict/ok/threshold-0-all-positive",
            p,
            set(&payloads::predict(4, "linear", 6), "/params", json!({"threshold": 0})),
        )
        .status(200),
        post(
            "predict/ok/threshold-1-all-negative",
            p,
            set(&payloads::predict(4, "mlp", 7), "/params", json!({"threshold": 1.0})),
        )
        .status(200),
        post("predict/ok/zero-features", p, set(&b, "/inputs/0/features", json!(vec![0.0; 32]))).status(200),
        post(
            "predict/ok/unknown-fields-ignored",
            p,
            set(&set(&b, "/extra", json!({"x": [1, 2]})), "/inputs/0/color", json!("red")),
        )
        .status(200),
        post("predict/ok/request-id-8", p, set(&b, "/request_id", json!("abcd_-12"))).status(200),
        post("predict/ok/request-id-64", p, set(&b, "/request_id", json!("Z".repeat(64)))).status(200),
        post("predict/ok/row-id-64", p, set(&b, "/inputs/0/id", json!(s(64)))).status(200),
        post(
            "predict/ok/features-at-bounds",
            p,
            set(&set(&b, "/inputs/0/features/0", json!(1000)), "/inputs/0/features/1", json!(-1000.0)),
        )
        .status(200),
        post("predict/ok/no-tags", p, del(&b, "/inputs/0/tags")).status(200),
        post(
            "predict/ok/16-tags-max-lengths",
            p,
            set(&b, "/inputs/0/tags", Value::Object((0..16).map(|i| (format!("{i:0>32}"), json!(s(64)))).collect())),
        )
        .status(200),
        post("predict/ok/timestamp-offset", p, set(&b, "/inputs/0/timestamp", json!("2026-11-21T10:00:00.123+01:00")))
            .status(200),
        post(
            "predict/ok/params-at-bounds",
            p,
            set(&b, "/params", json!({"threshold": 0.0, "top_k": 32, "explain": true})),
        )
        .status(200),
        // request_id
        post("predict/request-id/too-short-7", p, set(&b, "/request_id", json!("abcdefg")))
            .loc(json!(["body", "request_id"])),
        post("predict/request-id/too-long-65", p, set(&b, "/request_id", json!(s(65))))
            .loc(json!(["body", "request_id"])),
        post("predict/request-id/pattern", p, set(&b, "/request_id", json!("abc def!")))
            .loc(json!(["body", "request_id"])),
        post("predict/request-id/missing", p, del(&b, "/request_id")).loc(json!(["body", "request_id"])),
        post("predict/request-id/number", p, set(&b, "/request_id", json!(12345678)))
            .loc(json!(["body", "request_id"])),
        post("predict/request-id/null", p, set(&b, "/request_id", Value::Null)).loc(json!(["body", "request_id"])),
        // model
        post("predict/model/unknown-enum", p, set(&b, "/model", json!("forest"))).loc(json!(["body", "model"])),
        post("predict/model/missing", p, del(&b, "/model")).loc(json!(["body", "model"])),
        post("predict/model/number", p, set(&b, "/model", json!(1))).loc(json!(["body", "model"])),
        post("predict/model/case-sensitive", p, set(&b, "/model", json!("Linear"))).loc(json!(["body", "model"])),
        // inputs
        post("predict/inputs/empty", p, set(&b, "/inputs", json!([]))).loc(json!(["body", "inputs"])),
        post("predict/inputs/257-rows", p, payloads::predict(257, "linear", 8)).loc(json!(["body", "inputs"])),
        post("predict/inputs/missing", p, del(&b, "/inputs")).loc(json!(["body", "inputs"])),
        post("predict/inputs/not-array", p, set(&b, "/inputs", json!({"0": 1}))).loc(json!(["body", "inputs"])),
        post("predict/inputs/row-not-object", p, set(&b, "/inputs/0", json!(5))).loc(json!(["body", "inputs", 0])),
        post("predict/inputs/row-is-array", p, set(&b, "/inputs/0", json!(["row-0", [], {}, "2026-11-21T10:00:00Z"])))
            .loc(json!(["body", "inputs", 0])),
        // row id
        post("predict/row-id/empty", p, set(&b, "/inputs/0/id", json!(""))).loc(json!(["body", "inputs", 0, "id"])),
        post("predict/row-id/too-long-65", p, set(&b, "/inputs/0/id", json!(s(65))))
            .loc(json!(["body", "inputs", 0, "id"])),
        post("predict/row-id/missing", p, del(&b, "/inputs/0/id")).loc(json!(["body", "inputs", 0, "id"])),
        post("predict/row-id/number", p, set(&b, "/inputs/0/id", json!(7))).loc(json!(["body", "inputs", 0, "id"])),
        // features
        post("predict/features/31", p, set(&b, "/inputs/0/features", json!(vec![0.5; 31])))
            .loc(json!(["body", "inputs", 0, "features"])),
        post("predict/features/33", p, set(&b, "/inputs/0/features", json!(vec![0.5; 33])))
            .loc(json!(["body", "inputs", 0, "features"])),
        post("predict/features/above-1000", p, set(&b, "/inputs/0/features/7", json!(1000.0001)))
            .loc(json!(["body", "inputs", 0, "features", 7])),
        post("predict/features/below-minus-1000", p, set(&b, "/inputs/0/features/31", json!(-1000.5)))
            .loc(json!(["body", "inputs", 0, "features", 31])),
        post("predict/features/string-element", p, set(&b, "/inputs/0/features/3", json!("1")))
            .loc(json!(["body", "inputs", 0, "features", 3])),
        post("predict/features/bool-element", p, set(&b, "/inputs/0/features/0", json!(true)))
            .loc(json!(["body", "inputs", 0, "features", 0])),
        post("predict/features/null-element", p, set(&b, "/inputs/0/features/5", Value::Null))
            .loc(json!(["body", "inputs", 0, "features", 5])),
        post("predict/features/missing", p, del(&b, "/inputs/0/features"))
            .loc(json!(["body", "inputs", 0, "features"])),
        post("predict/features/not-array", p, set(&b, "/inputs/0/features", json!("0,1,2")))
            .loc(json!(["body", "inputs", 0, "features"])),
        post(
            "predict/features/second-row",
            p,
            set(&payloads::predict(3, "mlp", 9), "/inputs/2/features/30", json!(5000)),
        )
        .loc(json!(["body", "inputs", 2, "features", 30])),
        // tags
        post(
            "predict/tags/17-entries",
            p,
            set(&b, "/inputs/0/tags", Value::Object((0..17).map(|i| (format!("k{i}"), json!("v"))).collect())),
        )
        .loc(json!(["body", "inputs", 0, "tags"])),
        post("predict/tags/uppercase-key", p, set(&b, "/inputs/0/tags", json!({"Bad": "v"})))
            .loc(json!(["body", "inputs", 0, "tags", "Bad"])),
        post("predict/tags/empty-key", p, set(&b, "/inputs/0/tags", json!({"": "v"})))
            .loc(json!(["body", "inputs", 0, "tags", ""])),
        post("predict/tags/key-33", p, set(&b, "/inputs/0/tags", json!({s(33): "v"}))).loc(json!([
            "body",
            "inputs",
            0,
            "tags",
            s(33)
        ])),
        post("predict/tags/empty-value", p, set(&b, "/inputs/0/tags", json!({"k": ""})))
            .loc(json!(["body", "inputs", 0, "tags", "k"])),
        post("predict/tags/value-65", p, set(&b, "/inputs/0/tags", json!({"k": s(65)})))
            .loc(json!(["body", "inputs", 0, "tags", "k"])),
        post("predict/tags/value-number", p, set(&b, "/inputs/0/tags", json!({"k": 1})))
            .loc(json!(["body", "inputs", 0, "tags", "k"])),
        post("predict/tags/not-object", p, set(&b, "/inputs/0/tags", json!(["a", "b"])))
            .loc(json!(["body", "inputs", 0, "tags"])),
        // timestamp
        post("predict/timestamp/no-offset", p, set(&b, "/inputs/0/timestamp", json!("2026-11-21T10:00:00")))
            .loc(json!(["body", "inputs", 0, "timestamp"])),
        post("predict/timestamp/date-only", p, set(&b, "/inputs/0/timestamp", json!("2026-11-21"))).loc(json!([
            "body",
            "inputs",
            0,
            "timestamp"
        ])),
        post("predict/timestamp/garbage", p, set(&b, "/inputs/0/timestamp", json!("yesterday"))).loc(json!([
            "body",
            "inputs",
            0,
            "timestamp"
        ])),
        post("predict/timestamp/number", p, set(&b, "/inputs/0/timestamp", json!(1_763_719_200))).loc(json!([
            "body",
            "inputs",
            0,
            "timestamp"
        ])),
        post("predict/timestamp/missing", p, del(&b, "/inputs/0/timestamp")).loc(json!([
            "body",
            "inputs",
            0,
            "timestamp"
        ])),
        // params
        post("predict/params/threshold-below-0", p, set(&b, "/params", json!({"threshold": -0.01}))).loc(json!([
            "body",
            "params",
            "threshold"
        ])),
        post("predict/params/threshold-above-1", p, set(&b, "/params", json!({"threshold": 1.01}))).loc(json!([
            "body",
            "params",
            "threshold"
        ])),
        post("predict/params/threshold-string", p, set(&b, "/params", json!({"threshold": "0.5"}))).loc(json!([
            "body",
            "params",
            "threshold"
        ])),
        post("predict/params/top-k-0", p, set(&b, "/params", json!({"top_k": 0})))
            .loc(json!(["body", "params", "top_k"])),
        post("predict/params/top-k-33", p, set(&b, "/params", json!({"top_k": 33})))
            .loc(json!(["body", "params", "top_k"])),
        post("predict/params/top-k-negative", p, set(&b, "/params", json!({"top_k": -1})))
            .loc(json!(["body", "params", "top_k"])),
        post("predict/params/top-k-bool", p, set(&b, "/params", json!({"top_k": true})))
            .loc(json!(["body", "params", "top_k"])),
        post("predict/params/explain-string", p, set(&b, "/params", json!({"explain": "true"})))
            .loc(json!(["body", "params", "explain"])),
        post("predict/params/explain-int", p, set(&b, "/params", json!({"explain": 1})))
            .loc(json!(["body", "params", "explain"])),
        post("predict/params/not-object", p, set(&b, "/params", json!([0.5]))).loc(json!(["body", "params"])),
        post("predict/params/null", p, set(&b, "/params", Value::Null)).loc(json!(["body", "params"])),
        // top level
        post("predict/top-level/array", p, json!([])).loc(json!(["body"])),
        post("predict/top-level/string", p, json!("predict")).loc(json!(["body"])),
        post("predict/top-level/null", p, Value::Null).loc(json!(["body"])),
        post("predict/top-level/number", p, json!(42)).loc(json!(["body"])),
    ];
    // Integer spellings that JSON allows but the contract's strict integers reject.
    let compact = serde_json::to_string(&set(&b, "/params", json!({"top_k": 3}))).unwrap();
    for (name, spelling) in [("3.5", "3.5"), ("3.0", "3.0"), ("1e2", "1e2")] {
        let body = compact.replace("\"top_k\":3", &format!("\"top_k\":{spelling}"));
        assert_ne!(body, compact);
        v.push(text(&format!("predict/params/top-k-float-{name}"), p, &body).loc(json!(["body", "params", "top_k"])));
    }
    v
}

fn predict_http_cases() -> Vec<Case> {
    let p = "/v1/predict";
    let valid = serde_json::to_string(&payloads::predict(1, "linear", 1)).unwrap();
    let with_ct = |name: &str, ct: Option<&str>, status: u16| {
        let mut c = text(name, p, &valid).status(status);
        c.headers = ct.map(|ct| vec![("content-type".into(), ct.into())]).unwrap_or_default();
        c
    };
    let generated = |name: &str, bytes: usize, chunked: bool, status: u16| {
        let mut c = case(name, "POST", p, Body::Generated { name: "padded-predict".into(), bytes }).status(status);
        c.chunked = chunked;
        c
    };
    vec![
        // 400: not JSON at all
        text("predict/json/empty-body", p, "").status(400),
        text("predict/json/truncated", p, &valid[..valid.len() / 2]).status(400),
        text("predict/json/trailing-garbage", p, &format!("{valid}}}")).status(400),
        text("predict/json/trailing-second-value", p, &format!("{valid} {{}}")).status(400),
        text("predict/json/nan-literal", p, &valid.replacen("\"features\":[", "\"features\":[NaN,", 1)).status(400),
        text("predict/json/infinity-literal", p, &valid.replacen("\"features\":[", "\"features\":[Infinity,", 1))
            .status(400),
        text("predict/json/single-quotes", p, "{'request_id': 'abcdefgh'}").status(400),
        text("predict/json/type-error-then-garbage", p, "{\"request_id\": 5, \"model\": }").status(400),
        // `{"request_id":"abc<0xFF>defgh"}`: 0xFF never occurs in UTF-8.
        case(
            "predict/json/invalid-utf8",
            "POST",
            p,
            Body::Hex(format!("{}ff{}", hex("{\"request_id\":\"abc"), hex("defgh\"}"))),
        )
        .status(400),
        // 415: content type
        with_ct("predict/content-type/missing", None, 415),
        with_ct("predict/content-type/text-plain", Some("text/plain"), 415),
        with_ct("predict/content-type/form", Some("application/x-www-form-urlencoded"), 415),
        with_ct("predict/content-type/upper-case-ok", Some("APPLICATION/JSON"), 200),
        with_ct("predict/content-type/charset-ok", Some("application/json; charset=utf-8"), 200),
        // 413: body limit, announced and chunked, with the exact limit accepted both ways
        generated("predict/limit/exact-limit-content-length", BODY_LIMIT, false, 200),
        generated("predict/limit/exact-limit-chunked", BODY_LIMIT, true, 200),
        generated("predict/limit/over-by-1-content-length", BODY_LIMIT + 1, false, 413),
        generated("predict/limit/over-by-1-chunked", BODY_LIMIT + 1, true, 413),
        generated("predict/limit/4mib-content-length", 4 * BODY_LIMIT, false, 413),
    ]
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn generate_cases() -> Vec<Case> {
    let p = "/v1/generate";
    let b = payloads::generate(8, 0, 42);
    vec![
        post("generate/ok/1-token-no-delay", p, payloads::generate(1, 0, 1)).status(200),
        post("generate/ok/64-tokens-no-delay", p, payloads::generate(64, 0, 2)).status(200),
        post("generate/ok/5-tokens-20ms", p, payloads::generate(5, 20, 3)).status(200),
        post("generate/ok/default-seed-and-delay", p, json!({"prompt": "x", "max_tokens": 3})).status(200),
        post("generate/ok/max-seed", p, set(&b, "/seed", json!(MAX_SEED))).status(200),
        post("generate/ok/prompt-8192", p, set(&b, "/prompt", json!(s(8192)))).status(200),
        post("generate/ok/max-delay-1-token", p, payloads::generate(1, 1000, 4)).status(200),
        post("generate/prompt/empty", p, set(&b, "/prompt", json!(""))).loc(json!(["body", "prompt"])),
        post("generate/prompt/8193", p, set(&b, "/prompt", json!(s(8193)))).loc(json!(["body", "prompt"])),
        post("generate/prompt/missing", p, del(&b, "/prompt")).loc(json!(["body", "prompt"])),
        post("generate/prompt/number", p, set(&b, "/prompt", json!(1))).loc(json!(["body", "prompt"])),
        post("generate/max-tokens/0", p, set(&b, "/max_tokens", json!(0))).loc(json!(["body", "max_tokens"])),
        post("generate/max-tokens/4097", p, set(&b, "/max_tokens", json!(4097))).loc(json!(["body", "max_tokens"])),
        post("generate/max-tokens/missing", p, del(&b, "/max_tokens")).loc(json!(["body", "max_tokens"])),
        post("generate/max-tokens/float", p, set(&b, "/max_tokens", json!(1.5))).loc(json!(["body", "max_tokens"])),
        post("generate/max-tokens/string", p, set(&b, "/max_tokens", json!("5"))).loc(json!(["body", "max_tokens"])),
        post("generate/token-delay/1001", p, set(&b, "/token_delay_ms", json!(1001)))
            .loc(json!(["body", "token_delay_ms"])),
        post("generate/token-delay/negative", p, set(&b, "/token_delay_ms", json!(-1)))
            .loc(json!(["body", "token_delay_ms"])),
        post("generate/seed/2-pow-53", p, set(&b, "/seed", json!(MAX_SEED + 1))).loc(json!(["body", "seed"])),
        post("generate/seed/negative", p, set(&b, "/seed", json!(-1))).loc(json!(["body", "seed"])),
        post("generate/top-level/array", p, json!([1])).loc(json!(["body"])),
        text("generate/json/truncated", p, "{\"prompt\": \"hi\", \"max_tok").status(400),
        {
            let mut c = post("generate/content-type/missing", p, b.clone()).status(415);
            c.headers.clear();
            c
        },
    ]
}

fn infer_cases() -> Vec<Case> {
    let p = "/v1/infer";
    let b = payloads::infer_io(0, 11);
    vec![
        post("infer/ok/io-0ms", p, b.clone()).status(200),
        post("infer/ok/io-50ms", p, payloads::infer_io(50, 12)).status(200),
        post("infer/ok/io-default-latency", p, del(&b, "/latency_ms")).status(200),
        post("infer/ok/cpu-work-1", p, payloads::infer_cpu(1, 13)).status(200),
        post("infer/ok/cpu-default-work", p, json!({"features": payloads::features(14), "mode": "cpu"})).status(200),
        post("infer/ok/cpu-work-100000", p, payloads::infer_cpu(100_000, 15)).status(200),
        post("infer/mode/unknown", p, set(&b, "/mode", json!("gpu"))).loc(json!(["body", "mode"])),
        post("infer/mode/missing", p, del(&b, "/mode")).loc(json!(["body", "mode"])),
        post("infer/features/31", p, set(&b, "/features", json!(vec![1.0; 31]))).loc(json!(["body", "features"])),
        post("infer/features/out-of-range", p, set(&b, "/features/12", json!(-1001)))
            .loc(json!(["body", "features", 12])),
        post("infer/features/missing", p, del(&b, "/features")).loc(json!(["body", "features"])),
        post("infer/latency/60001", p, set(&b, "/latency_ms", json!(60_001))).loc(json!(["body", "latency_ms"])),
        post("infer/latency/string", p, set(&b, "/latency_ms", json!("10"))).loc(json!(["body", "latency_ms"])),
        post("infer/work/0", p, set(&payloads::infer_cpu(1, 16), "/work", json!(0))).loc(json!(["body", "work"])),
        post("infer/work/100001", p, set(&payloads::infer_cpu(1, 16), "/work", json!(100_001)))
            .loc(json!(["body", "work"])),
        text("infer/json/nan", p, "{\"features\": [NaN], \"mode\": \"io\"}").status(400),
    ]
}

/// `v` with the keys of every object in sorted order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The corpus file's text: a header, then one case per line.
pub fn render_corpus() -> String {
    let mut out = String::from(
        "// mlapi-bench conformance corpus. Generated by `cargo run -p workloads --bin gen-conformance`;\n\
         // do not edit by hand. Format and meaning: docs/contract.md, \"Conformance suite\".\n",
    );
    for mut c in cases() {
        // Key order must not depend on whether some crate in the build enabled serde_json's
        // `preserve_order`: sort every object's keys.
        if let Body::Json(v) = &mut c.body {
            *v = canonical(v);
        }
        c.expect.json = c.expect.json.as_ref().map(canonical);
        out.push_str(&serde_json::to_string(&c).expect("case serialises"));
        out.push('\n');
    }
    out
}

/// A gateway answer of `tokens` content chunks (or words), ending with `[DONE]` or not.
fn gateway(mut c: Case, stream: bool, tokens: u64, done: bool) -> Case {
    c.expect.status = 200;
    c.expect.gateway = Some(GatewayExpect { stream, tokens, done });
    c
}

/// A case whose upstream must be our mock, faulted through the forwarded `model`.
fn faulted(name: &str, body: &Value, fault: &str) -> Case {
    let mut c = post(name, "/v1/chat/completions", set(body, "/model", json!(format!("mock-fault:{fault}"))));
    c.upstream_fault = true;
    c
}

fn chat_cases() -> Vec<Case> {
    let p = "/v1/chat/completions";
    let c = payloads::chat_completion(8);
    let st = set(&c, "/stream", json!(true));
    let many = json!((0..64).map(|i| json!({"role": "user", "content": format!("m{i}")})).collect::<Vec<_>>());
    let generated = |name: &str, bytes: usize, chunked: bool, status: u16| {
        let mut c = case(name, "POST", p, Body::Generated { name: "padded-chat".into(), bytes }).status(status);
        c.chunked = chunked;
        c
    };
    vec![
        gateway(post("chat/ok/stream-8", p, st.clone()), true, 8, true),
        gateway(
            post("chat/ok/max-completion-tokens-wins", p, set(&st, "/max_completion_tokens", json!(3))),
            true,
            3,
            true,
        ),
        gateway(
            post(
                "chat/ok/unknown-fields-ignored",
                p,
                set(
                    &set(&set(&st, "/stream_options", json!({"include_usage": true})), "/top_p", json!(0.9)),
                    "/messages/0/name",
                    json!("sys"),
                ),
            ),
            true,
            8,
            true,
        ),
        gateway(
            post(
                "chat/ok/temperature-and-empty-content",
                p,
                set(
                    &set(
                        &set(&st, "/temperature", json!(0)),
                        "/messages/1",
                        json!({"role": "assistant", "content": ""}),
                    ),
                    "/max_tokens",
                    json!(4),
                ),
            ),
            true,
            4,
            true,
        ),
        gateway(
            post("chat/ok/64-messages", p, set(&set(&st, "/messages", many.clone()), "/max_tokens", json!(1))),
            true,
            1,
            true,
        ),
        gateway(
            post("chat/ok/no-limit-takes-the-upstreams", p, del(&st, "/max_tokens")),
            true,
            super::MOCK_DEFAULT_MAX_TOKENS,
            true,
        ),
        gateway(post("chat/ok/completion-5", p, payloads::chat_completion(5)), false, 5, true),
        gateway(
            post("chat/ok/completion-stream-false", p, set(&payloads::chat_completion(2), "/stream", json!(false))),
            false,
            2,
            true,
        ),
        gateway(
            post(
                "chat/ok/content-32768",
                p,
                set(&payloads::chat_completion(1), "/messages/1/content", json!(s(32768))),
            ),
            false,
            1,
            true,
        ),
        gateway(generated("chat/body/exactly-1mib", BODY_LIMIT, false, 200), false, 1, true),
        generated("chat/body/1mib-plus-1", BODY_LIMIT + 1, false, 413),
        generated("chat/body/1mib-plus-1-chunked", BODY_LIMIT + 1, true, 413),
        post("chat/model/missing", p, del(&c, "/model")).loc(json!(["body", "model"])),
        post("chat/model/empty", p, set(&c, "/model", json!(""))).loc(json!(["body", "model"])),
        post("chat/model/number", p, set(&c, "/model", json!(4))).loc(json!(["body", "model"])),
        post("chat/messages/missing", p, del(&c, "/messages")).loc(json!(["body", "messages"])),
        post("chat/messages/empty", p, set(&c, "/messages", json!([]))).loc(json!(["body", "messages"])),
        post(
            "chat/messages/65",
            p,
            set(&c, "/messages", {
                let mut m = many.as_array().unwrap().clone();
                m.push(json!({"role": "user", "content": "one more"}));
                Value::Array(m)
            }),
        )
        .loc(json!(["body", "messages"])),
        post("chat/messages/string", p, set(&c, "/messages", json!("hi"))).loc(json!(["body", "messages"])),
        post("chat/messages/item-not-object", p, set(&c, "/messages/0", json!("hi")))
            .loc(json!(["body", "messages", 0])),
        post("chat/messages/role-tool", p, set(&c, "/messages/0/role", json!("tool")))
            .loc(json!(["body", "messages", 0, "role"])),
        post("chat/messages/role-missing", p, del(&c, "/messages/1/role")).loc(json!(["body", "messages", 1, "role"])),
        post("chat/messages/content-parts", p, set(&c, "/messages/1/content", json!([{"type": "text", "text": "hi"}])))
            .loc(json!(["body", "messages", 1, "content"])),
        post("chat/messages/content-missing", p, del(&c, "/messages/1/content"))
            .loc(json!(["body", "messages", 1, "content"])),
        post("chat/messages/content-null", p, set(&c, "/messages/1/content", Value::Null))
            .loc(json!(["body", "messages", 1, "content"])),
        post("chat/messages/content-32769", p, set(&c, "/messages/1/content", json!(s(32769))))
            .loc(json!(["body", "messages", 1, "content"])),
        post("chat/stream/number", p, set(&c, "/stream", json!(1))).loc(json!(["body", "stream"])),
        post("chat/stream/null", p, set(&c, "/stream", Value::Null)).loc(json!(["body", "stream"])),
        post("chat/max-tokens/0", p, set(&c, "/max_tokens", json!(0))).loc(json!(["body", "max_tokens"])),
        post("chat/max-tokens/4097", p, set(&c, "/max_tokens", json!(4097))).loc(json!(["body", "max_tokens"])),
        post("chat/max-tokens/float", p, set(&c, "/max_tokens", json!(3.5))).loc(json!(["body", "max_tokens"])),
        post("chat/max-tokens/string", p, set(&c, "/max_tokens", json!("8"))).loc(json!(["body", "max_tokens"])),
        post("chat/max-completion-tokens/0", p, set(&c, "/max_completion_tokens", json!(0)))
            .loc(json!(["body", "max_completion_tokens"])),
        post("chat/temperature/2.5", p, set(&c, "/temperature", json!(2.5))).loc(json!(["body", "temperature"])),
        post("chat/temperature/negative", p, set(&c, "/temperature", json!(-0.1))).loc(json!(["body", "temperature"])),
        post("chat/temperature/string", p, set(&c, "/temperature", json!("1"))).loc(json!(["body", "temperature"])),
        post("chat/top-level/array", p, json!([c.clone()])).loc(json!(["body"])),
        text("chat/json/truncated", p, "{\"model\": \"mock-llm\", \"messa").status(400),
        {
            let mut c = post("chat/content-type/missing", p, st.clone()).status(415);
            c.headers.clear();
            c
        },
        faulted("chat/upstream/refused-stream", &st, "refuse").status(502),
        faulted("chat/upstream/500-stream", &st, "500").status(502),
        faulted("chat/upstream/non-sse-stream", &st, "non-sse").status(502),
        gateway(faulted("chat/upstream/cut-2-stream", &st, "cut:2"), true, 2, false),
        gateway(faulted("chat/upstream/error-event-2-stream", &st, "error:2"), true, 2, false),
        faulted("chat/upstream/refused-completion", &c, "refuse").status(502),
        faulted("chat/upstream/500-completion", &c, "500").status(502),
        faulted("chat/upstream/cut-completion", &c, "cut:2").status(502),
    ]
}
