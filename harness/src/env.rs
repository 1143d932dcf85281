//! The environment a run records: machine, kernel, toolchain, commit, pinning.

use std::path::Path;
use std::process::Command;

use crate::results::Environment;

fn first_line_of(cmd: &str, args: &[&str], dir: &Path) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Reads what can be read; unknown fields say `unknown` rather than failing the run.
pub fn capture(root: &Path) -> Environment {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_bytes = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let kernel = nix::sys::utsname::uname()
        .map(|u| format!("{} {}", u.sysname().to_string_lossy(), u.release().to_string_lossy()))
        .unwrap_or_else(|_| "unknown".into());
    let logical_cpus =
        std::thread::available_parallelism().map_or(0, |n| n.get()).max(cpuinfo.matches("processor\t").count());
    let mut warnings = Vec::new();
    // The CPU flags say whether a hypervisor is underneath; a virtual machine's host may be
    // shared with other tenants, which no reading here can rule out.
    if cpuinfo.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor")) {
        warnings.push(format!(
            "a virtual machine with {logical_cpus} logical CPUs (the CPU reports a hypervisor): its host may be shared, \
             so expect noise between runs; read the spread and the `noisy` flags"
        ));
    }
    Environment {
        cpu_model,
        logical_cpus,
        warnings,
        memory_bytes,
        kernel,
        rustc: first_line_of("rustc", &["-V"], root),
        git_commit: first_line_of("git", &["rev-parse", "--short", "HEAD"], root),
        git_dirty: Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(root)
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty()),
        harness_build: if cfg!(debug_assertions) { "debug".into() } else { "release".into() },
        numeric_env: numeric_env(),
        ..Environment::default()
    }
}

/// Variables that change how fast numpy's BLAS runs, and so the Python targets' infer-cpu
/// cost: set on some processors here (`OPENBLAS_CORETYPE`, `OPENBLAS_L2_SIZE`), or thread
/// counts. The servers inherit the harness's environment, so these are theirs too.
pub const NUMERIC_ENV: [&str; 5] =
    ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"];

fn numeric_env() -> std::collections::BTreeMap<String, Option<String>> {
    NUMERIC_ENV.iter().map(|k| ((*k).to_owned(), std::env::var(k).ok())).collect()
}

/// Versions of packages from Cargo.lock, by name.
pub fn locked_version(root: &Path, package: &str) -> Option<String> {
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(root.join("Cargo.lock")).ok()?).ok()?;
    lock.get("package")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(package))
        .and_then(|p| p.get("version")?.as_str().map(str::to_owned))
}

/// `results/<UTC timestamp>-<git short sha>`.
pub fn run_id(root: &Path) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .unwrap_or_else(|_| "unknown-time".into());
    format!("{stamp}-{}", first_line_of("git", &["rev-parse", "--short", "HEAD"], root))
}

pub use crate::results::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_from_the_lock_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(locked_version(root, "axum").is_some_and(|v| v.starts_with("0.8")));
        assert!(locked_version(root, "no-such-package").is_none());
        let env = capture(root);
        assert!(env.logical_cpus >= 1 && env.memory_bytes > 0);
    }
}
