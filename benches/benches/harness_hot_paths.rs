//! The load driver's per-request work, which must stay small next to a server's ~10 µs per
//! request: recording a latency, parsing SSE events, and building a request.

use criterion::{Criterion, criterion_group, criterion_main};

fn hot_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("harness");
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, harness::driver::MAX_LATENCY_US, 3).expect("bounds");
    let mut v = 0u64;
    g.bench_function("histogram-record", |b| {
        b.iter(|| {
            v = (v + 7919) % 100_000 + 1;
            h.saturating_record(std::hint::black_box(v));
        })
    });
    let stream: Vec<u8> = workloads::tokens::TokenEvents::new(7, 64).flatten().collect();
    g.bench_function("sse-parse-64-events", |b| {
        b.iter(|| {
            let mut p = workloads::sse::SseParser::new();
            let mut out = Vec::with_capacity(65);
            // Feed in 512-byte pieces, as a socket would deliver them.
            for piece in stream.chunks(512) {
                p.feed(piece, &mut out);
            }
            out.len()
        })
    });
    let set = harness::driver::PayloadSet::predict(1);
    let host = hyper::header::HeaderValue::from_static("127.0.0.1:8080");
    let mut k = 0u64;
    g.bench_function("request-preparation", |b| {
        b.iter(|| {
            k += 1;
            harness::driver::conn::build_request(set.get(k), &host)
        })
    });
    g.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
