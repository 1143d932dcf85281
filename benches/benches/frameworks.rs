//! What one request costs inside each Rust framework, in-process with no socket, through
//! each framework's own service entry point. The measurement shape is the same for all four
//! (see the fairness note in `benches/src/lib.rs`).

use std::time::{Duration, Instant};

use benches::{BATCH, BenchCase, cases};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util_shim::first_frame;
use http_body_util::BodyExt;

/// Times `run` over `iters` requests made by `make` before each batch's clock starts.
fn batched<R>(iters: u64, mut make: impl FnMut() -> R, mut run: impl FnMut(Vec<R>) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let reqs: Vec<R> = (0..n).map(|_| make()).collect();
        total += run(reqs);
        left -= n;
    }
    total
}

mod futures_util_shim {
    use http_body_util::BodyExt;

    /// Reads one data frame (the first SSE event) and drops the rest of the stream.
    pub async fn first_frame<B>(mut body: B) -> usize
    where
        B: hyper::body::Body + Unpin,
        B::Error: std::fmt::Debug,
    {
        loop {
            let frame = body.frame().await.expect("a first frame").expect("frame");
            if let Ok(data) = frame.into_data() {
                return bytes::Buf::remaining(&data);
            }
        }
    }
}

/// One criterion group: every case, each timed by `run` over requests made by `make`.
fn group<R>(
    c: &mut Criterion,
    name: &str,
    mut make: impl FnMut(&BenchCase) -> R,
    mut run: impl FnMut(&BenchCase, Vec<R>) -> Duration,
) {
    let mut g = c.benchmark_group(name);
    for bc in cases() {
        g.bench_function(bc.name, |b| b.iter_custom(|iters| batched(iters, || make(&bc), |reqs| run(&bc, reqs))));
    }
    g.finish();
}

/// Checks the status and reads the body of an `http::Response` (axum, hyper) as the case asks:
/// its first frame, or all of it.
async fn consume<B>(bc: &BenchCase, resp: http::Response<B>)
where
    B: hyper::body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    assert_eq!(resp.status().as_u16(), bc.case.expect.status);
    if bc.first_frame_only {
        std::hint::black_box(first_frame(resp.into_body()).await);
    } else {
        std::hint::black_box(resp.into_body().collect().await.expect("body").to_bytes());
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn axum(c: &mut Criterion) {
    use tower::ServiceExt;
    let rt = current_thread();
    let app = fw_axum::app(fw_axum::Gateway::new(None).expect("gateway"));
    group(
        c,
        "axum",
        |bc| bc.http().map(axum::body::Body::from),
        |bc, reqs| {
            rt.block_on(async {
                let start = Instant::now();
                for r in reqs {
                    let resp = app.clone().oneshot(r).await.expect("infallible");
                    consume(bc, resp).await;
                }
                start.elapsed()
            })
        },
    );
}

fn hyper(c: &mut Criterion) {
    let rt = current_thread();
    let gateway = fw_hyper::Gateway::new(None).expect("gateway");
    group(
        c,
        "hyper",
        |bc| bc.http().map(http_body_util::Full::new),
        |bc, reqs| {
            rt.block_on(async {
                let start = Instant::now();
                for r in reqs {
                    let resp = fw_hyper::app(&gateway, r).await.expect("infallible");
                    consume(bc, resp).await;
                }
                start.elapsed()
            })
        },
    );
}

fn poem(c: &mut Criterion) {
    use poem::Endpoint;
    let rt = current_thread();
    let app = fw_poem::app(fw_poem::Gateway::new(None).expect("gateway"));
    group(
        c,
        "poem",
        |bc| {
            let (parts, body) = bc.http().into_parts();
            let mut req = poem::Request::builder().method(parts.method).uri(parts.uri);
            for (k, v) in &parts.headers {
                req = req.header(k, v);
            }
            req.body(body)
        },
        |bc, reqs| {
            rt.block_on(async {
                let start = Instant::now();
                for r in reqs {
                    let resp = app.get_response(r).await;
                    assert_eq!(resp.status().as_u16(), bc.case.expect.status);
                    if bc.first_frame_only {
                        use futures_util::StreamExt;
                        let mut s = std::pin::pin!(resp.into_body().into_bytes_stream());
                        std::hint::black_box(s.next().await);
                    } else {
                        std::hint::black_box(resp.into_body().into_bytes().await.expect("body"));
                    }
                }
                start.elapsed()
            })
        },
    );
}

fn actix(c: &mut Criterion) {
    use actix_web::body::MessageBody;
    use actix_web::{App, test};
    let sys = actix_web::rt::System::new();
    let app = sys.block_on(test::init_service(App::new().configure(fw_actix_web::configure)));
    let build = |bc: &BenchCase| {
        let method = actix_web::http::Method::from_bytes(bc.case.method.as_bytes()).expect("method");
        let mut req = test::TestRequest::default().method(method).uri(&bc.case.path);
        for (k, v) in &bc.case.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        req.insert_header(("content-length", bc.body.len())).set_payload(bc.body.clone()).to_request()
    };
    group(c, "actix-web", build, |bc, reqs| {
        sys.block_on(async {
            let start = Instant::now();
            for r in reqs {
                let resp = test::call_service(&app, r).await;
                assert_eq!(resp.status().as_u16(), bc.case.expect.status);
                if bc.first_frame_only {
                    let mut body = resp.into_body();
                    let first = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_next(cx)).await;
                    std::hint::black_box(first);
                } else {
                    std::hint::black_box(test::read_body(resp).await);
                }
            }
            start.elapsed()
        })
    });
}

criterion_group!(frameworks, axum, actix, poem, hyper);
criterion_main!(frameworks);
