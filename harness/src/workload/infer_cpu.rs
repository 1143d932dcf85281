//! `infer-cpu`: `POST /v1/infer` in cpu mode at each concurrency, with a `/health` probe
//! beside the load that shows whether CPU-bound work blocks the server's event loop. On the
//! fresh server, `work` is first calibrated to this target's own CPU per request, then the
//! probe's idle baseline is taken.

use std::time::Duration;

use serde::Serialize;

use super::{Profile, ProfileName, Spec, Step, Window};
use crate::driver::PayloadSet;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Concurrency levels.
    #[serde(rename = "cpu_concurrency")]
    pub concurrency: Vec<usize>,
    /// What one request should cost on the server CPU; `work` is calibrated to it.
    pub cpu_target_ms: f64,
    /// Open-loop rate of the `/health` probe beside the CPU load, req/s.
    pub probe_rps: f64,
    /// The per-target calibration of `work` (docs/metrics.md, "Event-loop probe").
    #[serde(flatten)]
    pub calibration: Calibration,
}

/// How `work` is calibrated on each target: closed-loop trials at concurrency 1, each
/// measuring the server's CPU per request, scaling `work` by target ÷ measured, until a
/// trial lands within `tolerance` of `cpu_target_ms` or `max_trials` have run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    #[serde(rename = "cpu_calibration_tolerance")]
    pub tolerance: f64,
    #[serde(rename = "cpu_calibration_max_trials")]
    pub max_trials: usize,
    #[serde(rename = "cpu_calibration_warmup_s", with = "super::secs")]
    pub warmup: Duration,
    #[serde(rename = "cpu_calibration_window_s", with = "super::secs")]
    pub window: Duration,
}

pub fn settings(_p: ProfileName) -> Settings {
    Settings {
        concurrency: vec![1, 2, 8],
        cpu_target_ms: 10.0,
        probe_rps: 50.0,
        // 0.5 s holds about 50 requests of 10 ms (a count within 2%); the first trial, at
        // the seed `work`, may cost 10x that on a Python target and only gives the scale.
        calibration: Calibration {
            tolerance: 0.10,
            max_trials: 3,
            warmup: Duration::from_millis(150),
            window: Duration::from_millis(500),
        },
    }
}

/// The warm-up of every idle-baseline window after the first: the server is warm, the
/// probe's fresh connections are not.
pub const REWARM: Duration = Duration::from_millis(100);

/// What the idle baselines take: the first warm-up, `duration` for each of the two, and a
/// short warm-up before every other window.
pub fn baseline_time(window: &Window) -> Duration {
    let windows = 2 * window.repeats.max(1) as u32;
    window.warmup + 2 * window.duration + REWARM * (windows - 1)
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.infer_cpu;
        // Plain and awake baselines in `repeats` rounds, `duration` each in all (run.rs,
        // `probe_baseline`).
        let baseline = Window { warmup: p.warmup, duration: p.duration, repeats: p.repeats };
        let mut steps = vec![
            Step::CalibrateWork { target_ms: s.cpu_target_ms, calibration: s.calibration },
            Step::ProbeBaseline { rate_rps: s.probe_rps, window: baseline },
        ];
        steps.extend(super::closed(self, p, &s.concurrency, Some(s.probe_rps)));
        steps
    }

    fn payloads(&self, _p: &Profile, cpu_work: Option<u64>) -> Option<PayloadSet> {
        Some(PayloadSet::infer_cpu(cpu_work?))
    }

    fn needs_cpu_work(&self) -> bool {
        true
    }
}
