//! Ctrl-C (SIGINT), SIGTERM and SIGHUP: stop every server this process started, then exit
//! with 130. Without this, a signal would end the harness and leave the servers to the
//! parent-death signal, which reaches direct children only (not, say, gunicorn's workers).
//!
//! The handler is installed once, at the start of a run, *before* goose (the `mixed`
//! workload) starts: goose tries to install its own Ctrl-C handler, whose second press calls
//! `process::exit` without stopping anything; the `ctrlc` crate allows one handler per
//! process, so goose's attempt fails harmlessly (it logs and carries on) and ours stays.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Servers running now (their root pids).
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Set by the handler before it stops anything: a server that the main thread starts while
/// the handler runs is killed as soon as it registers, so none is left behind by the exit.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Held from just before a server is forked until it is registered. The handler takes it
/// before stopping anything, so it never exits between a fork and its registration: an exit
/// there would leave the server's own children (a shell's background job, gunicorn's
/// workers) to no one, since the parent-death signal reaches the direct child only.
static SPAWNING: Mutex<()> = Mutex::new(());

/// Installs the handler; a second call (e.g. from tests running several plans in one
/// process) is a no-op.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ctrlc::set_handler(|| {
            eprintln!("harness: interrupted; stopping the servers");
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            // Wait for a spawn in progress to register its server; none starts after this.
            let _no_more_spawns = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
            stop_all(Duration::from_secs(3));
            std::process::exit(130);
        }) {
            eprintln!(
                "harness: warning: cannot install the Ctrl-C handler ({e}); an interrupt may leave servers behind"
            );
        }
    });
}

/// Whether a signal has started the shutdown (the main thread then ends with 130 too).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Permission to start a server: `None` once a signal has started the shutdown. Hold the
/// guard until the server is [`register`]ed.
pub fn spawn_guard() -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = SPAWNING.lock().unwrap_or_else(|e| e.into_inner());
    (!interrupted()).then_some(guard)
}

pub fn register(pid: i32) {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

pub fn unregister(pid: i32) {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != pid);
}

/// SIGTERM to every registered server and its descendants, SIGKILL to what is left after
/// `grace`.
pub fn stop_all(grace: Duration) {
    let roots: Vec<i32> = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tree: Vec<i32> = roots.iter().flat_map(|&p| crate::sampler::process_tree(p)).collect();
    for &p in &tree {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && tree.iter().any(|&p| kill(Pid::from_raw(p), None).is_ok() && !is_zombie(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &p in &tree {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    // Each server leads its own process group (target::spawn): this also reaches
    // descendants whose parent has already exited, which the tree walk cannot see. Servers
    // registered since the snapshot above are included.
    let roots: Vec<i32> = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter().chain(&roots).copied().collect();
    for &root in &roots {
        let _ = nix::sys::signal::killpg(Pid::from_raw(root), Signal::SIGKILL);
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}
