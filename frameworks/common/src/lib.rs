//! What the four Rust servers share besides the contract: one command line, one logging
//! setup, one way to bind and announce, one signal handler, the token stream's timer, and
//! the gateway's rules and stream re-labelling ([`gateway`]).
//! Sharing these is how "identical setup" stays true; each framework keeps only what is
//! genuinely its own (routing, extraction, response building, its server loop).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use workloads::contract::{GenerateRequest, InferMode, InferRequest, infer_cpu_score, infer_io_score};
use workloads::tokens::TokenEvents;

pub mod gateway;
#[cfg(feature = "testing")]
pub mod testing;

/// How long in-flight requests may run after SIGTERM/SIGINT before the server exits.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's head before the server closes the
/// connection (slowloris). Set where the framework offers one: hyper's
/// `header_read_timeout` (fw-hyper) and actix-web's `client_request_timeout` (5 s is its
/// default). `axum::serve` and poem's `Server` expose none (docs/methodology.md).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// `fw-<name> --port <N> [--bind 127.0.0.1] [--workers <N>] [--upstream URL]`, identical
/// for every target.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "An mlapi-bench target server (see docs/contract.md)")]
pub struct Args {
    /// TCP port; 0 picks a free one (the `listening on` line says which).
    #[arg(long)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Request-processing threads (tokio workers; actix-web's HttpServer::workers).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// The gateway's upstream, an OpenAI-compatible server (`http://HOST:PORT`); without
    /// one, `POST /v1/chat/completions` answers 502.
    #[arg(long)]
    pub upstream: Option<gateway::Upstream>,
}

impl Args {
    pub fn parse_or_exit() -> Self {
        <Self as clap::Parser>::parse()
    }
}

/// Logs at `warn` unless `RUST_LOG` says otherwise; never access logs (no target adds any).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).init();
}

/// The listen backlog of every target, Rust and Python alike: uvicorn's and gunicorn's
/// default. Without it, `std::net::TcpListener::bind` would listen with 128, and a burst of
/// connections (the in-flight sweep opens up to 10,000 at once) would overflow the accept
/// queue of the Rust targets only, leaving handshakes to kernel retransmissions that last
/// seconds (docs/methodology.md).
pub const LISTEN_BACKLOG: i32 = 2048;

/// Binds the listening socket (non-blocking, ready for any runtime), with SO_REUSEADDR as
/// `std` sets it and [`LISTEN_BACKLOG`].
pub fn bind(args: &Args) -> anyhow::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = SocketAddr::new(args.bind, args.port);
    let err = |e: io::Error| anyhow::anyhow!("cannot bind {addr}: {e}");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    let listener: TcpListener = socket.into();
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Prints the one `listening on <ip>:<port>` line that launchers wait for.
pub fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    // A launcher that closed our stdout is not a reason to refuse traffic.
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The tokio runtime of the axum, poem and hyper servers: `workers` worker threads.
pub fn runtime(workers: u16) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(usize::from(workers)).enable_all().build()
}

/// The start of every target's `main`: parse the command line, set up logging, bind.
pub fn startup() -> anyhow::Result<(Args, TcpListener)> {
    let args = Args::parse_or_exit();
    init_logging();
    let listener = bind(&args)?;
    Ok((args, listener))
}

/// `main` of a tokio-based target (axum, poem, hyper): start up, build the runtime with
/// `--workers` threads, announce, and serve until a signal; `serve` also gets `--upstream`.
pub fn run_tokio_server<F, Fut>(serve: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio::net::TcpListener, Option<gateway::Upstream>) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    let (args, listener) = startup()?;
    runtime(args.workers)?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        announce(listener.local_addr()?);
        serve(listener, args.upstream).await?;
        anyhow::Ok(())
    })
}

/// Resolves when the server should begin its graceful shutdown.
pub type ShutdownSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs `server` until it finishes after a shutdown signal, but no longer than
/// [`GRACE_PERIOD`] after that signal: connections still open then are cut.
/// `server` must itself stop accepting when the [`ShutdownSignal`] it is given resolves.
pub async fn with_grace<Fut>(server: impl FnOnce(ShutdownSignal) -> Fut) -> io::Result<()>
where
    Fut: Future<Output = io::Result<()>>,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = server(Box::pin(async move {
        let _ = rx.await;
    }));
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => return r,
        _ = shutdown_signal() => { let _ = tx.send(()); }
    }
    match tokio::time::timeout(GRACE_PERIOD, run).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("grace period of {GRACE_PERIOD:?} over; closing remaining connections");
            Ok(())
        }
    }
}

/// The SSE body of `/v1/generate`: token i is yielded at t0 + (i + 1) × `token_delay_ms`
/// on the runtime's timer (never blocking a worker), t0 being the stream's first poll. The
/// schedule is absolute (docs/contract.md): tokio's timer fires on whole milliseconds, and
/// a relative sleep per token would add that rounding to every gap (a 20 ms delay measured
/// 21.1–21.2 ms), so a late token does not push back the ones after it. Dropping the
/// stream, which every framework does when the client goes away, stops generation.
pub fn token_stream(req: &GenerateRequest) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let delay = Duration::from_millis(req.token_delay_ms);
    let events = TokenEvents::new(req.seed, req.max_tokens);
    let state = (events, None::<tokio::time::Instant>, 0u32);
    futures_util::stream::unfold(state, move |(mut events, t0, sent)| async move {
        let t0 = t0.unwrap_or_else(tokio::time::Instant::now);
        let mut sent = sent;
        if events.next_is_token() {
            sent += 1;
            if !delay.is_zero() {
                tokio::time::sleep_until(t0 + delay * sent).await;
            }
        }
        events.next().map(|ev| (Ok(Bytes::from(ev)), (events, Some(t0), sent)))
    })
}

/// A CPU-bound job for a framework's blocking pool.
pub type BlockingJob = Box<dyn FnOnce() -> f64 + Send + 'static>;

/// The score of a checked infer request. io mode awaits a timer (a simulated remote model
/// call, never a sleeping thread); cpu mode hands the chained MLP passes to `blocking`, which
/// runs them on the framework's own blocking pool, never on an async worker.
pub async fn infer_score<B, Fut>(req: InferRequest, blocking: B) -> f64
where
    B: FnOnce(BlockingJob) -> Fut,
    Fut: Future<Output = f64>,
{
    // The io deadline is absolute from the handler's start (docs/contract.md): time spent
    // before the wait is part of the latency, not added to it.
    let t0 = tokio::time::Instant::now();
    match req.mode {
        InferMode::Io => {
            if req.latency_ms > 0 {
                tokio::time::sleep_until(t0 + Duration::from_millis(req.latency_ms)).await;
            }
            infer_io_score(&req)
        }
        InferMode::Cpu => blocking(Box::new(move || infer_cpu_score(&req))).await,
    }
}

/// tokio's blocking pool (`spawn_blocking`): the pool of axum, poem and hyper.
pub async fn tokio_blocking_pool(job: BlockingJob) -> f64 {
    tokio::task::spawn_blocking(job).await.expect("cpu inference panicked")
}
