//! Profiles: whole, documented presets of durations, warm-ups, repeats and load points
//! (docs/methodology.md, "Profiles"). Command-line flags may override single fields.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileName {
    /// CI smoke: every Rust target and workload in under 5 minutes, excluding build.
    Quick,
    /// The default.
    Standard,
    /// Long publication runs.
    Full,
}

/// Everything a profile fixes.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: ProfileName,
    /// Load before each measured window, not recorded.
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// Length of each measured window.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Measured windows per point.
    pub repeats: usize,
    /// Closed-loop connection counts for `health`.
    pub health_connections: Vec<usize>,
    /// Closed-loop connection counts for `predict`.
    pub predict_connections: Vec<usize>,
    /// Open-loop rates as fractions of the target's own closed-loop maximum for `predict`.
    pub open_fractions: Vec<f64>,
    /// Open-loop rates (req/s) common to every target, so latencies compare directly.
    pub open_absolute_rps: Vec<f64>,
    /// Upper bound of the open-loop connection pool.
    pub open_max_connections: usize,
    /// Concurrent SSE streams for `generate` (closed loop: a new stream starts as one ends).
    pub generate_streams: Vec<usize>,
    pub generate_max_tokens: u64,
    pub generate_token_delay_ms: u64,
    /// Optional open-loop stream-arrival rate (streams/s) for `generate`, in addition to the
    /// closed-loop points; `None` runs none.
    pub generate_arrival_rps: Option<f64>,
    /// In-flight requests for `infer-io` (closed loop: one request in flight per connection).
    pub inflight_connections: Vec<usize>,
    /// `latency_ms` of every `infer-io` request.
    pub inflight_latency_ms: u64,
    /// Concurrency levels for `infer-cpu`.
    pub cpu_concurrency: Vec<usize>,
    /// What one `infer-cpu` request should cost on the server CPU; `work` is calibrated to it.
    pub cpu_target_ms: f64,
    /// Open-loop rate of the `/health` probe beside the CPU load, req/s.
    pub probe_rps: f64,
    /// goose users for `mixed`.
    pub mixed_users: usize,
    /// goose's measured run time for `mixed` (after all users started).
    #[serde(with = "secs")]
    pub mixed_duration: Duration,
    /// Cold starts per target for the startup time (median reported).
    pub startup_runs: usize,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Profile {
    pub fn get(name: ProfileName) -> Self {
        match name {
            ProfileName::Quick => Profile {
                name,
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs(2),
                repeats: 2,
                health_connections: vec![64],
                predict_connections: vec![64],
                open_fractions: vec![0.5],
                open_absolute_rps: vec![2_000.0],
                open_max_connections: 256,
                generate_streams: vec![50],
                generate_max_tokens: 64,
                generate_token_delay_ms: 20,
                generate_arrival_rps: None,
                inflight_connections: vec![10, 100],
                inflight_latency_ms: 200,
                cpu_concurrency: vec![1, 2, 8],
                cpu_target_ms: 10.0,
                probe_rps: 50.0,
                mixed_users: 32,
                mixed_duration: Duration::from_secs(4),
                startup_runs: 3,
            },
            ProfileName::Standard => Profile {
                name,
                warmup: Duration::from_secs(2),
                duration: Duration::from_secs(10),
                repeats: 3,
                health_connections: vec![64],
                predict_connections: vec![16, 64, 256],
                open_fractions: vec![0.25, 0.5, 0.75],
                open_absolute_rps: vec![10_000.0],
                open_max_connections: 512,
                generate_streams: vec![100, 1000],
                generate_max_tokens: 64,
                generate_token_delay_ms: 20,
                generate_arrival_rps: Some(50.0),
                inflight_connections: vec![10, 100, 1000],
                inflight_latency_ms: 1000,
                cpu_concurrency: vec![1, 2, 8],
                cpu_target_ms: 10.0,
                probe_rps: 50.0,
                mixed_users: 128,
                mixed_duration: Duration::from_secs(20),
                startup_runs: 3,
            },
            ProfileName::Full => Profile {
                name,
                warmup: Duration::from_secs(5),
                duration: Duration::from_secs(30),
                repeats: 5,
                health_connections: vec![16, 64, 256],
                predict_connections: vec![1, 16, 64, 256, 1024],
                open_fractions: vec![0.1, 0.25, 0.5, 0.75, 0.9],
                open_absolute_rps: vec![2_000.0, 10_000.0],
                open_max_connections: 2048,
                generate_streams: vec![100, 1000, 5000],
                generate_max_tokens: 64,
                generate_token_delay_ms: 20,
                generate_arrival_rps: Some(50.0),
                inflight_connections: vec![10, 100, 1000, 10_000],
                inflight_latency_ms: 1000,
                cpu_concurrency: vec![1, 2, 8],
                cpu_target_ms: 10.0,
                probe_rps: 50.0,
                mixed_users: 256,
                mixed_duration: Duration::from_secs(60),
                startup_runs: 3,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// quick must stay under 5 minutes for 4 targets: points × repeats × (warm-up + window).
    #[test]
    fn quick_fits_in_five_minutes_for_four_targets() {
        let p = Profile::get(ProfileName::Quick);
        let window = |floor: f64| {
            // As `run::measure`: warm-up ≥ one exchange, window ≥ two.
            (p.warmup.as_secs_f64().max(floor) + p.duration.as_secs_f64().max(2.0 * floor)) * p.repeats as f64
        };
        let plain = window(0.0);
        let stream = window((p.generate_max_tokens * p.generate_token_delay_ms) as f64 / 1e3);
        let io = window(p.inflight_latency_ms as f64 / 1e3);
        let per_target = (p.health_connections.len()
            + p.predict_connections.len()
            + p.open_fractions.len()
            + p.open_absolute_rps.len()) as f64
            * plain
            + p.generate_streams.len() as f64 * stream
            + p.generate_arrival_rps.map_or(0.0, |_| stream)
            + p.inflight_connections.len() as f64 * io
            // infer-cpu: the probe's idle baseline, then one point per level.
            + (1 + p.cpu_concurrency.len()) as f64 * plain
            // mixed: about 2 s of ramp-up, then the run.
            + 2.0 + p.mixed_duration.as_secs_f64();
        // 10 s per target for start-ups (one per workload), verification and shutdowns
        // (measured: a quick run of the four Rust targets with every workload took 281 s,
        // about 5 s per target above the windows).
        let total = 4.0 * (per_target + 10.0);
        assert!(total < 300.0, "quick would take {total} s");
    }
}
