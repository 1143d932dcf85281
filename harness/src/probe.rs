//! CPU-bound inference and the event-loop probe (docs/metrics.md, "Event-loop probe").
//!
//! The question: while a target runs CPU-heavy requests, does it still answer cheap ones
//! promptly? A closed-loop `infer-cpu` load runs at a fixed concurrency and, beside it, an
//! independent open-loop stream of `GET /health` at a low fixed rate. The probe's latency
//! percentiles under load, next to the same probe with no load, show whether CPU work blocks
//! the target's request handling (for Python targets: the GIL).
//!
//! `work` is calibrated once per run so that one request costs about `cpu_target_ms` of CPU.

use std::time::{Duration, Instant};

use crate::driver::{self, Arrival, LoadResult, LoadSpec, Mode, PayloadSet, Stop};

/// The probe's spec: open loop, constant rate, a small pool (it never needs many).
pub fn probe_spec(rate_rps: f64, warmup: Duration, duration: Duration, request_timeout: Duration) -> LoadSpec {
    LoadSpec {
        mode: Mode::Open { rate_rps, arrival: Arrival::Constant, max_connections: 16 },
        warmup,
        stop: Stop::Duration(duration),
        request_timeout,
    }
}

/// Runs `load` and the `/health` probe at `probe_rps` together, over the same warm-up and
/// window; returns (load, probe).
pub async fn run_with_probe(
    base_url: &str,
    load: PayloadSet,
    spec: LoadSpec,
    probe_rps: f64,
) -> anyhow::Result<(LoadResult, LoadResult)> {
    let Stop::Duration(duration) = spec.stop else {
        anyhow::bail!("the probe runs beside a load with a duration, not a count");
    };
    let probe = probe_spec(probe_rps, spec.warmup, duration, spec.request_timeout);
    let (l, p) = tokio::join!(driver::run(base_url, load, spec), driver::run(base_url, PayloadSet::health(), probe));
    Ok((l?, p?))
}

/// What the calibration found.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub work: u64,
    /// Measured CPU milliseconds of one model pass chain of `work = 1000`.
    pub ms_per_1000: f64,
}

/// The largest `work` the contract allows.
pub const MAX_WORK: u64 = 100_000;

/// Times the shared model function (`workloads::model::infer_cpu`, the code every Rust
/// target's handler runs on its blocking pool) on a thread pinned to `server_cpus`, and
/// scales `work` so that one request costs about `target_ms`. The median of 7 timings of
/// `work = 1000` is used.
pub fn calibrate(server_cpus: &[usize], target_ms: f64) -> anyhow::Result<Calibration> {
    let cpus = server_cpus.to_vec();
    let timings = std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
        crate::target::pin_current_thread(&cpus)?;
        let features = [0.25f64; workloads::model::FEATURES];
        // One untimed pass warms caches and the lazily built model.
        std::hint::black_box(workloads::model::infer_cpu(&features, 1000));
        Ok((0..7)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(workloads::model::infer_cpu(std::hint::black_box(&features), 1000));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("calibration thread panicked"))??;
    let ms_per_1000 = crate::stats::summarize(&timings).map(|s| s.median).unwrap_or(f64::NAN);
    anyhow::ensure!(ms_per_1000.is_finite() && ms_per_1000 > 0.0, "calibration timed {ms_per_1000} ms");
    let work = ((target_ms / ms_per_1000) * 1000.0).round().clamp(1.0, MAX_WORK as f64) as u64;
    Ok(Calibration { work, ms_per_1000 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_scales_work_to_the_target() {
        let cpus = crate::target::affinity(0);
        let c = calibrate(&cpus[..1], 2.0).unwrap();
        assert!((1..=MAX_WORK).contains(&c.work));
        // Check the scaling, not the machine: work × (ms per 1000 / 1000) ≈ target, up to rounding.
        let predicted = c.work as f64 * c.ms_per_1000 / 1000.0;
        assert!((predicted - 2.0).abs() < 0.05 || c.work == MAX_WORK || c.work == 1, "{c:?}");
    }
}
