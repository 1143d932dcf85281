//! The shared per-request work on its own, from `workloads`: JSON decode, validation, the
//! model, and response encoding for 1, 16 and 128 rows, plus one row through each model.
//! `harness decompose` subtracts these from the framework totals to get each framework's own
//! overhead.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use workloads::contract::{PredictWire, parse};

const ROWS: [usize; 3] = [1, 16, 128];

fn components(c: &mut Criterion) {
    let mut g = c.benchmark_group("components");
    for rows in ROWS {
        let bytes = serde_json::to_vec(&benches::predict_body(rows)).expect("body");
        g.bench_function(format!("decode-{rows}"), |b| {
            b.iter(|| parse::<PredictWire>(std::hint::black_box(&bytes)).expect("valid"))
        });
        g.bench_function(format!("validate-{rows}"), |b| {
            b.iter_batched(
                || parse::<PredictWire>(&bytes).expect("valid"),
                |wire| wire.validate().expect("valid"),
                BatchSize::SmallInput,
            )
        });
        let req = workloads::decode_predict(&bytes).expect("valid");
        g.bench_function(format!("model-{rows}"), |b| {
            b.iter(|| workloads::predict(std::hint::black_box(&req)).predictions.len())
        });
        let resp = workloads::predict(&req);
        g.bench_function(format!("encode-{rows}"), |b| b.iter(|| workloads::to_json(std::hint::black_box(&resp))));
    }
    let x: [f64; 32] = std::array::from_fn(|i| i as f64 / 8.0 - 2.0);
    g.bench_function("linear-1-row", |b| b.iter(|| workloads::model::LINEAR.score(std::hint::black_box(&x))));
    g.bench_function("mlp-1-row", |b| b.iter(|| workloads::model::MLP.score(std::hint::black_box(&x))));
    g.finish();
}

criterion_group!(benches, components);
criterion_main!(benches);
