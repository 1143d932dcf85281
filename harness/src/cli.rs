//! The command line. `run` is the default when no subcommand is given.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::manifest;
use crate::plan::{RunConfig, TargetSource};
use crate::results::{Api, Workload};
use crate::workload::{Profile, ProfileName};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    about = "Build, verify and measure mlapi-bench targets",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, verify and measure (the default).
    Run(RunArgs),
    /// Run the conformance corpus against targets, without measuring.
    Verify(VerifyArgs),
    /// List the targets (every manifest under frameworks/).
    List,
    /// Split each framework's in-process predict cost into shared work and framework
    /// overhead, from `cargo bench -p benches` results.
    Decompose {
        /// criterion's output directory (default: target/criterion).
        #[arg(long)]
        criterion: Option<PathBuf>,
    },
    /// Write charts, index.html, report.md and results.csv into a run directory, from its
    /// results.json alone (a run does this by itself at the end).
    Report {
        /// The run directory (or its results.json).
        run_dir: PathBuf,
    },
    /// A/B on this machine: build the base revision in a worktree and the working tree, run
    /// both in interleaved rounds, compare them; exit 1 on a regression, 2 on unusable input.
    Ab {
        /// The base revision (a commit, branch or tag).
        #[arg(long)]
        base: String,
        /// Smallest change that can count, e.g. `10%`; it must also be beyond the repeats' CIs.
        #[arg(long, default_value = "10%", value_parser = crate::compare::parse_threshold)]
        threshold: f64,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Compare two runs point by point; exit 1 on a regression, 2 on unusable input.
    Compare {
        /// The baseline run directory (or results.json).
        base: PathBuf,
        /// The run to check against it.
        new: PathBuf,
        /// Smallest change that can count, e.g. `10%`; it must also be beyond the repeats' CIs.
        #[arg(long, default_value = "10%", value_parser = crate::compare::parse_threshold)]
        threshold: f64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// `all`, `rust` or `python` (every target of that language), or target names separated
    /// by commas (a target's name is its directory name).
    #[arg(long, default_value = "all")]
    pub framework: String,
    /// Measure an already-running service at this base URL instead (verified first).
    #[arg(long, conflicts_with = "framework")]
    pub url: Option<String>,
    /// Label for the --url target in results.
    #[arg(long, requires = "url", default_value = "url")]
    pub name: String,
    /// The API the --url target speaks: our contract, or OpenAI's chat completions
    /// (`openai`: verified by its OpenAI part only; the default workload is then `chat`).
    #[arg(long, value_enum, requires = "url", default_value_t = Api::Contract)]
    pub api: Api,
    /// With --api openai: the `model` of every request (default: the first of `/v1/models`).
    #[arg(long, requires = "url")]
    pub model: Option<String>,
    /// The --url server's process id: its process tree's CPU and memory are then sampled
    /// (it is not pinned by the harness; sharing the client CPUs flags `client_bound`).
    #[arg(long, requires = "url")]
    pub pid: Option<i32>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// `all`, or workloads separated by commas.
    #[arg(long, default_value = "all")]
    pub workload: String,
    #[arg(long, value_enum, default_value_t = ProfileName::Standard)]
    pub profile: ProfileName,
    /// Output directory (default: results/<UTC timestamp>-<git short sha>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// CPUs for the server, e.g. `0` or `0,2` or `0-3`.
    #[arg(long, default_value = "0")]
    pub server_cpus: String,
    /// CPUs for the load driver.
    #[arg(long, default_value = "1")]
    pub client_cpus: String,
    /// Server workers (default: the number of server CPUs).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Override the profile's repeats per point.
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Override the profile's measured window, in seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Service-level objectives, e.g. `chat.ttft=200ms,chat.tpot=50ms,predict.p99=10ms`
    /// (docs/metrics.md, "Objectives"): chat's goodput counts the requests meeting every
    /// `chat` one; a latency workload's points are judged on their percentiles.
    #[arg(long, value_parser = crate::slo::parse_list)]
    pub slo: Option<crate::slo::SloList>,
    /// Shape b of the open loop's Gamma-distributed gaps (1 = Poisson, below 1 burstier).
    #[arg(long, default_value_t = 1.0, value_parser = parse_burstiness)]
    pub burstiness: f64,
    /// Do not run the targets' build commands.
    #[arg(long)]
    pub no_build: bool,
    /// After verification, run the hostile corpus, slowloris and mid-stream disconnects
    /// against each target and record `robustness` (about 20 s per target).
    #[arg(long)]
    pub hostile: bool,
    /// Print the plan (every target, workload and point, with its warm-up, window and
    /// repeats, and what open-loop rates derive from) and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Measure even from a debug build of the harness (tests only; results say `debug`).
    #[arg(long, hide = true)]
    pub allow_debug_build: bool,
    /// Seconds a target may take to answer its readiness path after it is started.
    #[arg(long, default_value_t = crate::target::READY_TIMEOUT.as_secs_f64(), value_parser = parse_seconds)]
    pub ready_timeout: f64,
    /// Seconds a target may take to exit after SIGTERM before it is killed (SIGKILL).
    #[arg(long, default_value_t = crate::target::STOP_TIMEOUT.as_secs_f64(), value_parser = parse_seconds)]
    pub stop_timeout: f64,
    /// Seed of the rounds' order (default: a fresh one; results.json records it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue an interrupted or failed run in this directory, with the arguments it was
    /// started with: what it recorded is kept, the rest is run. Refused on another machine
    /// or other code (harness/, workloads/, frameworks/) unless --force.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// With --resume: continue despite a different machine or code, recording the difference.
    #[arg(long, requires = "resume")]
    pub force: bool,
}

fn parse_burstiness(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive Gamma shape (1 = Poisson, e.g. 0.5 for bursts)")),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (e.g. 12 or 0.5)")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    #[arg(long)]
    pub no_build: bool,
    /// Also run the hostile corpus, slowloris and mid-stream disconnects, and write the
    /// robustness table to results.json (docs/metrics.md, "Robustness").
    #[arg(long)]
    pub hostile: bool,
    /// With --hostile: skip slowloris and the disconnects (the corpus alone, in seconds).
    #[arg(long, requires = "hostile")]
    pub skip_slow_clients: bool,
    /// With --hostile: output directory (default: results/<UTC timestamp>-<git short sha>-hostile).
    #[arg(long, requires = "hostile")]
    pub out: Option<PathBuf>,
}

/// Input the user must fix (a command-line value, a manifest): printed on one line, exit
/// code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct BadInput(pub anyhow::Error);

/// `0`, `0,2`, `0-3`.
pub fn parse_cpus(spec: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
                anyhow::ensure!(a <= b, "bad CPU range {part:?}");
                out.extend(a..=b);
            }
            None => out.push(part.parse().with_context(|| format!("bad CPU {part:?}"))?),
        }
    }
    anyhow::ensure!(!out.is_empty(), "empty CPU list {spec:?}");
    Ok(out)
}

/// The workloads of `spec` for targets speaking `api`: `all` is every workload of that API.
fn parse_workloads(spec: &str, api: Api) -> anyhow::Result<Vec<Workload>> {
    if spec == "all" {
        return Ok(Workload::of_api(api));
    }
    spec.split(',')
        .map(|w| {
            let w = w.trim();
            let known = || Workload::of_api(api).iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
            let w = Workload::parse(w).with_context(|| format!("unknown workload {w:?} (known: {})", known()))?;
            anyhow::ensure!(
                w.served_by(api),
                "workload {w} speaks the {} API, the targets {} (with --api {}: {})",
                w.api().name(),
                api.name(),
                api.name(),
                known()
            );
            Ok(w)
        })
        .collect()
}

pub fn workspace_root() -> PathBuf {
    // The harness always runs from its workspace (cargo run), whose root holds frameworks/.
    let here = std::env::current_dir().unwrap_or_default();
    here.ancestors()
        .find(|d| d.join("frameworks").is_dir() && d.join("Cargo.toml").is_file())
        .unwrap_or(&here)
        .to_path_buf()
}

pub fn target_sources(root: &std::path::Path, t: &TargetArgs) -> anyhow::Result<Vec<TargetSource>> {
    if let Some(url) = &t.url {
        return Ok(vec![TargetSource::Url {
            name: t.name.clone(),
            base_url: url.trim_end_matches('/').to_owned(),
            api: t.api,
            pid: t.pid,
        }]);
    }
    let all = manifest::discover(root)?;
    let mut picked = manifest::select(&all, &t.framework)?;
    if t.framework == "all" {
        picked = crate::python::filter_all(picked, &mut |line| crate::errln!("{line}"));
    }
    Ok(picked.into_iter().map(TargetSource::Manifest).collect())
}

impl RunArgs {
    pub fn to_config(&self, root: PathBuf) -> anyhow::Result<RunConfig> {
        let mut profile = Profile::get(self.profile);
        profile.burstiness = self.burstiness;
        profile.slo = self.slo.clone().map(|s| s.0).unwrap_or_default();
        match (&self.targets.model, &self.targets.url) {
            (Some(m), _) => profile.workloads.chat.model = m.clone(),
            // Asked of the server only when it will be measured (not for --dry-run).
            (None, Some(url)) if self.targets.api == Api::Openai && !self.dry_run => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                profile.workloads.chat.model = rt.block_on(crate::workload::chat::first_model(url))?;
            }
            _ => {}
        }
        if let Some(r) = self.repeats {
            anyhow::ensure!(r >= 1, "--repeats must be at least 1");
            profile.repeats = r;
        }
        if let Some(d) = self.duration {
            anyhow::ensure!(d > 0.0, "--duration must be positive");
            profile.duration = Duration::from_secs_f64(d);
        }
        let out_dir = match &self.out {
            Some(o) => o.clone(),
            None => root.join("results").join(crate::env::run_id(&root)),
        };
        let server_cpus = parse_cpus(&self.server_cpus)?;
        let client_cpus = parse_cpus(&self.client_cpus)?;
        anyhow::ensure!(
            server_cpus.iter().all(|c| !client_cpus.contains(c)),
            "server CPUs {server_cpus:?} and client CPUs {client_cpus:?} overlap"
        );
        let workloads = parse_workloads(&self.workload, self.targets.api)?;
        let mut targets = target_sources(&root, &self.targets)?;
        // Gateways are measured beside their upstream asked straight, in the same rounds.
        if workloads.contains(&Workload::Chat) && targets.iter().any(|t| matches!(t, TargetSource::Manifest(_))) {
            targets.push(TargetSource::Upstream);
        }
        Ok(RunConfig {
            targets,
            workloads,
            profile,
            out_dir,
            server_cpus,
            client_cpus,
            workers: self.workers,
            build: !self.no_build,
            ready_timeout: Duration::from_secs_f64(self.ready_timeout),
            stop_timeout: Duration::from_secs_f64(self.stop_timeout),
            hostile: self.hostile,
            progress: true,
            cpu_work: None,
            seed: self.seed,
            invocation: None,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0").unwrap(), [0]);
        assert_eq!(parse_cpus("0,2").unwrap(), [0, 2]);
        assert_eq!(parse_cpus("1-3").unwrap(), [1, 2, 3]);
        assert!(parse_cpus("").is_err() && parse_cpus("3-1").is_err() && parse_cpus("x").is_err());
    }

    #[test]
    fn run_is_the_default_subcommand() {
        let cli = Cli::try_parse_from(["harness", "--framework", "hyper", "--profile", "quick"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.targets.framework, "hyper");
        assert_eq!(cli.run.profile, ProfileName::Quick);
        let cli = Cli::try_parse_from(["harness", "verify", "--url", "http://127.0.0.1:1"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Verify(_))));
    }
}
