//! mlapi-bench's harness: builds, verifies and measures every target over HTTP only (it
//! never links a framework crate), then writes versioned results.
//!
//! Layers: `cli` → `run` (the plan) → `target` (build, spawn, readiness, shutdown) →
//! `verify` → `driver` (load) + `sampler` (server and client resources) → `stats` →
//! `results`.

pub mod ab;
pub mod analysis;
pub mod cli;
pub mod compare;
pub mod console;
pub mod cost;
/// The load driver allocates per request inside hyper; mimalloc makes that cheaper, which
/// keeps the client off the critical path (docs/methodology.md, "Driver versus wrk"). It is
/// the harness's allocator only: every target keeps the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod decompose;
pub mod driver;
pub mod env;
pub mod hostile;
pub mod interrupt;
pub mod journal;
pub mod manifest;
pub mod openai;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod python;
pub mod report;
pub mod results;
pub mod run;
pub mod sampler;
pub mod slo;
pub mod stats;
pub mod table;
pub mod target;
pub mod upstream;
pub mod workload;

use std::process::ExitCode;

/// The binary's logic, callable in-process. After a signal (once the handler is installed)
/// every command ends the same way: what is left of its servers stopped, exit status 130.
pub fn main(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let outcome = dispatch(cli);
    if interrupt::claim() {
        interrupt::stop_all(interrupt::grace());
        return Ok(ExitCode::from(130));
    }
    outcome
}

fn dispatch(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let root = cli::workspace_root();
    match cli.command {
        Some(cli::Command::List) => {
            for m in manifest::discover(&root).map_err(|e| cli::BadInput(e.into()))? {
                crate::outln!("{:<14} {:<7} {:<24} {}", m.name, m.language, m.display_name, m.server_setup);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(cli::Command::Verify(v)) => verify(&root, &v),
        Some(cli::Command::Decompose { criterion }) => {
            let dir = criterion.unwrap_or_else(|| root.join("target/criterion"));
            crate::out!("{}", decompose::table(&dir)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(cli::Command::Run(args)) => measure(root, &args),
        Some(cli::Command::Report { run_dir }) => report_cmd(&run_dir),
        Some(cli::Command::Compare { base, new, threshold }) => compare_cmd(&base, &new, threshold),
        Some(cli::Command::Ab { base, threshold, run }) => ab_cmd(root, &base, threshold, &run),
        None => measure(root, &cli.run),
    }
}

fn measure(root: std::path::PathBuf, args: &cli::RunArgs) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        // Nothing is measured, so a debug build may print the plan.
        let cfg = args.to_config(root).map_err(cli::BadInput)?;
        crate::out!("{}", plan::build(&cfg).render());
        return Ok(ExitCode::SUCCESS);
    }
    if cfg!(debug_assertions) && !args.allow_debug_build {
        return rerun_in_release();
    }
    let (cfg, prior) = match &args.resume {
        Some(dir) => {
            let (cfg, journal) = resume_config(&root, dir, args.force)?;
            (cfg, Some(journal))
        }
        None => {
            let mut cfg = args.to_config(root.clone()).map_err(cli::BadInput)?;
            cfg.invocation = Some(results::Invocation {
                args: std::env::args().skip(1).collect(),
                machine: env::machine_id(),
                code: env::code_id(&root),
            });
            (cfg, None)
        }
    };
    interrupt::install();
    crate::errln!("harness: results go to {}", cfg.out_dir.display());
    let results = run::execute_from(&cfg, prior);
    // A signal: `execute` recorded it in results.json and stopped its server (or, when it
    // could not get there within a second, the watchdog does both and exits with 130, so
    // `claim` does not return); `main` stops whatever else is registered and exits 130.
    if interrupt::claim() {
        crate::errln!(
            "harness: interrupted; the completed points are in {} (the run is marked interrupted)",
            cfg.out_dir.join("results.json").display()
        );
        return Ok(ExitCode::from(130));
    }
    let results = results?;
    crate::out!("{}", table::render(&results));
    crate::outln!("results: {}", cfg.out_dir.join("results.json").display());
    // The report reads results.json only; a failure here must not lose the run.
    match report::generate(&cfg.out_dir) {
        Ok(w) => crate::outln!("report:  {}", w.index.display()),
        Err(e) => crate::errln!(
            "harness: the report failed ({e:#}); the results are safe, retry with `harness report {}`",
            cfg.out_dir.display()
        ),
    }
    let skipped = results.targets.iter().filter(|t| t.status != crate::results::TargetStatus::Measured).count();
    Ok(if skipped == 0 { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

/// `harness run --resume DIR`: the configuration the run in `DIR` was started with (its
/// recorded command line, with `DIR` as the output), and its journal, reopened. Refused,
/// saying what differs, on another machine or other code unless `force`; a forced resume
/// records the differences.
fn resume_config(
    root: &std::path::Path,
    dir: &std::path::Path,
    force: bool,
) -> anyhow::Result<(plan::RunConfig, journal::Journal)> {
    use clap::Parser;
    let mut journal = journal::Journal::reopen(dir).map_err(cli::BadInput)?;
    let inv = journal.results().invocation.clone().ok_or_else(|| {
        cli::BadInput(anyhow::anyhow!(
            "{} records no invocation (a run from before --resume existed, or one started in-process): it cannot be resumed",
            dir.display()
        ))
    })?;
    anyhow::ensure!(
        journal.results().finished_at.is_none()
            || journal
                .results()
                .targets
                .iter()
                .any(|t| t.status != results::TargetStatus::Measured && t.status != results::TargetStatus::Skipped),
        cli::BadInput(anyhow::anyhow!(
            "{} finished with every target measured: there is nothing to resume",
            dir.display()
        ))
    );
    let parsed = cli::Cli::try_parse_from(std::iter::once("harness".to_owned()).chain(inv.args.iter().cloned()))
        .map_err(|e| cli::BadInput(anyhow::anyhow!("the recorded command line no longer parses: {e}")))?;
    let mut args = match parsed.command {
        Some(cli::Command::Run(a)) => a,
        _ => parsed.run,
    };
    args.out = Some(dir.to_path_buf());
    args.resume = None;
    let mut cfg = args.to_config(root.to_path_buf()).map_err(cli::BadInput)?;
    let differences = env::differences(&inv, &env::machine_id(), &env::code_id(root));
    if !differences.is_empty() && !force {
        return Err(cli::BadInput(anyhow::anyhow!(
            "refusing to resume {}: {} (--force resumes anyway and records the difference)",
            dir.display(),
            differences.join("; ")
        ))
        .into());
    }
    let r = journal.results_mut();
    let after = r.interrupted.take();
    r.finished_at = None;
    r.resumes.push(results::Resumed { at: results::now_rfc3339(), after, forced_differences: differences });
    cfg.invocation = Some(inv);
    Ok((cfg, journal))
}

/// A debug driver would measure itself, so `run` never measures from a debug build: under
/// cargo it re-runs itself with `--release` (same arguments), otherwise it refuses.
fn rerun_in_release() -> anyhow::Result<ExitCode> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        anyhow::bail!(
            "this is a debug build of the harness, whose load driver would measure itself; \
             run `cargo run --release -p harness -- …` instead"
        );
    };
    crate::errln!(
        "harness: debug build detected; re-running as `cargo run --release -p harness` so the driver is optimised"
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["run", "--release", "-p", "harness", "--"]).args(&args);
    let status = wait_as_a_wrapper(cmd)?;
    // As a shell reports it: a child killed by signal N ends with 128 + N.
    let code = status.code().or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + s));
    Ok(ExitCode::from(code.unwrap_or(1).clamp(0, 255) as u8))
}

/// Runs `cmd` and waits for it, transparent to signals. Ctrl-C and a closed terminal reach
/// the whole foreground job, so the child gets them itself: this process ignores SIGINT and
/// SIGHUP (the child gets the defaults back) and waits for the child's own orderly exit. A
/// SIGTERM sent to this process alone reaches the child as its parent-death signal.
#[allow(unsafe_code)]
fn wait_as_a_wrapper(mut cmd: std::process::Command) -> std::io::Result<std::process::ExitStatus> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    use std::os::unix::process::CommandExt;
    // SAFETY: SIG_IGN and SIG_DFL install no handler code; signal(2) and prctl(2) are
    // async-signal-safe, and the pre_exec closure touches no memory shared with the parent.
    unsafe {
        signal(Signal::SIGINT, SigHandler::SigIgn).map_err(std::io::Error::from)?;
        signal(Signal::SIGHUP, SigHandler::SigIgn).map_err(std::io::Error::from)?;
        cmd.pre_exec(|| {
            signal(Signal::SIGINT, SigHandler::SigDfl).map_err(std::io::Error::from)?;
            signal(Signal::SIGHUP, SigHandler::SigDfl).map_err(std::io::Error::from)?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
    cmd.status()
}

fn verify(root: &std::path::Path, v: &cli::VerifyArgs) -> anyhow::Result<ExitCode> {
    let sources = cli::target_sources(root, &v.targets).map_err(cli::BadInput)?;
    // Spawning and readiness stop at a signal; elsewhere (the corpus, the hostile checks)
    // the watchdog stops the servers and exits 130 a second after it.
    interrupt::install();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let logs = std::env::temp_dir().join(format!("mlapi-bench-verify-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let mut all_ok = true;
    let mut hostile_run = if v.hostile {
        let (nofile, warning) = target::raise_nofile();
        if let Some(w) = warning {
            crate::errln!("harness: warning: {w}");
        }
        let out_dir = match &v.out {
            Some(o) => o.clone(),
            None => root.join("results").join(format!("{}-hostile", env::run_id(root))),
        };
        let mut options = hostile::Options::default();
        if v.skip_slow_clients {
            options.slowloris = None;
            options.disconnect = None;
        }
        Some(hostile::VerifyRun::start(root, out_dir, nofile, options)?)
    } else {
        None
    };
    for source in sources {
        let (name, running, url) = match &source {
            plan::TargetSource::Url { name, base_url, api: results::Api::Openai, .. } => {
                let model = match &v.targets.model {
                    Some(m) => m.clone(),
                    None => rt.block_on(workload::chat::first_model(base_url))?,
                };
                let r = rt.block_on(workload::chat::verify(base_url, &model))?;
                if r.passed {
                    crate::outln!("{name}: the OpenAI part passed ({} checks, model {model})", r.cases);
                } else {
                    all_ok = false;
                    for f in &r.failures {
                        crate::outln!("{name}: {}: {}", f.case, f.reasons.join("; "));
                    }
                }
                anyhow::ensure!(!v.hostile, "--hostile checks our contract; it does not apply to --api openai");
                continue;
            }
            plan::TargetSource::Url { name, base_url, .. } => (name.clone(), None, base_url.clone()),
            // `harness verify` names targets; `run` adds this one beside gateways.
            plan::TargetSource::Upstream => continue,
            plan::TargetSource::Manifest(m) => {
                if !v.no_build {
                    target::build(m, root, &logs.join(format!("{}.build.log", m.name)))?;
                }
                // No pinning for a verification: keep whatever CPUs we have.
                let cpus = target::affinity(0);
                let r = target::spawn(m, root, 1, &cpus, &cpus, &logs, target::READY_TIMEOUT)?;
                let url = r.base_url.clone();
                (m.name.clone(), Some(r), url)
            }
        };
        let upstream = running.as_ref().and_then(|r| r.upstream.as_ref());
        let spawned = running.is_some();
        let verification = rt.block_on(workload::gateway::verify_contract(&url, upstream, spawned))?;
        if verification.passed {
            crate::outln!("{name}: all {} cases passed", verification.cases);
        } else {
            all_ok = false;
            let failures: Vec<String> = verification
                .failures
                .iter()
                .map(|f| format!("  {}:\n    {}", f.case, f.reasons.join("\n    ")))
                .collect();
            crate::outln!(
                "{name}: {} of {} cases failed:\n{}",
                verification.failures.len(),
                verification.cases,
                failures.join("\n")
            );
        }
        if !verification.not_judged.is_empty() {
            crate::outln!(
                "{name}: {} upstream-fault cases not judged (the upstream of a --url target is not ours to fault)",
                verification.not_judged.len()
            );
        }
        if let Some(h) = hostile_run.as_mut() {
            all_ok &= verify_hostile(h, &source, root, &url, running.as_ref(), verification)?;
        }
    }
    if let Some(h) = hostile_run {
        crate::out!("{}", h.table());
        crate::outln!("results: {}", h.out_dir.join("results.json").display());
        // The report reads results.json only; a failure here must not lose the run.
        match report::generate(&h.out_dir) {
            Ok(w) => crate::outln!("report:  {}", w.index.display()),
            Err(e) => {
                crate::errln!("harness: warning: the report could not be written ({e:#}); results.json is intact")
            }
        }
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `verify --hostile` for one target: the robustness checks on its instance, printed and
/// recorded beside its `verification`; `false` when it is not robust.
fn verify_hostile(
    h: &mut hostile::VerifyRun,
    source: &plan::TargetSource,
    root: &std::path::Path,
    url: &str,
    running: Option<&target::Running>,
    verification: results::Verification,
) -> anyhow::Result<bool> {
    let name = match source {
        plan::TargetSource::Url { name, .. } => name.as_str(),
        plan::TargetSource::Manifest(m) => m.name.as_str(),
        plan::TargetSource::Upstream => plan::UPSTREAM_DIRECT,
    };
    let mut ok = true;
    let r = hostile::measure(url, running.map(|r| r.pid), running.map(|r| r.stderr_log.as_path()), &h.options)?;
    let verdict = r.verdict();
    for finding in r.slow_client_findings() {
        crate::outln!("{name}: slow clients: {finding}");
    }
    if verdict.is_empty() {
        crate::outln!("{name}: robust: all {} hostile cases passed, no 5xx, no crash", r.cases);
    } else {
        ok = false;
        crate::outln!("{name}: not robust: {}", verdict.join("; "));
        for f in &r.failures {
            crate::outln!("  {}: {}", f.case, f.reasons.join("; "));
        }
    }
    h.record(source, root, verification, r)?;
    Ok(ok)
}

/// `harness report`: an unreadable or foreign results file is bad input (exit 2).
fn report_cmd(run_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    match report::generate(run_dir) {
        Ok(w) => {
            crate::outln!("report: {}", w.index.display());
            if !w.charts_not_measured.is_empty() {
                crate::outln!("charts not measured in this run: {}", w.charts_not_measured.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.downcast_ref::<report::LoadError>().is_some() => {
            crate::errln!("harness report: {e:#}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
    }
}

/// `harness compare`: 0 no regression, 1 regression, 2 unusable input.
/// `harness ab`: the joint run, then each side's results.json (`<out>/base`,
/// `<out>/change`) and the comparison (`<out>/compare.md`).
fn ab_cmd(root: std::path::PathBuf, rev: &str, threshold: f64, args: &cli::RunArgs) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) && !args.allow_debug_build {
        return rerun_in_release();
    }
    anyhow::ensure!(args.resume.is_none(), cli::BadInput(anyhow::anyhow!("harness ab does not resume")));
    let base_root = ab::worktree(&root, rev).map_err(cli::BadInput)?;
    let mut args = args.clone();
    if args.out.is_none() {
        args.out = Some(root.join("results").join(format!("{}-ab", env::run_id(&root))));
    }
    let change = args.to_config(root.clone()).map_err(cli::BadInput)?;
    let mut cfg = ab::joint_config(change, &base_root).map_err(cli::BadInput)?;
    cfg.invocation = Some(results::Invocation {
        args: std::env::args().skip(1).collect(),
        machine: env::machine_id(),
        code: env::code_id(&root),
    });
    interrupt::install();
    crate::errln!(
        "harness ab: base {rev} in {}, change = the working tree; results go to {}",
        base_root.display(),
        cfg.out_dir.display()
    );
    let joint = run::execute(&cfg);
    if interrupt::claim() {
        return Ok(ExitCode::from(130));
    }
    let joint = joint?;
    let mut paths = Vec::new();
    for (suffix, dir) in [(ab::BASE, "base"), (ab::CHANGE, "change")] {
        let dir = cfg.out_dir.join(dir);
        std::fs::create_dir_all(&dir)?;
        results::write_atomic(&dir, &ab::side(&joint, suffix))?;
        paths.push(dir);
    }
    compare_and_report(&paths[0], &paths[1], threshold, Some(&cfg.out_dir.join("compare.md")))
}

fn compare_cmd(base: &std::path::Path, new: &std::path::Path, threshold: f64) -> anyhow::Result<ExitCode> {
    compare_and_report(base, new, threshold, None)
}

/// Compares once, prints the table (and writes it to `copy`, if given), and returns the
/// gate's exit status.
fn compare_and_report(
    base: &std::path::Path,
    new: &std::path::Path,
    threshold: f64,
    copy: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    match compare::compare_paths(base, new, threshold) {
        Ok(c) => {
            let table = compare::to_markdown(&c);
            if let Some(path) = copy {
                let _ = std::fs::write(path, &table);
            }
            crate::out!("{table}");
            if c.regressions() > 0 && c.machines_differ {
                crate::outln!(
                    "\n**Not gated:** the runs come from different machines, so a difference may be the machine's. \
                     Take the baseline from a run on this machine to gate on it."
                );
            }
            Ok(if c.gate_fails() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Err(e) => {
            crate::errln!("harness compare: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod layering {
    //! The harness's modules depend on each other one way only (docs/architecture.md): a
    //! cycle between top-level modules fails here, naming it.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Top-level module → the top-level modules its production code names (`crate::x`).
    fn graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let module_of = |p: &Path| {
            let rel = p.strip_prefix(&src).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            first.trim_end_matches(".rs").to_owned()
        };
        let modules: BTreeSet<String> =
            files.iter().map(|p| module_of(p)).filter(|m| m != "lib" && m != "main").collect();
        let mut g: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
        for f in &files {
            let m = module_of(f);
            if !modules.contains(&m) {
                continue;
            }
            let text = std::fs::read_to_string(f).unwrap();
            // Production code only: unit tests sit after `#[cfg(test)]` and may reach anywhere.
            let code = text.split("\n#[cfg(test)]").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String =
                    code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if name != m && modules.contains(&name) {
                    g.get_mut(&m).unwrap().insert(name);
                }
            }
            // `use crate::{a, b}` groups.
            for (i, _) in code.match_indices("crate::{") {
                let group = &code[i + 8..code[i..].find('}').map_or(code.len(), |j| i + j)];
                for name in group.split(',').map(|s| s.trim().split("::").next().unwrap_or_default()) {
                    if name != m && modules.contains(name) {
                        g.get_mut(&m).unwrap().insert(name.to_owned());
                    }
                }
            }
        }
        g
    }

    fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|p| p == n) {
                let mut c = path[at..].to_vec();
                c.push(n.to_owned());
                return Some(c);
            }
            if done.contains(n) {
                return None;
            }
            path.push(n.to_owned());
            for d in &g[n] {
                if let Some(c) = visit(d, g, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(n.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        g.keys().find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
    }

    #[test]
    fn no_import_cycle_between_top_level_modules() {
        let g = graph();
        assert!(g.len() > 20, "the module scan found too little: {g:?}");
        assert!(g["run"].contains("plan") && g["report"].contains("results"), "the scan misses edges: {g:?}");
        if let Some(c) = cycle(&g) {
            panic!("import cycle: {}", c.join(" -> "));
        }
    }

    #[test]
    fn the_cycle_finder_finds_one() {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
            g.entry(a.into()).or_default().insert(b.into());
            g.entry(b.into()).or_default();
        }
        g.entry("d".into()).or_default();
        assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
        g.get_mut("c").unwrap().clear();
        assert!(cycle(&g).is_none());
    }
}
