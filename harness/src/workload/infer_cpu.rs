//! `infer-cpu`: `POST /v1/infer` in cpu mode at each concurrency, with a `/health` probe
//! beside the load that shows whether CPU-bound work blocks the server's event loop; the
//! probe's idle baseline on the fresh server comes first.

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
}

pub fn settings(_p: ProfileName) -> Settings {
    Settings { concurrency: vec![1, 2, 8], cpu_target_ms: 10.0, probe_rps: 50.0 }
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.infer_cpu;
        let baseline = Window { warmup: p.warmup, duration: p.duration, repeats: p.repeats };
        let mut steps = vec![Step::ProbeBaseline { rate_rps: s.probe_rps, window: baseline }];
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
