//! A target's lifecycle: build, spawn pinned, wait for readiness, shut down. Children die
//! with the harness: PR_SET_PDEATHSIG covers a killed harness, the `Drop` guard covers
//! errors and panics.

// Errors carry their context (manifest, log, stderr tail); they are rare and cold, so their
// size does not matter.
#![allow(clippy::result_large_err)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::manifest::Manifest;

/// How long a target may take to answer its readiness path.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a target may take to exit after SIGTERM before it is killed (its own grace
/// period is 10 s).
pub const STOP_TIMEOUT: Duration = crate::interrupt::DEFAULT_GRACE;
/// Descriptors later workloads need (thousands of open streams and connections).
pub const WANT_NOFILE: u64 = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("build of {name} failed ({status}): `{command}`; see {log}")]
    Build { name: String, command: String, status: String, log: PathBuf },
    #[error("cannot start {name} with `{command}` (manifest {manifest}): {source}")]
    Spawn { name: String, command: String, manifest: PathBuf, source: std::io::Error },
    #[error(
        "{name}: the start command's program {program} does not exist (manifest {manifest}); build it, or fix `start`"
    )]
    MissingProgram { name: String, program: PathBuf, manifest: PathBuf },
    #[error(
        "{name} exited ({status}) before answering {path} (manifest {manifest}); its stderr ends: {tail}; see {stderr}"
    )]
    Exited { name: String, path: String, status: String, manifest: PathBuf, tail: String, stderr: PathBuf },
    #[error(
        "{name} did not answer {path} with 200 within {timeout:?} (port {port}, manifest {manifest}); see {stderr}"
    )]
    NotReady { name: String, path: String, timeout: Duration, port: u16, manifest: PathBuf, stderr: PathBuf },
    #[error("{name} exited mid-run ({status}); its stderr ends: {tail}; see {stderr}")]
    DiedMidRun { name: String, status: String, tail: String, stderr: PathBuf },
    #[error("{name}: stopped, the harness was interrupted")]
    Interrupted { name: String },
    #[error("cannot pin to CPUs {cpus:?}: {source}")]
    Pin { cpus: Vec<usize>, source: nix::Error },
}

/// Runs a manifest's build command from the workspace root, logging to `log`. Python
/// targets share one build: the pinned virtual environment (`python::ensure_venv`).
pub fn build(m: &Manifest, root: &Path, log: &Path) -> Result<(), TargetError> {
    let root = m.root.as_deref().unwrap_or(root);
    if crate::python::is_python(m) {
        return crate::python::ensure_venv(root, true).map(drop).map_err(|e| TargetError::Build {
            name: m.name.clone(),
            command: m.build.clone(),
            status: e.to_string(),
            log: crate::python::venv_path(root),
        });
    }
    let err = |status: String| TargetError::Build {
        name: m.name.clone(),
        command: m.build.clone(),
        status,
        log: log.to_path_buf(),
    };
    let out = File::create(log).map_err(|e| err(e.to_string()))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&m.build).current_dir(root).stdout(out.try_clone().map_err(|e| err(e.to_string()))?).stderr(out);
    // Its own process group, so that a signal to the harness (which stops the build) reaches
    // the compiler under the shell too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|e| err(e.to_string()))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| err(e.to_string()))? {
            break status;
        }
        if crate::interrupt::interrupted() {
            let _ = nix::sys::signal::killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            return Err(TargetError::Interrupted { name: m.name.clone() });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.success() { Ok(()) } else { Err(err(status.to_string())) }
}

fn cpuset(cpus: &[usize]) -> Result<CpuSet, TargetError> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c).map_err(|source| TargetError::Pin { cpus: cpus.to_vec(), source })?;
    }
    Ok(set)
}

/// A `SCHED_IDLE` spinner on each of some CPUs, until dropped: it keeps them out of their
/// idle states (waking an idle vCPU costs a VM tens to hundreds of µs) but runs only when
/// nothing else on that CPU wants to, so it takes no CPU time from a server there.
#[derive(Debug)]
pub struct KeepAwake {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Starts a [`KeepAwake`] spinner on each of `cpus`; an error when one cannot be pinned or
/// given `SCHED_IDLE` (set with util-linux's `chrt` by thread id, so no unsafe code here).
pub fn keep_awake(cpus: &[usize]) -> anyhow::Result<KeepAwake> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let mut awake = KeepAwake { stop: stop.clone(), threads: Vec::new() };
    for &cpu in cpus {
        let stop = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let t = std::thread::Builder::new().name(format!("keep-awake-{cpu}")).spawn(move || {
            let set = pin_current_thread(&[cpu]).map_err(|e| e.to_string()).and_then(|()| {
                let tid = nix::unistd::gettid().to_string();
                match Command::new("chrt").args(["--idle", "-p", "0", &tid]).output() {
                    Ok(o) if o.status.success() => Ok(()),
                    Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
                    Err(e) => Err(format!("chrt: {e}")),
                }
            });
            let ok = set.is_ok();
            let _ = ready_tx.send(set);
            while ok && !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })?;
        awake.threads.push(t);
        ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the spinner for CPU {cpu} died"))?
            .map_err(|e| anyhow::anyhow!("SCHED_IDLE spinner on CPU {cpu}: {e}"))?;
    }
    Ok(awake)
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Pins the calling thread (and what it spawns afterwards) to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), TargetError> {
    sched_setaffinity(Pid::from_raw(0), &cpuset(cpus)?)
        .map_err(|source| TargetError::Pin { cpus: cpus.to_vec(), source })
}

/// The CPUs the kernel actually lets `pid` (0: the calling thread) run on.
pub fn affinity(pid: i32) -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(pid)) {
        Ok(set) => (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Raises the soft RLIMIT_NOFILE (inherited by targets) towards [`WANT_NOFILE`]. Returns the
/// limit now in force and a warning when it is below what later workloads need.
pub fn raise_nofile() -> (u64, Option<String>) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (0, Some("cannot read RLIMIT_NOFILE".into()));
    };
    let want = WANT_NOFILE.min(hard);
    let now = if want > soft && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok() { want } else { soft };
    let warning = (now < 20_000)
        .then(|| format!("RLIMIT_NOFILE is {now} (hard limit {hard}); 20,000 are needed for the largest workloads"));
    (now, warning)
}

/// A free loopback port for a target (bound and released; the target binds it right after),
/// from below the kernel's ephemeral range and never the same twice in one process. A port
/// the kernel picked (`bind` to port 0) would be handed out again to the next `bind` to
/// port 0 or outgoing connection: the in-process mock model servers and the driver's own
/// sockets took a released target port before the target bound it ("Address already in
/// use", or a `/health` answered by the mock).
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    // Ports [10000, ephemeral_low): each process starts at its own offset, so two harnesses
    // side by side (tests) rarely try the same ports; a busy one is skipped.
    let base = 10_000u32;
    let span = ephemeral_low.saturating_sub(base).max(1);
    let offset = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span.min(4_096) {
        let port = base + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port as u16)) {
            return Ok(l.local_addr()?.port());
        }
    }
    // No free port there (a crowded or unusual range): the kernel's choice.
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running target. Dropping it stops it (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct Running {
    pub name: String,
    child: Option<Child>,
    pub pid: i32,
    pub port: u16,
    pub base_url: String,
    pub startup: Duration,
    /// CPUs the kernel gave the server process.
    pub server_affinity: Vec<usize>,
    pub stderr_log: PathBuf,
    /// The manifest it was started from, for error messages.
    pub manifest: PathBuf,
    /// How long [`Running::stop`] waits after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// The start's `{scratch}` directory, removed once the process tree is gone.
    scratch: Option<PathBuf>,
    /// The mock model server behind its gateway (`{upstream}`), stopped after the server.
    pub upstream: Option<crate::upstream::Upstream>,
}

/// The last lines of a log, on one line, for error messages ("(empty)" when there are none).
pub fn stderr_tail(path: &Path) -> String {
    const LINES: usize = 5;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // With RUST_BACKTRACE set, a Rust server's error is followed by its backtrace: keep the error.
    let text = text.split("tack backtrace:").next().unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(LINES)..].join(" | ");
    if tail.is_empty() { "(empty)".into() } else { tail.chars().take(600).collect() }
}

/// Spawns `m` on `port`, pinned to `server_cpus`, and waits until its readiness path answers
/// 200. The calling thread must be the harness's main thread (PR_SET_PDEATHSIG fires when
/// the *thread* that forked exits), and it returns pinned to `client_cpus`.
pub fn spawn(
    m: &Manifest,
    root: &Path,
    workers: usize,
    server_cpus: &[usize],
    client_cpus: &[usize],
    logs: &Path,
    ready_timeout: Duration,
) -> Result<Running, TargetError> {
    let root = m.root.as_deref().unwrap_or(root);
    let manifest = m.dir.join("framework.toml");
    let spawn_err = |command: &str, source| TargetError::Spawn {
        name: m.name.clone(),
        command: command.into(),
        manifest: manifest.clone(),
        source,
    };
    let port = free_port().map_err(|e| spawn_err(&m.start, e))?;
    // One directory per start: two instances never share one. In the temp dir, not beside
    // the logs: Ray puts AF_UNIX sockets (107-byte paths) two levels below it, which a run
    // directory's path leaves no room for.
    let scratch = m.needs_scratch().then(|| std::env::temp_dir().join(format!("mlapi-{}-{port}", std::process::id())));
    if let Some(dir) = &scratch {
        std::fs::create_dir_all(dir).map_err(|e| spawn_err(&m.start, e))?;
    }
    // The gateway's upstream, started on the client CPUs (this thread's, until the fork).
    let upstream = m.needs_upstream().then(crate::upstream::Upstream::start);
    let command = m.start_command(port, workers, scratch.as_deref(), upstream.as_ref().map(|u| u.url()).as_deref());
    // A program named by path must exist; `sh` would only say "not found" with status 127.
    if let Some(program) = command.split_whitespace().next().filter(|p| p.contains('/')) {
        let program = root.join(program);
        if !program.exists() {
            return Err(TargetError::MissingProgram { name: m.name.clone(), program, manifest });
        }
    }
    let spawn_err = |source| spawn_err(&command, source);
    let stdout_log = logs.join(format!("{}.stdout.log", m.name));
    let stderr_log = logs.join(format!("{}.stderr.log", m.name));
    let stdout = File::create(&stdout_log).map_err(spawn_err)?;
    let stderr = File::create(&stderr_log).map_err(spawn_err)?;

    // The child inherits the affinity of the thread that forks it.
    pin_current_thread(server_cpus)?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("exec {command}")).current_dir(root).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // Servers log at warn during runs unless the user asked for more.
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    set_parent_death_signal(&mut cmd);
    // Its own process group, so that `stop` reaches worker processes (gunicorn's, uvicorn's)
    // left behind by a server whose master has exited.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let Some(no_interrupt) = crate::interrupt::spawn_guard() else {
        pin_current_thread(client_cpus)?;
        return Err(TargetError::Interrupted { name: m.name.clone() });
    };
    let spawned = cmd.spawn();
    if let Ok(c) = &spawned {
        crate::interrupt::register(c.id() as i32);
    }
    drop(no_interrupt);
    pin_current_thread(client_cpus)?;
    let child = spawned.map_err(spawn_err)?;
    let pid = child.id() as i32;
    let mut running = Running {
        name: m.name.clone(),
        child: Some(child),
        pid,
        port,
        base_url: format!("http://127.0.0.1:{port}"),
        startup: Duration::ZERO,
        server_affinity: affinity(pid),
        stderr_log: stderr_log.clone(),
        manifest,
        stop_timeout: STOP_TIMEOUT,
        scratch,
        upstream,
    };
    running.startup = wait_ready(&mut running, &m.readiness_path, started, ready_timeout)?;
    Ok(running)
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2) and
    // getppid(2), which are async-signal-safe; it touches no memory shared with the parent.
    let parent = std::process::id();
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The parent may have died before prctl: then no signal will come. (No message:
            // allocating here is not async-signal-safe.)
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(nix::errno::Errno::ESRCH as i32));
            }
            Ok(())
        });
    }
}

/// How often readiness is polled, and so the resolution of the startup time (at 20 ms,
/// every Rust start read 21.7–25.4 ms). A refused connect on loopback costs microseconds.
pub const READY_POLL: Duration = Duration::from_millis(1);

/// Calls `step` every [`READY_POLL`] until it returns `Some`; `None` once `deadline` passed.
fn poll_until<T>(deadline: Instant, mut step: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(t) = step() {
            return Some(t);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(READY_POLL);
    }
}

/// Polls `GET path` until 200, the child exits, or the timeout passes.
fn wait_ready(r: &mut Running, path: &str, started: Instant, timeout: Duration) -> Result<Duration, TargetError> {
    let outcome = poll_until(started + timeout, || {
        if let Some(status) = r.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Some(Err(TargetError::Exited {
                name: r.name.clone(),
                path: path.into(),
                status: status.to_string(),
                manifest: r.manifest.clone(),
                tail: stderr_tail(&r.stderr_log),
                stderr: r.stderr_log.clone(),
            }));
        }
        if http_get_status(r.port, path) == Some(200) {
            return Some(Ok(started.elapsed()));
        }
        crate::interrupt::interrupted().then(|| Err(TargetError::Interrupted { name: r.name.clone() }))
    });
    outcome.unwrap_or_else(|| {
        Err(TargetError::NotReady {
            name: r.name.clone(),
            path: path.into(),
            timeout,
            port: r.port,
            manifest: r.manifest.clone(),
            stderr: r.stderr_log.clone(),
        })
    })
}

/// A blocking `GET` on loopback with a short timeout; the status, if any answer came.
pub fn http_get_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 16];
    s.read_exact(&mut head[..12]).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

impl Running {
    /// An error when the server has exited on its own (a crash, a `process::exit`).
    pub fn check_alive(&mut self) -> Result<(), TargetError> {
        match self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            None => Ok(()),
            Some(status) => Err(TargetError::DiedMidRun {
                name: self.name.clone(),
                status: status.to_string(),
                tail: stderr_tail(&self.stderr_log),
                stderr: self.stderr_log.clone(),
            }),
        }
    }

    /// SIGTERM, wait up to `stop_timeout` ([`STOP_TIMEOUT`] unless changed), then SIGKILL
    /// to what is left of the process tree and group. Returns how it ended, once no process
    /// of the tree is left (the tree is walked in `/proc` throughout: a child that leads a
    /// group or session of its own is not reached by the group kill).
    pub fn stop(&mut self) -> String {
        self.stop_with(Signal::SIGTERM)
    }

    /// [`Running::stop`] with `signal` first instead of SIGTERM (the contract's graceful
    /// shutdown holds for SIGINT too). Returns the exit status as `exit status: 0`, or how
    /// it was killed.
    pub fn stop_with(&mut self, signal: Signal) -> String {
        let ended = self.end(signal);
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        ended
    }

    /// The signal, then the wait: for the main process until `stop_timeout`, and after it
    /// exits, for every other process of the tree until the same deadline (a server whose
    /// children lead process groups of their own, such as Ray's actors, tears them down
    /// after its main process has gone); SIGKILL to whatever is left at the deadline.
    fn end(&mut self, signal: Signal) -> String {
        let Some(mut child) = self.child.take() else { return "already stopped".into() };
        // The server stays registered with the interrupt handler until its whole tree is
        // gone: a Ctrl-C during this wait must still reach it.
        let mut tree = crate::interrupt::Tree::of(self.pid);
        let _ = kill(Pid::from_raw(self.pid), signal);
        let stop_timeout = self.stop_timeout;
        let deadline = Instant::now() + stop_timeout;
        while Instant::now() < deadline {
            tree.refresh();
            if let Ok(Some(status)) = child.try_wait() {
                let rest_gone = tree.wait_gone(deadline);
                tree.kill(&[self.pid]);
                crate::interrupt::unregister(self.pid);
                return if rest_gone {
                    status.to_string()
                } else {
                    format!("{status}; its other processes killed after {stop_timeout:?}")
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tree.kill(&[self.pid]);
        let _ = child.kill();
        let _ = child.wait();
        crate::interrupt::unregister(self.pid);
        format!("killed after {stop_timeout:?} without exiting on {signal}")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The startup time is when readiness was seen, so its resolution is the poll period:
    /// a target ready 41 ms after the spawn read 60 ms with 20 ms polls.
    #[test]
    fn readiness_is_seen_within_a_few_milliseconds() {
        for ready_after_ms in [41u64, 7, 93] {
            let t0 = Instant::now();
            let ready_at = t0 + Duration::from_millis(ready_after_ms);
            let seen =
                poll_until(t0 + Duration::from_secs(2), || (Instant::now() >= ready_at).then(|| t0.elapsed())).unwrap();
            let late = seen.as_secs_f64() * 1e3 - ready_after_ms as f64;
            assert!((0.0..5.0).contains(&late), "ready at {ready_after_ms} ms, seen {late:.2} ms later");
        }
        assert!(poll_until(Instant::now() + Duration::from_millis(5), || None::<()>).is_none());
    }
}
