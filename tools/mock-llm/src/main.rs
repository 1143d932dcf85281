//! `mock-llm`: the mock model server as a process, for launchers and the gateway
//! workload. It prints one `listening on <addr>` line once it accepts connections and
//! serves on one thread until SIGTERM or SIGINT.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mock_llm::{Config, Fault, Stats, UsageMode};

/// An OpenAI-compatible mock chat server with an exact chunk schedule.
#[derive(Debug, Parser)]
#[command(name = "mock-llm", version)]
struct Args {
    /// TCP port; 0 picks a free one (the `listening on` line says which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Time to first output chunk, in ms (fractions allowed).
    #[arg(long = "ttft-ms", default_value = "60", value_parser = parse_ms)]
    ttft: Duration,
    /// Gap between output chunks, in ms (fractions allowed).
    #[arg(long = "itl-ms", default_value = "10", value_parser = parse_ms)]
    itl: Duration,
    /// Do not send the role-only chunk at t0.
    #[arg(long)]
    no_role_chunk: bool,
    /// Every Nth output chunk carries two tokens.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    two_token_every: Option<u32>,
    /// After every Nth output chunk, an extra `{"content":""}` chunk.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    empty_every: Option<u32>,
    /// After every Nth output chunk, an SSE `: ping` comment.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    ping_every: Option<u32>,
    /// The first N output chunks carry `reasoning_content`.
    #[arg(long, default_value_t = 0)]
    reasoning_chunks: u32,
    /// When streams carry the usage chunk: never, request (stream_options.include_usage) or always.
    #[arg(long, default_value = "request")]
    usage: UsageMode,
    /// Seed of the generated words.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Model name served by /v1/models and echoed when a request names none.
    #[arg(long, default_value = "mock-llm")]
    model: String,
    /// Tokens per answer when the request sets neither max_tokens nor max_completion_tokens.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    default_max_tokens: u64,
    /// Fault to inject: refuse, 500, cut:N, error:N or non-sse.
    #[arg(long)]
    fault: Option<Fault>,
    /// Inject the fault into every Nth valid chat request.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    fault_every: u32,
    /// Pace chunks with tokio's timer (up to about 1 ms late) instead of the precise timer thread.
    #[arg(long)]
    tokio_timer: bool,
}

fn parse_ms(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms >= 0.0 => Ok(Duration::from_secs_f64(ms / 1000.0)),
        _ => Err(format!("{s:?} is not a non-negative number of milliseconds")),
    }
}

impl Args {
    fn config(&self) -> Config {
        Config {
            ttft: self.ttft,
            itl: self.itl,
            role_chunk: !self.no_role_chunk,
            two_token_every: self.two_token_every,
            empty_every: self.empty_every,
            ping_every: self.ping_every,
            reasoning_chunks: self.reasoning_chunks,
            usage: self.usage,
            seed: self.seed,
            model: self.model.clone(),
            default_max_tokens: self.default_max_tokens,
            fault: self.fault,
            fault_every: self.fault_every,
            precise_timer: !self.tokio_timer,
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = mock_llm::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
        let listener = tokio::net::TcpListener::from_std(listener).context("cannot register the listener")?;
        let local = listener.local_addr().context("bound listener has no address")?;
        let mut out = std::io::stdout().lock();
        // A launcher that closed our stdout is not a reason to refuse traffic.
        let _ = writeln!(out, "listening on {local}").and_then(|()| out.flush());
        drop(out);
        let shutdown = async {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        mock_llm::serve(listener, args.config(), std::sync::Arc::new(Stats::default()), shutdown)
            .await
            .context("server failed")
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-llm: {e:#}");
            ExitCode::FAILURE
        }
    }
}
