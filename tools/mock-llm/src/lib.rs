//! mock-llm: an OpenAI-compatible chat server whose every chunk leaves on a known schedule.
//! It is the ground truth for the harness's `chat` workload (expected TTFT, ITL, TPOT and
//! E2EL follow from [`Config`]) and the upstream of the gateway workload. It shares a CPU
//! with the load generator, so it runs on one current-thread runtime and spends a timer
//! reset and a buffer copy per chunk. Tests run it in-process with [`spawn_on_thread`].

mod config;
mod content;
mod encode;
mod request;
mod routes;
mod stats;
mod stream;
mod timer;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::{Config, Fault, ParseError, UsageMode};
pub use stats::{Stats, StatsSnapshot};

/// This crate's version, as results record the mock they measured.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long open connections may finish after shutdown begins. Short: a mock being
/// stopped has no work worth waiting for, and streams still open then are cut.
const GRACE_PERIOD: Duration = Duration::from_secs(1);

/// The listen backlog of every mlapi-bench server (fw-common's `LISTEN_BACKLOG`): with
/// `std`'s 128, a burst of hundreds of stream connections would overflow the accept queue
/// and wait seconds for SYN retransmissions.
const LISTEN_BACKLOG: i32 = 2048;

/// Binds a non-blocking listener with SO_REUSEADDR and the workspace's backlog.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    let listener: std::net::TcpListener = socket.into();
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves until `shutdown` resolves, then lets open connections finish for up to
/// [`GRACE_PERIOD`]. Run it on a current-thread runtime: the mock is meant to use one CPU.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let shared = Arc::new(routes::Shared::new(config, stats));
    let http = http1::Builder::new();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // Every chunk must leave when it is due, not when Nagle allows.
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let service = service_fn(move |req| routes::route(req, shared.clone()));
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // Cut streams, refusals and vanished clients all end here as errors; none is
                    // the server's problem, and logging per connection would cost CPU.
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE_PERIOD, graceful.shutdown()).await;
    Ok(())
}

/// A server running on its own thread, from [`spawn_on_thread`]. Dropping it asks the
/// server to stop without waiting; [`Handle::stop`] waits.
#[derive(Debug)]
pub struct Handle {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Handle {
    /// Stops the server and waits for its thread (at most about [`GRACE_PERIOD`]).
    pub fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("mock-llm server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds 127.0.0.1:0 and serves `config` on a new thread with its own current-thread
/// runtime, for tests.
///
/// # Panics
/// If the port cannot be bound or the thread or runtime cannot be started.
pub fn spawn_on_thread(config: Config) -> Handle {
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("mock-llm: cannot bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("mock-llm: bound listener has no address");
    let stats = Arc::new(Stats::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let server_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name(format!("mock-llm-{}", addr.port()))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                serve(listener, config, server_stats, async {
                    let _ = stopped.await;
                })
                .await
            })
        })
        .expect("mock-llm: cannot start the server thread");
    Handle { addr, stats, stop: Some(stop), thread: Some(thread) }
}
