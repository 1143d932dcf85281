//! The workloads: one file each, and [`registry!`] below, the one list of them.
//!
//! A workload's file owns everything that is only its own: its settings under every
//! profile preset ([`Settings`] composes them into the profile), its payloads, its point
//! plan, and the figures it derives from a measured point ([`Spec`]). Its identity (name,
//! serde spelling, report order) is [`Workload`], the schema's enum in `results`; the
//! compiler holds the two together, since the registry's match must cover every variant.
//! Adding a workload: its file here, its line in `registry!`, its variant in `Workload`
//! (docs/architecture.md, "Add a workload").

use std::time::Duration;

use serde::Serialize;

use crate::driver::{Arrival, Mode, PayloadSet};
use crate::results::Point;
pub use crate::results::Workload;

pub mod gateway;
pub mod profile;
pub use profile::{Profile, ProfileName};

/// A request not answered within this is a `timeout` error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The seed of predict's payload mix and of every Poisson schedule.
pub const SEED: u64 = 0x5EED;

/// What the orchestrator asks of a workload; each file implements it on its `Def`.
pub trait Spec: Sync {
    /// Its steps under profile `p`, in the order they run on one fresh server.
    fn steps(&self, p: &Profile) -> Vec<Step>;
    /// The requests its points cycle through; `None` for a workload that drives its own
    /// traffic (mixed), or one whose payloads need infer-cpu's `work` when that is unknown.
    fn payloads(&self, _p: &Profile, _cpu_work: Option<u64>) -> Option<PayloadSet> {
        None
    }
    /// Its own figures, derived from a measured closed-loop point (infer-io's in-flight
    /// efficiency).
    fn derive(&self, _p: &Profile, _point: &mut Point) {}
    /// It needs a seed `work`, calibrated once per run (infer-cpu).
    fn needs_cpu_work(&self) -> bool {
        false
    }
}

/// The registry: `Variant => module`, one line per workload, in [`Workload::ALL`]'s order.
macro_rules! registry {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every workload's settings under one profile preset; flattened into the profile,
        /// so results.json records them under their own keys (`health_connections`, ...).
        #[derive(Debug, Clone, Serialize)]
        pub struct Settings {
            $(#[serde(flatten)] pub $module: $module::Settings,)*
        }

        impl Settings {
            /// Each workload's settings under preset `p`.
            pub fn of(p: ProfileName) -> Self {
                Settings { $($module: $module::settings(p),)* }
            }
        }

        /// The definition of workload `w`.
        pub fn spec(w: Workload) -> &'static dyn Spec {
            match w {
                $(Workload::$variant => &$module::Def,)*
            }
        }
    };
}

registry! {
    Health => health,
    Predict => predict,
    Generate => generate,
    InferIo => infer_io,
    InferCpu => infer_cpu,
    Mixed => mixed,
    Chat => chat,
}

#[derive(Debug, Clone)]
pub enum Step {
    /// A measured point: `repeats` windows, each after its own warm-up.
    Point(PointPlan),
    /// infer-cpu: `work` chosen on the fresh server so that one request costs `target_ms`
    /// of its CPU (trials at concurrency 1, from the run's seed `work`).
    CalibrateWork { target_ms: f64, calibration: infer_cpu::Calibration },
    /// infer-cpu: the `/health` probe alone on the fresh server, its idle baseline.
    ProbeBaseline { rate_rps: f64, window: Window },
    /// mixed: one goose run.
    Goose { users: usize, duration: Duration },
}

/// Warm-up, measured window and repeats of a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub warmup: Duration,
    pub duration: Duration,
    pub repeats: usize,
}

impl Window {
    /// The profile's window for a workload whose one exchange lasts at least `floor` (a
    /// stream's token delays, an io request's latency): warm up for at least one exchange
    /// and measure for at least two, so the window sees steady state.
    pub fn covering(p: &Profile, floor: Duration) -> Window {
        Window { warmup: p.warmup.max(floor), duration: p.duration.max(2 * floor), repeats: p.repeats }
    }

    /// The window of a workload under `p`: covering its payloads' exchange floor (which
    /// does not depend on infer-cpu's `work`).
    fn of(spec: &dyn Spec, p: &Profile) -> Window {
        Window::covering(p, floor(spec, p))
    }

    /// This window for a closed-loop point of `connections` whose exchanges last at least
    /// `floor`: the warm-up also covers the connections' ramp and their phase alignment
    /// (the first exchange, then a wait of under one more; `driver`'s `closed`), with 10%
    /// to spare for the server's own time, so the window starts when the plan says.
    pub fn for_closed(self, floor: Duration, connections: usize) -> Window {
        if floor.is_zero() {
            return self;
        }
        let aligned = crate::driver::RAMP_STEP * connections as u32 + floor.mul_f64(2.2);
        Window { warmup: self.warmup.max(aligned), ..self }
    }
}

/// The shortest exchange of a workload's payloads under `p` (zero without payloads).
fn floor(spec: &dyn Spec, p: &Profile) -> Duration {
    spec.payloads(p, Some(1)).map_or(Duration::ZERO, |s| s.exchange_floor)
}

impl Window {}

#[derive(Debug, Clone, PartialEq)]
pub struct PointPlan {
    pub mode: PlannedMode,
    pub window: Window,
    /// A `/health` probe at this rate beside the load (infer-cpu).
    pub probe_rps: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlannedMode {
    Closed { connections: usize },
    Open { rate: Rate, max_connections: usize, arrival: Arrival },
}

/// How an open-loop rate is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// The same rate for every target, so latencies compare directly.
    Absolute(f64),
    /// This fraction of the highest median throughput among the workload's closed-loop
    /// points on this target, measured earlier in the plan.
    OfClosedMax(f64),
    /// Stream arrivals per second (generate).
    StreamArrivals(f64),
}

impl Rate {
    /// The rate in req/s and its `rate_basis` as results.json records it; `closed_max` is
    /// the highest closed-loop median measured so far (needed by [`Rate::OfClosedMax`]).
    pub fn resolve(self, closed_max: Option<f64>) -> anyhow::Result<(f64, String)> {
        Ok(match self {
            Rate::Absolute(r) => (r, "absolute".to_owned()),
            Rate::StreamArrivals(r) => (r, "stream arrivals".to_owned()),
            Rate::OfClosedMax(f) => {
                let max = closed_max
                    .ok_or_else(|| anyhow::anyhow!("no closed-loop predict point to take the maximum from"))?;
                (f * max, format!("{f} x max ({max:.0} req/s)"))
            }
        })
    }
}

impl PlannedMode {
    /// The driver's mode, once the rate is known.
    pub fn to_mode(self, rate_rps: Option<f64>) -> Mode {
        match self {
            PlannedMode::Closed { connections } => Mode::Closed { connections },
            PlannedMode::Open { max_connections, arrival, .. } => {
                Mode::Open { rate_rps: rate_rps.unwrap_or(0.0), arrival, max_connections }
            }
        }
    }
}

/// Closed-loop points of `spec` at each of `connections`, each in the workload's window
/// made to cover its alignment ([`Window::for_closed`]), with an optional probe.
fn closed(spec: &dyn Spec, p: &Profile, connections: &[usize], probe_rps: Option<f64>) -> Vec<Step> {
    let (window, floor) = (Window::of(spec, p), floor(spec, p));
    connections
        .iter()
        .map(|&connections| {
            let window = window.for_closed(floor, connections);
            Step::Point(PointPlan { mode: PlannedMode::Closed { connections }, window, probe_rps })
        })
        .collect()
}

/// An open-loop point at `rate`, bounded by the profile's connection pool.
fn open(p: &Profile, rate: Rate, window: Window) -> Step {
    Step::Point(PointPlan {
        mode: PlannedMode::Open { rate, max_connections: p.open_max_connections, arrival: p.arrival() },
        window,
        probe_rps: None,
    })
}

/// Serialises a duration as seconds (f64), as results.json's profile records it.
mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
