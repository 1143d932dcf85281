//! The gateway's upstream: an in-process `tools/mock-llm` on the calling thread's CPUs (the
//! client's: the mock, the driver and the sampler share them, and their sum is what
//! `client_bound` judges). One per target instance, so that its counters are that
//! target's alone; `upstream-direct` is one measured as a target of its own.

use mock_llm::{Config, Handle, StatsSnapshot};
use workloads::conformance::{GATEWAY_MOCK_ITL_MS, GATEWAY_MOCK_TTFT_MS, MOCK_DEFAULT_MAX_TOKENS};

/// The schedule every gateway measurement and check runs against (docs/methodology.md,
/// "The gateway's upstream"): tokens 20 ms apart after 50 ms, one per chunk.
pub fn config() -> Config {
    Config {
        ttft: std::time::Duration::from_millis(GATEWAY_MOCK_TTFT_MS),
        itl: std::time::Duration::from_millis(GATEWAY_MOCK_ITL_MS),
        default_max_tokens: MOCK_DEFAULT_MAX_TOKENS,
        ..Config::default()
    }
}

/// A running mock. Dropping it stops it.
#[derive(Debug)]
pub struct Upstream {
    handle: Handle,
}

impl Upstream {
    /// Starts one on a thread of its own, with the CPUs of the calling thread.
    pub fn start() -> Self {
        Upstream { handle: mock_llm::spawn_on_thread(config()) }
    }

    /// Its base URL (`http://127.0.0.1:PORT`), what `{upstream}` becomes.
    pub fn url(&self) -> String {
        format!("http://{}", self.handle.addr)
    }

    /// Its counters now: requests received, streams open, completed and cancelled.
    pub fn stats(&self) -> StatsSnapshot {
        self.handle.stats.snapshot()
    }
}
