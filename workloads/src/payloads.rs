//! Deterministic request bodies: the same bytes for the conformance corpus, the benches
//! and the load driver, so every target is asked exactly the same thing.

use serde_json::{Value, json};

use crate::model::{FEATURES, SplitMix64};

/// Features in [-2, 2), drawn from `seed` so that scores spread over (0, 1).
pub fn features(seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..FEATURES).map(|_| rng.next_weight() * 4.0).collect()
}

/// One valid predict row.
pub fn row(i: usize, seed: u64) -> Value {
    json!({
        "id": format!("row-{i}"),
        "features": features(seed.wrapping_add(i as u64)),
        "tags": {"source": "bench", "shard": format!("s{}", i % 4)},
        "timestamp": "2026-11-21T10:00:00Z",
    })
}

/// A valid predict body with `rows` rows.
pub fn predict(rows: usize, model: &str, seed: u64) -> Value {
    json!({
        "request_id": format!("req-{seed:08}"),
        "model": model,
        "inputs": (0..rows).map(|i| row(i, seed)).collect::<Vec<_>>(),
    })
}

/// A valid generate body.
pub fn generate(max_tokens: u64, token_delay_ms: u64, seed: u64) -> Value {
    json!({"prompt": "Tell me about benchmarks.", "max_tokens": max_tokens, "token_delay_ms": token_delay_ms, "seed": seed})
}

/// A valid infer body.
pub fn infer_io(latency_ms: u64, seed: u64) -> Value {
    json!({"features": features(seed), "mode": "io", "latency_ms": latency_ms})
}

/// A valid cpu-mode infer body.
pub fn infer_cpu(work: u64, seed: u64) -> Value {
    json!({"features": features(seed), "mode": "cpu", "work": work})
}

/// Bytes of a body made by name, for bodies too large to keep in the corpus file.
/// `oversize`: a syntactically valid predict body padded with an ignored field to exactly `bytes`.
pub fn generated_body(name: &str, bytes: usize) -> Option<Vec<u8>> {
    let base = match name {
        "padded-predict" => predict(1, "linear", 1),
        "padded-chat" => chat_completion(1),
        _ => return None,
    };
    let base = serde_json::to_vec(&base).ok()?;
    // {"pad":"xxx…", <base without its opening brace>
    let overhead = br#"{"pad":"","#.len() + base.len() - 1;
    let pad = bytes.checked_sub(overhead)?;
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(br#"{"pad":""#);
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(b"\",");
    out.extend_from_slice(&base[1..]);
    Some(out)
}

/// A non-streaming gateway request for `max_tokens` tokens from the mock.
pub fn chat_completion(max_tokens: u64) -> Value {
    json!({
        "model": "mock-llm",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}],
        "max_tokens": max_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_body_has_exact_size_and_is_valid() {
        for n in [crate::contract::BODY_LIMIT, crate::contract::BODY_LIMIT + 1] {
            let b = generated_body("padded-predict", n).unwrap();
            assert_eq!(b.len(), n);
            assert!(crate::contract::decode_predict(&b).is_ok());
        }
    }

    #[test]
    fn generated_bodies_are_valid() {
        for rows in [1, 16, 256] {
            let b = serde_json::to_vec(&predict(rows, "mlp", 3)).unwrap();
            assert_eq!(crate::contract::decode_predict(&b).unwrap().inputs.len(), rows);
        }
        assert!(crate::contract::decode_generate(&serde_json::to_vec(&generate(64, 20, 1)).unwrap()).is_ok());
        assert!(crate::contract::decode_infer(&serde_json::to_vec(&infer_io(0, 1)).unwrap()).is_ok());
        assert!(crate::contract::decode_infer(&serde_json::to_vec(&infer_cpu(10, 1)).unwrap()).is_ok());
    }
}
