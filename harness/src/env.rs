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

/// What `--resume` compares: the machine a run was started on.
pub fn machine_id() -> crate::results::MachineId {
    let env = capture_machine();
    crate::results::MachineId {
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default(),
        cpu_model: env.0,
        logical_cpus: env.1,
        kernel: env.2,
        cpu_set: crate::target::affinity(0),
    }
}

fn capture_machine() -> (String, usize, String) {
    let e = capture(Path::new("."));
    (e.cpu_model, e.logical_cpus, e.kernel)
}

/// What `--resume` compares: the code a run was started from, the commit and a hash of
/// every change to it under `harness/`, `workloads/` and `frameworks/` (untracked files
/// included).
pub fn code_id(root: &Path) -> crate::results::CodeId {
    const DIRS: [&str; 3] = ["harness", "workloads", "frameworks"];
    let git = |args: &[&str]| -> Vec<u8> {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or_else(Vec::new, |o| o.stdout)
    };
    let mut diff = git(&[&["diff", "HEAD", "--"][..], &DIRS[..]].concat());
    let untracked = git(&[&["ls-files", "--others", "--exclude-standard", "--"][..], &DIRS[..]].concat());
    for file in String::from_utf8_lossy(&untracked).lines() {
        diff.extend_from_slice(file.as_bytes());
        diff.extend(std::fs::read(root.join(file)).unwrap_or_default());
    }
    // FNV-1a: a stable hash (std's is not promised to be across Rust releases).
    let hash = diff.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    crate::results::CodeId {
        git_commit: first_line_of("git", &["rev-parse", "HEAD"], root),
        diff_hash: if diff.is_empty() { String::new() } else { format!("{hash:016x}") },
    }
}

/// What differs between the machine and code a run was started on and now, one line each.
pub fn differences(
    then: &crate::results::Invocation,
    machine: &crate::results::MachineId,
    code: &crate::results::CodeId,
) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&then.machine, machine);
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} then, {y} now"));
        }
    };
    differ("hostname", a.hostname.clone(), b.hostname.clone());
    differ("CPU model", a.cpu_model.clone(), b.cpu_model.clone());
    differ("logical CPUs", a.logical_cpus.to_string(), b.logical_cpus.to_string());
    differ("kernel", a.kernel.clone(), b.kernel.clone());
    differ("CPU set", format!("{:?}", a.cpu_set), format!("{:?}", b.cpu_set));
    differ("commit", then.code.git_commit.clone(), code.git_commit.clone());
    let tree = |h: &str| if h.is_empty() { "a clean tree".to_owned() } else { format!("changes {h}") };
    differ("harness/, workloads/, frameworks/", tree(&then.code.diff_hash), tree(&code.diff_hash));
    out
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
