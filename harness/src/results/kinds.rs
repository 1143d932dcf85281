//! The closed sets of values results.json records: workloads, point modes, flags and
//! target statuses. Each is an enum, so the compiler checks every use, and each is
//! (de)serialised under the spelling docs/results.md lists; any other value is refused
//! when a file is read.

use serde::{Deserialize, Serialize};

/// Declares [`Workload`]: one `Variant = "name"` per workload, in the order runs measure
/// them and reports show them.
macro_rules! workloads {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// The workloads. This is the one place a workload's name is spelled: its serde
        /// spelling, its `--workload` name and its place in every table come from here
        /// (its behaviour is in `harness/src/workload/`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Workload {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Workload {
            /// Every workload, in run and report order.
            pub const ALL: &'static [Workload] = &[$(Workload::$variant),*];

            /// The name results.json, `--workload` and the report use.
            pub fn name(self) -> &'static str {
                match self {
                    $(Workload::$variant => $name,)*
                }
            }
        }
    };
}

workloads! {
    Health = "health",
    Predict = "predict",
    Generate = "generate",
    InferIo = "infer-io",
    InferCpu = "infer-cpu",
    Mixed = "mixed",
    Chat = "chat",
}

impl Workload {
    /// The workload of this name, if any.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.iter().copied().find(|w| w.name() == name)
    }

    /// The API its requests speak: our contract, or OpenAI's chat completions (`chat`).
    pub fn api(self) -> Api {
        match self {
            Workload::Chat => Api::Openai,
            _ => Api::Contract,
        }
    }

    /// Whether targets speaking `api` serve it: its own API's, and `chat` on our contract's
    /// targets too (their gateway; docs/contract.md), though `--workload all` leaves it out
    /// for them (named, it runs: `--workload chat`).
    pub fn served_by(self, api: Api) -> bool {
        self.api() == api || (self == Workload::Chat && api == Api::Contract)
    }

    /// Every workload of `api`, in run and report order (`--workload all`).
    pub fn of_api(api: Api) -> Vec<Workload> {
        Workload::ALL.iter().copied().filter(|w| w.api() == api).collect()
    }
}

/// The API a target speaks (`--api`): our contract (docs/contract.md; every manifest target),
/// or OpenAI's `/v1/chat/completions` (an OpenAI-compatible server at `--url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    #[default]
    Contract,
    Openai,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Contract => "contract",
            Api::Openai => "openai",
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// How a point's load was offered: a fixed number of connections each sending its next
/// request when the last is answered, or requests on a schedule (docs/metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointMode {
    Closed,
    Open,
}

impl PointMode {
    pub fn name(self) -> &'static str {
        match self {
            PointMode::Closed => "closed",
            PointMode::Open => "open",
        }
    }
}

impl std::fmt::Display for PointMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Flag: the harness used more than this share of its CPUs.
pub const CLIENT_BOUND_SHARE: f64 = 0.85;

/// Flag `overloaded`: an open-loop window completed fewer than this share of the requests
/// it scheduled...
pub const OVERLOAD_COMPLETED_SHARE: f64 = 0.97;
/// ... or the p50 of its last third exceeded this many times its first third's.
pub const OVERLOAD_P50_GROWTH: f64 = 2.0;

/// Flag `client_lag`: an open-loop point's send-lag p99 (the driver's own delay) exceeds
/// this share of its latency p99 (each the highest percentile its samples give).
pub const CLIENT_LAG_SHARE: f64 = 0.10;

/// Flag `neighbour_cpu`: the other targets' idle servers, which share the server CPUs
/// during a workload, used more than this many cores in one of the point's windows.
pub const NEIGHBOUR_CPU_CORES: f64 = 0.02;

/// What qualifies a figure (docs/metrics.md, "Flags"): the first six and `client_lag` are
/// a point's (`analysis::flags`, `analysis::client_lag`); the others mark report cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Noisy,
    ClientBound,
    Errors,
    Dropped,
    SingleRun,
    Overloaded,
    ClientLag,
    NeighbourCpu,
    VerificationFailed,
    NotRobust,
    NotJudged,
    Skipped,
}

impl Flag {
    pub fn name(self) -> &'static str {
        match self {
            Flag::Noisy => "noisy",
            Flag::ClientBound => "client_bound",
            Flag::Errors => "errors",
            Flag::Dropped => "dropped",
            Flag::SingleRun => "single_run",
            Flag::Overloaded => "overloaded",
            Flag::ClientLag => "client_lag",
            Flag::NeighbourCpu => "neighbour_cpu",
            Flag::VerificationFailed => "verification_failed",
            Flag::NotRobust => "not_robust",
            Flag::NotJudged => "not_judged",
            Flag::Skipped => "skipped",
        }
    }

    /// What it means, for legends next to tables; the bounds are the ones the rules use.
    pub fn meaning(self) -> String {
        match self {
            Flag::Noisy => format!(
                "throughput varies by more than {:.0}% between repeats, or their p99 latencies by more than {}x: \
                 treat as uncertain",
                crate::stats::NOISY_CV * 100.0,
                crate::stats::NOISY_P99_RATIO
            ),
            Flag::ClientBound => format!(
                "the load driver used more than {:.0}% of its CPUs: the driver may have set the pace",
                CLIENT_BOUND_SHARE * 100.0
            ),
            Flag::Errors => "some requests failed or got an unexpected answer".into(),
            Flag::Dropped => "some open-loop requests were never sent: the offered rate was not delivered".into(),
            Flag::SingleRun => "one repeat only: no spread can be estimated".into(),
            Flag::Overloaded => format!(
                "the target did not keep up with the offered rate (a window completed under {:.0}% of the requests it \
                 scheduled, or its last third's p50 was over {}x its first third's): its latency is queue growth, not \
                 a percentile to compare",
                OVERLOAD_COMPLETED_SHARE * 100.0,
                OVERLOAD_P50_GROWTH
            ),
            Flag::ClientLag => format!(
                "the driver's own send lag (its p99, actual start − scheduled) exceeded {:.0}% of the latency p99: part \
                 of the latency may be the client's",
                CLIENT_LAG_SHARE * 100.0
            ),
            Flag::NeighbourCpu => format!(
                "the other targets' servers, up on the same CPUs, used more than {:.0}% of a core in one of its \
                 windows: they took CPU from this one",
                NEIGHBOUR_CPU_CORES * 100.0
            ),
            Flag::VerificationFailed => "the target failed the conformance corpus and was not measured".into(),
            Flag::NotRobust => "a robustness figure misses its bar (docs/metrics.md, \"Robustness\")".into(),
            Flag::NotJudged => format!(
                "fewer than {:.0}% of the streams were live at the drop: the disconnect figures judge nothing",
                super::MIN_ALIVE_SHARE * 100.0
            ),
            Flag::Skipped => "see docs/metrics.md".into(),
        }
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Where a target stands in a run (docs/results.md, "status").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetStatus {
    /// Being worked on (also what a run that died without a record leaves).
    #[default]
    Running,
    /// Every planned workload ran.
    Measured,
    /// It failed before its first point (build, start, readiness, verification).
    Skipped,
    /// It failed after some points, which are kept.
    Failed,
    /// A signal ended the run while it was being worked on; its completed points are kept.
    Interrupted,
    /// `harness verify`: it passed or failed the conformance corpus, and was not measured.
    Verified,
}

impl TargetStatus {
    pub fn name(self) -> &'static str {
        match self {
            TargetStatus::Running => "running",
            TargetStatus::Measured => "measured",
            TargetStatus::Skipped => "skipped",
            TargetStatus::Failed => "failed",
            TargetStatus::Interrupted => "interrupted",
            TargetStatus::Verified => "verified",
        }
    }
}

impl std::fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}
