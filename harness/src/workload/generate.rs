//! `generate`: SSE token streams from `POST /v1/generate`, closed-loop at each number of
//! concurrent streams, then optionally open-loop stream arrivals.

use std::time::Duration;

use serde::Serialize;

use super::{Profile, ProfileName, Rate, Spec, Step, Window};
use crate::driver::PayloadSet;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Concurrent SSE streams (closed loop: a new stream starts as one ends).
    #[serde(rename = "generate_streams")]
    pub streams: Vec<usize>,
    #[serde(rename = "generate_max_tokens")]
    pub max_tokens: u64,
    #[serde(rename = "generate_token_delay_ms")]
    pub token_delay_ms: u64,
    /// Optional open-loop stream-arrival rate (streams/s), in addition to the closed-loop
    /// points; `None` runs none.
    #[serde(rename = "generate_arrival_rps")]
    pub arrival_rps: Option<f64>,
}

pub fn settings(p: ProfileName) -> Settings {
    // quick streams 32 tokens (0.64 s), so that its window holds three streams per
    // connection and its warm-up covers the phase alignment within the quick budget.
    let (streams, max_tokens, arrival_rps) = match p {
        ProfileName::Quick => (vec![50], 32, None),
        ProfileName::Standard => (vec![100, 1000], 64, Some(50.0)),
        ProfileName::Full => (vec![100, 1000, 5000], 64, Some(50.0)),
    };
    Settings { streams, max_tokens, token_delay_ms: 20, arrival_rps }
}

/// One stream's duration by construction: its tokens' delays.
pub fn stream_time(s: &Settings) -> Duration {
    Duration::from_millis(s.max_tokens * s.token_delay_ms)
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        let s = &p.workloads.generate;
        let window = Window::of(self, p);
        let mut steps = super::closed(self, p, &s.streams, None);
        steps.extend(s.arrival_rps.map(|r| super::open(p, Rate::StreamArrivals(r), window)));
        steps
    }

    fn payloads(&self, p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        let s = &p.workloads.generate;
        Some(PayloadSet::generate(s.max_tokens, s.token_delay_ms))
    }
}
