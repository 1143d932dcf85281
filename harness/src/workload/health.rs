//! `health`: `GET /health` in a closed loop, the framework's floor cost per request.

use serde::Serialize;

use super::{Profile, ProfileName, Spec, Step};
use crate::driver::PayloadSet;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Closed-loop connection counts.
    #[serde(rename = "health_connections")]
    pub connections: Vec<usize>,
}

pub fn settings(p: ProfileName) -> Settings {
    Settings {
        connections: match p {
            ProfileName::Quick | ProfileName::Standard => vec![64],
            ProfileName::Full => vec![16, 64, 256],
        },
    }
}

#[derive(Debug)]
pub struct Def;

impl Spec for Def {
    fn steps(&self, p: &Profile) -> Vec<Step> {
        super::closed(self, p, &p.workloads.health.connections, None)
    }

    fn payloads(&self, _p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        Some(PayloadSet::health())
    }
}
