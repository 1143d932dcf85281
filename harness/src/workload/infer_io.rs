//! `infer-io`: `POST /v1/infer` in io mode, each request held `latency_ms` by the server,
//! closed-loop at each number in flight; each point gets its in-flight efficiency.

use serde::Serialize;

use super::{Profile, ProfileName, Spec, Step};
use crate::driver::PayloadSet;
use crate::results::{Point, PointMode};

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// In-flight requests (closed loop: one request in flight per connection).
    #[serde(rename = "inflight_connections")]
    pub connections: Vec<usize>,
    /// `latency_ms` of every request.
    #[serde(rename = "inflight_latency_ms")]
    pub latency_ms: u64,
}

pub fn settings(p: ProfileName) -> Settings {
    match p {
        ProfileName::Quick => Settings { connections: vec![10, 100], latency_ms: 200 },
        ProfileName::Standard => Settings { connections: vec![10, 100, 1000], latency_ms: 1000 },
        ProfileName::Full => Settings { connections: vec![10, 100, 1000, 10_000], latency_ms: 1000 },
    }
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        super::closed(self, p, &p.workloads.infer_io.connections, None)
    }

    fn payloads(&self, p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        Some(PayloadSet::infer_io(p.workloads.infer_io.latency_ms))
    }

    fn derive(&self, p: &Profile, point: &mut Point) {
        if point.mode == PointMode::Closed {
            let s = &point.summary;
            let i = crate::analysis::inflight_summary(
                p.workloads.infer_io.latency_ms,
                point.connections,
                s.throughput_rps.median,
                s.latency_us,
                s.overhead_us,
            );
            point.summary.inflight = Some(i);
        }
    }
}
